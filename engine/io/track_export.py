"""Output files of a tracked performance (pipeline/track.py): animation.json,
animation_livelink.csv (Live Link Face) and head_animated.glb (the clip's head with its
53 morph-target weights and head pose animated), written all or nothing into one folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.geometry import matrix_to_euler
from .animation import Animation, glb_animation, write_animation
from .arkit import write_live_link_csv
from .export import placeholder_texture, write_atomically
from .gltf import write_glb

FILES = ("animation.json", "animation_livelink.csv", "head_animated.glb")


def track_animation(track) -> Animation:
    """The Track as an `Animation` (io/animation.py): its final (filtered, bridged) curves."""
    w, h = track.image_size
    return Animation(times=track.times, rotation=track.rotation, translation=track.translation,
                     weights=track.weights, expression_names=track.expression_names,
                     confidence=track.confidence, face_found=track.face_found, bridged=track.bridged,
                     fps=track.fps, camera={"K": np.asarray(track.K).tolist(), "width": w, "height": h},
                     source={**track.source, "filtered": bool(track.filtered)})


def write_live_link(path, anim: Animation) -> None:
    """Live Link Face CSV of the frames with a pose (a frame without a face has no row: the CSV
    has no way to say 'missing'); head yaw, pitch, roll in radians (docs/architecture.md's
    convention), eyes 0."""
    keep = anim.has_pose
    head = np.stack(matrix_to_euler(anim.rotation[keep]), -1)
    write_live_link_csv(path, anim.times[keep], anim.weights[keep], anim.fps, anim.expression_names, head=head)


def write_track_outputs(track, model, outdir, overwrite=False) -> list:
    """The three FILES into `outdir` (refused when it is a non-empty folder, unless `overwrite`).
    Returns the written files (Paths, sorted)."""
    anim = track_animation(track)

    def write(tmp: Path):
        write_animation(tmp / FILES[0], anim)
        write_live_link(tmp / FILES[1], anim)
        neutral = model.vertices(track.identity, np.zeros(model.n_expression)).astype(np.float32)
        tex = track.texture if track.texture is not None else placeholder_texture()
        write_glb(tmp / FILES[2], model, neutral, tex, expression_names=track.expression_names,
                  animation=glb_animation(anim))
    return write_atomically(outdir, write, overwrite)
