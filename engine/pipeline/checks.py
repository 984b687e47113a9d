"""Warnings, not errors: a head is still made, and the artist is told why it may disappoint.

Each warning is {code, message}; they go on Reconstruction.warnings and into params.json.
Thresholds were set on the 20 shared identity photos (docs/reliability.md)."""
from __future__ import annotations

from ..detect.quality import face_sharpness

SMALL_FACE_PX = 100      # face box side below which detail is scarce (the smallest shared face: 128)
BLUR_SHARPNESS = 25.0    # sharp shared faces: 67-763; copies blurred by 2 % of the face: 4-8
EXTREME_YAW_DEG = 60.0   # beyond this the far side of the face is not in the photo
HIGH_RESIDUAL = 0.03     # mean landmark residual / face size; the shared photos: ~0.005


def photo_warnings(image, face, quality: dict) -> list:
    out = []
    if face.size < SMALL_FACE_PX:
        out.append({"code": "small_face", "message": (
            f"The face is only about {face.size:.0f} pixels wide (under {SMALL_FACE_PX}); the head will "
            "lack detail. A larger or higher-resolution photo gives a better head.")})
    sharp = face_sharpness(image, face.box)
    if sharp < BLUR_SHARPNESS:
        out.append({"code": "blurry", "message": (
            f"The face looks blurred (sharpness {sharp:.0f}, under {BLUR_SHARPNESS:.0f}); the shape and "
            "texture will be soft. A sharper photo gives a better head.")})
    yaw = quality.get("head_yaw_deg")
    if yaw is not None and abs(yaw) > EXTREME_YAW_DEG:
        out.append({"code": "extreme_yaw", "message": (
            f"The head is turned {abs(yaw):.0f} degrees away from the camera (over {EXTREME_YAW_DEG:.0f}); "
            "the hidden side is guessed. A more frontal photo gives a better head.")})
    res = quality.get("landmark_residual_px_mean")
    if res is not None and face.size > 0 and res / face.size > HIGH_RESIDUAL:
        out.append({"code": "poor_fit", "message": (
            f"The face model fits the photo's landmarks loosely ({res:.1f} px on average for a "
            f"{face.size:.0f} px face); the face may be partly covered or unusual. Check the result.")})
    return out
