"""Simulation and scoring: synthetic recordings with their truth, scores, evaluation.

* :mod:`.scenarios`: the named velocity waveforms, each with its physiology.
* :mod:`.signals`: blood speckle, wall clutter, mains hum and the channel layouts.
* :mod:`.synth`: a scenario synthesised with its truth, and written to a file.
* :mod:`.degrade`: real-world degradations of a recording (coloured noise, a recorder's
  band and rate, resampling, tones, clicks), written into its truth.
* :mod:`.score`: an analysis scored against a truth.
* :mod:`.evaluate` and :mod:`.aggregate`: every scenario across SNR, layouts and seeds,
  pooled and checked against the accuracy targets; :mod:`.degraded`: the same under each
  degradation.
"""
