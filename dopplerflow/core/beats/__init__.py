"""Beat by beat: heart rate, systolic onsets and peaks, and the pulsatility indices.

A row stage.  :class:`BeatTracker` takes the final stored rows (float32 ``(n, 6)``,
:mod:`~dopplerflow.core.rows`: per direction fmax, fmean and flow power) in stream
order and finds the beats of the heart in them, on three signals at once:

=========  ===========================================================
channel    signal
=========  ===========================================================
0          maximum frequency of the toward direction (the max envelope)
1          maximum frequency of the away direction
2          band power over the noise level, in dB (whether flow is
           detected or not: :func:`~dopplerflow.core.envelopes.band_power`)
=========  ===========================================================

For each channel:

1. **Drive.**  The signal is averaged over 30 ms steps, its slow baseline (an
   exponential mean, 0.5 s) is taken off and it is divided by its running rms
   (4 s): a unit-free pulse that breathing and gain changes do not move.
2. **Period.**  A short-term autocorrelation of the drive (exponential forgetting,
   3 s; Hoang et al. 2023 found 2 s the least for post-dive precordial Doppler) is
   kept for lags of 0.25-2 s (240-30 beats/min).  Every 0.25 s its peak with the
   highest sum of height and prominence gives the beat period ``T`` (a slow drift
   lifts every short lag, not the period's peak); a peak near ``T/2`` or ``T/3``
   scoring 90 % as much is taken instead, so a pulse is not counted one beat in
   two.  The peak's height (0-1) is the channel's *periodicity*.
3. **Beats.**  Beats are chosen by dynamic programming (Ellis 2007): the chain
   of steps that maximises the drive at the beats (up to 3 rms) minus ``ALPHA *
   log(RR / T)**2`` for each interval.  A missed beat (no pulse where one is due)
   costs the double interval's penalty, so a beat is placed where it was due; a
   knock between two beats gains less than the two halved intervals cost; an
   ectopic beat with a clear pulse is kept with its short and long intervals.  The
   chain is decided one beat at a time, once the drive is known ``HORIZON``
   periods past the last beat: a live display sees each beat about 2.5 periods
   after it, and the result does not depend on the blocks.
4. **Onset.**  At the full row rate, the beat is placed on the highest smoothed
   signal near the chosen step, and its onset at the foot of the upstroke before
   it: where the tangent at the steepest rise meets the lowest level before it
   (the intersecting-tangent method of pulse-wave analysis).  A beat placed
   without a pulse keeps the usual lead of onset to peak.

Each beat, from its onset to the next, is measured on the velocity envelopes for
either antegrade direction (with ``antegrade='auto'`` it is decided at the end):
PSV, EDV, TAMV, TAV, the peak's time, forward and reverse velocity-time integrals
and the number of flow phases.  :func:`beat_result` picks the channel (the max
envelope of the antegrade direction, or the power where that is clearly more
periodic), flags the clean beats and sums the recording up.  Memory is a ring of
the last ``RING_S`` seconds of rows and the list of beats.

=================  =================================================================
module             holds
=================  =================================================================
``constants``      every setting of the stage, and the named slots of the kernels'
                   records, state and parameters
``tracker``        :class:`BeatTracker` (the stage) and its kernel over the rows
``_drive``         kernels: the drive, the autocorrelation and the period (steps 1,
                   2); the breathing filter
``_chain``         kernels: the chain of beats and each beat decided (step 3)
``_measure``       kernels: smoothing, the onset (step 4) and the per-beat measures
``_columns``       kernel: the result's per-beat columns and clean flags from the records
``summary``        :class:`Beats`, :func:`beat_result` (clean beats, the recording's
                   figures), :func:`beats_csv` and :func:`write_beats_csv`
=================  =================================================================
"""

from .constants import *  # noqa: F403  (the stage's settings and slots, as before the split)
from .constants import CHANNEL_SIGNALS, CHANNELS
from .summary import Beats, beat_result, beats_csv, write_beats_csv
from .tracker import BeatTracker

__all__ = ["BeatTracker", "Beats", "beat_result", "beats_csv", "write_beats_csv", "CHANNELS",
           "CHANNEL_SIGNALS"]
