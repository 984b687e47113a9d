"""The one camera and rotation convention (engine/core/geometry.py)."""
from __future__ import annotations

import itertools

import numpy as np
import torch

from engine.core.geometry import (FRONTAL_FLIP, Camera, euler_to_matrix, head_angles, head_rotation,
                                  matrix_to_euler, rotation_angle_deg, vertex_normals)
from engine.core.torch_geometry import project
from engine.core.torch_geometry import vertex_normals as vertex_normals_torch


def test_yaw_pitch_roll_round_trip_within_1e9_degrees():
    angles = [-89.0, -60.0, -40.0, -12.5, 0.0, 7.0, 33.0, 75.0, 89.0]
    worst = 0.0
    for yaw, pitch, roll in itertools.product(angles, angles, angles):
        got = head_angles(head_rotation(yaw, pitch, roll))
        worst = max(worst, abs(got["yaw"] - yaw), abs(got["pitch"] - pitch), abs(got["roll"] - roll))
    assert worst < 1e-9


def test_frontal_pose_and_the_meaning_of_each_angle():
    assert np.array_equal(head_rotation(0, 0, 0), FRONTAL_FLIP)
    nose = np.array([0.0, 0.0, 10.0])     # +z: out of the face
    left = np.array([5.0, 0.0, 0.0])      # +x: the subject's left
    # positive yaw turns the face towards the subject's left: the nose moves to image +x ...
    assert (head_rotation(30, 0, 0) @ nose)[0] > 0
    # ... and the subject's left side moves away from the camera (OpenCV z forward)
    assert (head_rotation(30, 0, 0) @ left)[2] > 0
    # positive pitch tips the nose down (the head looks down): image down is +y in OpenCV
    assert (head_rotation(0, 20, 0) @ nose)[1] > 0


def test_numpy_and_torch_agree_and_torch_is_differentiable():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1.2, 1.2, (3, 16))
    R_np = euler_to_matrix(*a)
    t = [torch.tensor(x, requires_grad=True) for x in a]
    R_t = euler_to_matrix(*t)
    assert np.abs(R_t.detach().numpy() - R_np).max() < 1e-12
    R_t.sum().backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in t)
    yaw, pitch, roll = matrix_to_euler(R_np)
    assert np.abs(np.stack([yaw, pitch, roll]) - a).max() < 1e-12


def test_geodesic_angle():
    assert abs(float(rotation_angle_deg(head_rotation(10, 0, 0), head_rotation(-15, 0, 0))) - 25.0) < 1e-9


def test_camera_projection_is_the_pinhole_of_K():
    cam = Camera(head_rotation(20, -5, 3), np.array([1.0, -2.0, 60.0]), 900.0, (640, 480))
    X = np.random.default_rng(1).normal(0, 5, (50, 3))
    uvw = cam.to_camera(X) @ cam.K.T
    assert np.abs(cam.project(X) - uvw[:, :2] / uvw[:, 2:]).max() < 1e-9
    assert np.array_equal(cam.K[:2, 2], [319.5, 239.5])   # the principal point is the image centre
    back = Camera.from_matrices(cam.world_to_camera, cam.K, cam.image_size)
    assert np.allclose(back.project(X), cam.project(X))
    pp = torch.as_tensor(cam.principal_point)
    t = project(torch.as_tensor(cam.to_camera(X))[None], torch.tensor([cam.focal], dtype=torch.float64), pp)[0]
    assert np.abs(t.numpy() - cam.project(X)).max() < 1e-9


def test_vertex_normals_numpy_and_torch_agree_on_the_real_head(ict_model):
    n_np = vertex_normals(ict_model.mean, ict_model.triangles)
    n_t = vertex_normals_torch(torch.as_tensor(ict_model.mean, dtype=torch.float64), ict_model.triangles).numpy()
    used = np.unique(ict_model.triangles)
    assert np.abs(n_np[used] - n_t[used]).max() < 1e-9
    assert np.allclose(np.linalg.norm(n_np[used], axis=1), 1.0)
    # outward: the nose tip's normal points out of the face (+z)
    tip = ict_model.mean[used][:, 2].argmax()
    assert n_np[used][tip, 2] > 0.9
