"""Warnings a reconstruction carries (`Reconstruction.extras["warnings"]`, a list of
{code, message}; params.json writes them): what the user should know about a turned head or
reduced evidence. Pure functions of the fit, the quality report and the detection evidence."""
from __future__ import annotations

import numpy as np

EXTREME_YAW_DEG = 60.0     # beyond this the far half of the face is the model's guess
HIDDEN_FRACTION = 0.35     # more than this share of the detector's points hidden -> warn


def pose_warnings(quality: dict, fit=None, evidence: dict | None = None) -> list:
    """-> [{code, message}] for extreme yaw, hidden landmarks, a fallback detector and a
    restarted (collapsed) fit."""
    out = []
    yaw = quality.get("head_yaw_deg")
    if yaw is not None and np.isfinite(yaw) and abs(yaw) > EXTREME_YAW_DEG:
        side = "left" if yaw > 0 else "right"
        out.append({"code": "extreme_yaw",
                    "message": f"The head is turned about {abs(yaw):.0f} degrees (to the subject's {side}); the far "
                               "side of the face is hidden and its shape comes from the model, not the photo."})
    vis = None if fit is None else getattr(fit, "point_visibility", None)
    if vis is not None and len(vis):
        hidden = float(np.mean(np.asarray(vis) < 0.5))
        if hidden > HIDDEN_FRACTION:
            out.append({"code": "hidden_landmarks",
                        "message": f"{100 * hidden:.0f}% of the face's landmarks are hidden at this pose and were "
                                   "not used for the fit; identity and expression rest on the visible side."})
    if evidence and evidence.get("fallback"):
        out.append({"code": "fallback_detector",
                    "message": f"{evidence['fallback']}; MediaPipe's full-range face detector located the face "
                               "(less certain evidence: check the face chosen)."})
    if fit is not None and getattr(fit, "restarted", False):
        out.append({"code": "fit_restarted",
                    "message": "The first fit collapsed (its visible landmarks did not match) and was restarted "
                               "from another head pose; check the head's turn in the result."})
    return out
