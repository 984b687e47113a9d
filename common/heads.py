"""What makes an object a FaceSpace head, and reading its stored parameters (no writing:
that is operators/sliders.py and operators/mesh.py)."""
from __future__ import annotations

import numpy as np

FIT_KEY = "facespace_fit"  # ID property with the fitted parameters (survives save/reopen)
EDIT_KEY = "facespace_edit_record"  # Edit Face base + state ("facespace_edit" is the PointerProperty's storage)
TRACK_KEY = "facespace_track"  # the last tracked video applied to the head (operators/track_anim.py)


def is_head(obj) -> bool:
    return (obj is not None and obj.type == 'MESH' and getattr(obj, "facespace", None) is not None
            and obj.facespace.is_head)


def active_head(context):
    obj = context.active_object
    return obj if is_head(obj) else None


def identity_values(obj) -> np.ndarray:
    """The head's identity sliders (sd), most significant first."""
    coll = obj.facespace.identity
    out = np.empty(len(coll), dtype=np.float32)
    coll.foreach_get("value", out)
    return out
