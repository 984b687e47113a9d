"""OpenCV camera (K, world_to_camera in model cm) -> a Blender camera object.

Blender cameras look down their local -Z with +Y up; OpenCV cameras look down +Z with +Y
down, so camera_bl = camera_cv @ diag(1, -1, -1). The head object carries HEAD_MATRIX
(model cm, +y up -> Blender metres, +Z up), so the camera's world matrix is
HEAD_MATRIX @ inverse(world_to_camera) @ flip, with the 0.01 scale taken off the rotation.
"""
from __future__ import annotations

import math

import numpy as np

SENSOR_MM = 36.0
_FLIP = np.diag([1.0, -1.0, -1.0, 1.0])


def head_matrix() -> np.ndarray:
    """Model space (cm, +y up, face along +z) -> Blender world (m, +Z up, face along -Y)."""
    c, s = math.cos(math.pi / 2), math.sin(math.pi / 2)
    rot = np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], dtype=np.float64)
    return rot @ np.diag([0.01, 0.01, 0.01, 1.0])


def camera_world_matrix(world_to_camera) -> np.ndarray:
    m = head_matrix() @ np.linalg.inv(np.asarray(world_to_camera, dtype=np.float64)) @ _FLIP
    m[:3, :3] /= 0.01  # a rigid camera: keep the translation in metres, drop the scale
    return m


def intrinsics(K, image_size) -> dict:
    """Blender lens/sensor/shift for an OpenCV K with 0-based pixel centres (fx == fy assumed)."""
    K = np.asarray(K, dtype=np.float64)
    w, h = (int(v) for v in image_size)
    s = max(w, h)  # sensor_fit AUTO: the sensor spans the larger image side
    f = 0.5 * (K[0, 0] + K[1, 1])
    return {
        "sensor_fit": "AUTO",
        "sensor_width": SENSOR_MM,
        "lens": f * SENSOR_MM / s,
        "shift_x": ((w - 1) / 2.0 - K[0, 2]) / s,
        "shift_y": (K[1, 2] - (h - 1) / 2.0) / s,
    }


def add_camera(context, name, K, world_to_camera, image_size, photo=None):
    """A camera object matching the fitted camera; returns (object, data)."""
    import bpy
    from mathutils import Matrix
    cam = bpy.data.cameras.new(name)
    for k, v in intrinsics(K, image_size).items():
        setattr(cam, k, v)
    cam.clip_start, cam.clip_end = 0.01, 100.0
    if photo is not None:
        bg = cam.background_images.new()
        bg.image = photo
        bg.alpha = 0.5
        bg.display_depth = 'FRONT'
        cam.show_background_images = True
    obj = bpy.data.objects.new(name, cam)
    obj.matrix_world = Matrix(camera_world_matrix(world_to_camera).tolist())
    return obj


def match_render_size(scene, image_size):
    """The camera only matches the photo when the render has the photo's aspect."""
    scene.render.resolution_x, scene.render.resolution_y = (int(v) for v in image_size)
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
