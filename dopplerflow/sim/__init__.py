"""Simulation and scoring: synthetic recordings with their truth, scores, evaluation."""
