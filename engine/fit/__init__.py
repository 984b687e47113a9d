"""Fit: camera, pose, identity and expression from 2D points (solver.py explains the parts)."""
from .contour import Contour, jaw_contour
from .points import fit_points
from .result import FitResult
from .rigid import rigid_init
from .settings import FitSettings
from .solver import fit_landmarks

__all__ = ["Contour", "FitResult", "FitSettings", "fit_landmarks", "fit_points", "jaw_contour", "rigid_init"]
