"""The face model, loaded once per Blender session, plus arrays derived for fast sliders.

Where the model lives (first that holds one wins):
1. the extension's user folder, bpy.utils.extension_path_user(<package>) (where the
   preferences' installer puts it); FACESPACE_DATA_DIR overrides this, as in the engine;
2. the engine's default per-user folder (FACESPACE_DATA_DIR, else ~/.local/share/facespace
   on Linux), where `python -m engine install-model` and CI install it.
"""
from __future__ import annotations

import numpy as np

from ..engine.core.errors import ModelNotInstalledError
from ..engine.model import load_model, model_path
from .extension import user_dir as extension_data_dir

_model = None
_derived: dict = {}
_listeners: list = []  # called with the model each time one is loaded (main thread)


def add_load_listener(fn) -> None:
    if fn not in _listeners:
        _listeners.append(fn)


def remove_load_listener(fn) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def loaded():
    """The model if this session has loaded it already, else None (never loads it)."""
    return _model


def candidate_paths():
    dirs = [extension_data_dir(create=False), None]
    return [model_path(d) for d in dirs]


def installed_path():
    """The model file that would be loaded, or None."""
    for p in candidate_paths():
        if p.is_file():
            return p
    return None


def get_model():
    """The session's MorphableModel; raises ModelNotInstalledError with the fix in its text."""
    global _model
    if _model is None:
        path = installed_path()
        if path is None:
            raise ModelNotInstalledError(
                "The face model is not installed. Install it in Edit > Preferences > Add-ons > "
                "FaceSpace, or run `python -m engine install-model`."
            )
        _model = load_model(path)
        _derived.clear()
        for fn in list(_listeners):
            fn(_model)
    return _model


def forget():
    """Drop the cached model (after installing a new one)."""
    global _model
    _model = None
    _derived.clear()


def derived() -> dict:
    """Flattened float32 arrays for slider updates (one matmul + one add per change)."""
    if not _derived:
        m = get_model()
        V = m.n_vertices
        _derived["mean"] = np.ascontiguousarray(m.mean.reshape(V * 3), dtype=np.float32)
        _derived["identity"] = np.ascontiguousarray(m.identity_basis.reshape(m.n_identity, V * 3),
                                                    dtype=np.float32)
        _derived["expression"] = np.ascontiguousarray(m.expression_basis.reshape(m.n_expression, V * 3),
                                                      dtype=np.float32)
        _derived["expression_names"] = list(m.expression_names)
        _derived["std"] = np.asarray(m.identity_std, dtype=np.float32)
    return _derived


def identity_projector() -> np.ndarray:
    """(V*3, K) pseudo-inverse of the identity basis: shape offset -> coefficients."""
    d = derived()
    if "pinv" not in d:
        d["pinv"] = np.linalg.pinv(d["identity"].T.astype(np.float64)).T.astype(np.float32)
    return d["pinv"]
