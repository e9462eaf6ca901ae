"""Figures: sonograms and traces, teaching figures, the HTML report."""
