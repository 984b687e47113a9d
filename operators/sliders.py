"""Every slider update callback of the add-on (the PropertyGroups in properties.py point
here), and the face-space edits behind the buttons.

Identity sliders rewrite the mesh (numpy + foreach_set): basis = mean + coefficients @
basis, and every expression key = basis + its delta (ICT's expression deltas do not depend
on identity). Expression sliders are the shape keys' own values, so Blender evaluates them.
Editing tools (engine/editing, issue #7) add their own groups via ui/slider_groups.py and
call `apply_identity` after changing coefficients. Imports mesh.py (one way: mesh.py never
imports this module).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import strings as S
from ..common.heads import EDIT_KEY, identity_values
from ..common.model_cache import derived, get_model, identity_projector
from ..engine.editing import EditState, apply_edits, bound_for_percentile
from ..engine.editing.measure import NAMES
from .materials import DELIT_NODE, PHOTO_NODE, set_texture_mode
from .mesh import identity_flat, write_shape

__all__ = ["EDIT_KEY", "identity_values", "set_identity_values", "apply_identity", "expression_values",
           "set_expression_values", "randomise", "symmetrise", "bake_edits", "reset_edits"]
_suspend = 0


@contextlib.contextmanager
def suspended():
    """Set many sliders at once without rebuilding the mesh for each; apply afterwards."""
    global _suspend
    _suspend += 1
    try:
        yield
    finally:
        _suspend -= 1


def set_identity_values(obj, values) -> None:
    with suspended():
        obj.facespace.identity.foreach_set("value", np.asarray(values, dtype=np.float32))
    apply_identity(obj)


def apply_identity(obj) -> None:
    write_shape(obj, identity_flat(identity_values(obj)))


def expression_values(obj) -> np.ndarray:
    key = obj.data.shape_keys
    blocks = key.key_blocks[1:] if key else []
    return np.array([kb.value for kb in blocks], dtype=np.float32)


def set_expression_values(obj, values) -> None:
    blocks = obj.data.shape_keys.key_blocks
    for kb, v in zip(blocks[1:], values):
        kb.value = float(v)


# ---- update callbacks ---------------------------------------------------------------
def on_identity_changed(item, context):
    if _suspend:
        return
    obj = item.id_data
    if getattr(obj, "facespace", None) is not None and obj.facespace.is_head:
        apply_identity(obj)


def on_texture_mode_changed(props, context):
    obj = props.id_data
    for slot in obj.material_slots:
        mat = slot.material
        if mat and mat.use_nodes and any(n in mat.node_tree.nodes for n in (PHOTO_NODE, DELIT_NODE)):
            set_texture_mode(mat, props.texture_mode)


# ---- face-space edits ---------------------------------------------------------------
def randomise(obj, spread: float = 1.0, seed: int | None = None) -> None:
    """Identity ~ N(0, spread^2) per component (the model's prior), clipped to +-3 sd."""
    rng = np.random.default_rng(seed)
    n = len(obj.facespace.identity)
    set_identity_values(obj, np.clip(rng.standard_normal(n) * spread, -3.0, 3.0))


def symmetrise(obj, model) -> None:
    """Project the identity onto left/right-symmetric shapes; average _L/_R expression pairs."""
    d = derived()
    v = identity_flat(identity_values(obj)).reshape(-1, 3)
    sym = 0.5 * (v + model.mirror(v))
    coeffs = (sym.ravel() - d["mean"]) @ identity_projector()
    set_identity_values(obj, coeffs / d["std"])
    key = obj.data.shape_keys
    if key is None:
        return
    blocks = key.key_blocks
    for kb in blocks[1:]:
        if kb.name.endswith("_L"):
            other = blocks.get(kb.name[:-2] + "_R")
            if other is not None:
                kb.value = other.value = 0.5 * (kb.value + other.value)


# ---- "Edit face" sliders (engine.editing, issue #7) -----------------------------------
# The head keeps its base identity (sd) and the slider values in obj[EDIT_KEY]; every
# change evaluates engine.editing.apply_edits(base, state) and writes the result into the
# identity sliders. `_edit_writing` stops the writes from re-entering the callbacks.
_edit_writing = 0


@contextlib.contextmanager
def edit_writing():
    """Change edit sliders without evaluating the edits (bake, reset, loading)."""
    global _edit_writing
    _edit_writing += 1
    try:
        yield
    finally:
        _edit_writing -= 1


def edit_state(obj):
    """The EditState the head's edit sliders describe."""
    props = obj.facespace_edit
    measurements = {n: float(getattr(props, n)) for n in NAMES if getattr(props, n)}
    bound = None
    if props.use_bound:
        bound = float(bound_for_percentile(props.bound_percentile, get_model()))
    return EditState(measurements=measurements, caricature=float(props.caricature),
                     symmetry=float(props.symmetry), bound=bound)


def edit_base(obj) -> np.ndarray | None:
    """The identity (sd) the edits start from, or None when the head has no edits yet."""
    rec = obj.get(EDIT_KEY)
    if rec is None or "base" not in rec:
        return None
    return np.array(list(rec["base"]), dtype=np.float64)  # a copy: the ID property may be freed


def apply_edits_to_head(obj):
    """Evaluate the edit sliders on the base identity and update the mesh; returns EditResult."""
    model = get_model()
    base = edit_base(obj)
    current = identity_values(obj).astype(np.float64)
    if base is None:  # first edit: the current identity becomes the base
        base = current
    else:  # identity changed elsewhere since the last edit (sliders, randomise...): keep that change
        last = np.array(list(obj[EDIT_KEY].get("result", current)), dtype=np.float64)
        if last.shape == current.shape and np.abs(current - last).max() > 1e-5:
            base = base + (current - last)
    std = np.asarray(model.identity_std, np.float64)
    state = edit_state(obj)
    result = apply_edits(base * std, state, model)
    values = (result.identity / std).astype(np.float32)
    obj[EDIT_KEY] = {"base": [float(v) for v in base], "state": state.to_dict(),
                     "result": [float(v) for v in values], "clamped": bool(result.clamped)}
    global _edit_writing
    _edit_writing += 1
    try:
        set_identity_values(obj, values)
    finally:
        _edit_writing -= 1
    return result


def reset_edit_sliders(obj) -> None:
    props = obj.facespace_edit
    with edit_writing():
        for n in NAMES:
            setattr(props, n, 0.0)
        props.caricature = 1.0
        props.symmetry = 0.0


def bake_edits(obj) -> None:
    """The current (edited) identity becomes the base; edit sliders back to unchanged."""
    reset_edit_sliders(obj)
    if EDIT_KEY in obj:
        del obj[EDIT_KEY]


def reset_edits(obj) -> None:
    """Back to the base identity; edit sliders back to unchanged."""
    base = edit_base(obj)
    reset_edit_sliders(obj)
    if EDIT_KEY in obj:
        del obj[EDIT_KEY]
    if base is not None:
        set_identity_values(obj, base)


def on_edit_changed(props, context):
    if _edit_writing or _suspend:
        return
    obj = props.id_data
    if getattr(obj, "facespace", None) is None or not obj.facespace.is_head:
        return
    try:
        apply_edits_to_head(obj)
    except Exception as exc:  # model missing etc.: say so, leave the mesh as it was
        print(S.EDIT_FAILED.format(error=exc))
