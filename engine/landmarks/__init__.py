"""Landmarks: how the detector's points sit on the model. Runtime readers of the derived
tables in engine/data/ (mediapipe correspondence and sliding jaw contour, detector offsets,
the mediapipe-to-68 table, the model's calibrated 68); their builders are in engine/tools."""
