"""Evaluation: synthetic ground truth, the shared data sets, metrics, accuracy studies and
figures for the docs. Runtime code never imports it."""
