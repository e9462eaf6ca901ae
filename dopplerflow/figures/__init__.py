"""Figures: sonograms and traces, teaching figures, the HTML report.

* :mod:`.plots`: the sonogram and velocity-trace figures of an analysis.
* :mod:`.image`: the sonogram as an image, display columns and velocity ranges.
* :mod:`.marks`: events and a second vessel marked over them; the colours.
* :mod:`.teaching`, :mod:`.teaching_reflux` and :mod:`.explain`: the teaching figures
  with their captions.
* :mod:`.report`: a self-contained HTML report of an analysis.
* :mod:`.exam_report`: the self-contained HTML page of an examination
  (:mod:`dopplerflow.study.exam`).

matplotlib is imported only when a figure is drawn.
"""
