"""engine.fit.temporal: One-Euro smoothing (jitter down, lag <= 1 frame at the defaults, causal,
rotation-safe) and gap bridging (short gaps filled and flagged, long ones left missing)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.core.quaternion import matrix_from_quat, quat_exp, quat_from_matrix, quat_log
from engine.fit.temporal import (ROTATION_DEFAULTS, TRANSLATION_DEFAULTS, WEIGHT_DEFAULTS, OneEuroFilter,
                                 PoseExpressionFilter, RotationOneEuro, bridge_gaps)

RATES = (25, 30, 60)


def jitter(x):
    """RMS of the second difference (per frame), summed over channels."""
    d2 = np.diff(np.asarray(x, dtype=np.float64).reshape(len(x), -1), 2, axis=0)
    return float(np.sqrt(np.mean(np.sum(d2 ** 2, axis=1))))


def frames_to_half(y, k0, lo, hi):
    """Frames after the step (at k0) until the output first passes half-way (0: on the step frame)."""
    return int(np.flatnonzero((y[k0:] - (lo + hi) / 2) * np.sign(hi - lo) >= 0)[0])


def run(f, xs, fps):
    return np.array([f(x, i / fps) for i, x in enumerate(xs)])


# (name, filter factory, step size, noise sd, slow motion amplitude)
SCALAR_CASES = [
    ("expression", lambda: OneEuroFilter(**WEIGHT_DEFAULTS, clamp=(0, 1)), 0.5, 0.03, 0.15),
    ("translation_cm", lambda: OneEuroFilter(**TRANSLATION_DEFAULTS), 3.0, 0.3, 1.0),
]


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("name,make,step,noise,amp", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_one_euro_reduces_jitter_and_a_step_arrives_within_a_frame(fps, name, make, step, noise, amp):
    rng = np.random.default_rng(fps)
    T = 4 * fps
    t = np.arange(T) / fps
    clean = 0.3 + amp * np.sin(2 * np.pi * 0.5 * t)            # slow head/face motion, 0.5 Hz
    noisy = clean + rng.normal(0, noise, T)
    out = run(make(), noisy[:, None], fps)[:, 0]
    ratio = jitter(out) / jitter(noisy)
    assert ratio < 0.4, f"{name} @ {fps} fps: jitter x{ratio:.2f}"
    assert np.sqrt(np.mean((out - clean)[fps:] ** 2)) < np.sqrt(np.mean((noisy - clean)[fps:] ** 2))
    for lo, hi in ((0.2, 0.2 + step), (0.2 + step, 0.2)):       # up and down
        x = np.full(T, lo)
        x[T // 2:] = hi
        y = run(make(), x[:, None], fps)[:, 0]
        assert frames_to_half(y, T // 2, lo, hi) <= 1, f"{name} @ {fps} fps lags"
        assert np.all(np.diff(y) * np.sign(hi - lo) >= -1e-12)   # no overshoot/ringing


@pytest.mark.parametrize("fps", RATES)
def test_rotation_one_euro_jitter_and_a_20_degree_turn(fps):
    rng = np.random.default_rng(fps + 1)
    T = 4 * fps
    t = np.arange(T) / fps
    clean = np.zeros((T, 3))
    clean[:, 1] = 0.2 * np.sin(2 * np.pi * 0.5 * t)             # a slow head shake (yaw)
    noisy = clean + rng.normal(0, np.deg2rad(0.7), (T, 3))
    out = quat_log(run(RotationOneEuro(**ROTATION_DEFAULTS), quat_exp(noisy), fps))
    assert jitter(out) / jitter(noisy) < 0.4
    step = np.deg2rad(20)
    x = np.zeros((T, 3))
    x[T // 2:, 1] = step
    y = quat_log(run(RotationOneEuro(**ROTATION_DEFAULTS), quat_exp(x), fps))[:, 1]
    assert frames_to_half(y, T // 2, 0.0, step) <= 1


def test_filters_are_causal():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 5))
    y = x.copy()
    y[40:] += 10.0                                                # change the future only
    a, b = run(OneEuroFilter(1.0, 1.0), x, 30), run(OneEuroFilter(1.0, 1.0), y, 30)
    np.testing.assert_array_equal(a[:40], b[:40])
    assert not np.allclose(a[40:], b[40:])
    f = OneEuroFilter(1.0, 1.0)
    assert np.array_equal(f(x[0], 0.0), x[0])                     # first sample passes unchanged
    with pytest.raises(ValueError):
        f(x[1], 0.0)                                              # time must increase


def test_channels_are_independent_and_weights_clamped():
    fps = 30
    x = np.zeros((60, 53))
    x[:, 7] = np.linspace(0, 3, 60)                               # one channel runs out of range
    y = run(OneEuroFilter(**WEIGHT_DEFAULTS, clamp=(0, 1)), x, fps)
    assert y.min() >= 0 and y.max() <= 1
    assert np.all(y[:, [0, 6, 8, 52]] == 0)                      # the others are not dragged along
    z = run(OneEuroFilter(**WEIGHT_DEFAULTS), x[:, 7:8], fps)[:, 0]
    np.testing.assert_allclose(np.clip(z, 0, 1), y[:, 7])        # vectorised == one channel alone


def test_rotation_filter_is_sign_and_wrap_safe():
    """A head turning steadily through 180 degrees (where Euler angles and rotation vectors wrap)
    with the input quaternion's sign flipping every other frame: the output turns smoothly."""
    fps, T = 30, 90
    axis = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
    angles = np.linspace(np.pi - 1.0, np.pi + 1.0, T)            # crosses pi at frame 45
    q = quat_exp(angles[:, None] * axis)
    flipped = q * np.where(np.arange(T) % 2, -1.0, 1.0)[:, None]
    a = run(RotationOneEuro(**ROTATION_DEFAULTS), q, fps)
    b = run(RotationOneEuro(**ROTATION_DEFAULTS), flipped, fps)
    Ra, Rb = matrix_from_quat(a), matrix_from_quat(b)
    np.testing.assert_allclose(Ra, Rb, atol=1e-9)                 # q and -q: the same rotation
    step = [np.arccos(np.clip((np.trace(Ra[i].T @ Ra[i + 1]) - 1) / 2, -1, 1)) for i in range(T - 1)]
    assert max(step) < 2.0 / T * 1.5                              # no jump at the wrap
    assert np.arccos(np.clip((np.trace(Ra[-1].T @ matrix_from_quat(q[-1])) - 1) / 2, -1, 1)) < 0.05


def test_pose_expression_filter_on_matrices():
    rng = np.random.default_rng(5)
    fps, T = 25, 50
    R0 = np.diag([1.0, -1.0, -1.0])                               # frontal head (OpenCV camera)
    f = PoseExpressionFilter()
    outs = []
    for i in range(T):
        dR = matrix_from_quat(quat_exp(rng.normal(0, 0.01, 3)))
        outs.append(f(i / fps, R0 @ dR, np.array([0, 0, 60.0]) + rng.normal(0, 0.3, 3), rng.random(53) * 1.2))
    R, t, w = outs[-1]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert np.arccos(np.clip((np.trace(R0.T @ R) - 1) / 2, -1, 1)) < 0.03
    assert abs(t[2] - 60) < 0.5 and w.min() >= 0 and w.max() <= 1
    np.testing.assert_allclose(matrix_from_quat(quat_from_matrix(R)), R, atol=1e-12)


def test_bridge_gaps_short_long_and_edges():
    T = 20
    x = np.stack([np.arange(T, dtype=float), 2.0 * np.arange(T)], 1)
    valid = np.ones(T, bool)
    valid[[0, 1]] = False            # start: nothing before it -> stays missing
    valid[[5, 6]] = False            # short gap -> bridged
    valid[10:15] = False             # long gap (5 > max_gap) -> stays missing
    valid[19] = False                # end: nothing after it -> stays missing
    r = bridge_gaps(np.where(valid[:, None], x, 123.0), valid, max_gap=3)
    assert np.flatnonzero(r.bridged).tolist() == [5, 6]
    assert np.flatnonzero(r.missing).tolist() == [0, 1, 10, 11, 12, 13, 14, 19]
    np.testing.assert_allclose(r.values[5:7], x[5:7])             # linear between frames 4 and 7
    assert np.all(np.isnan(r.values[r.missing]))                  # never silently invented
    np.testing.assert_array_equal(r.values[valid], x[valid])
    assert not np.any(r.bridged & valid) and not np.any(r.missing & valid)


def test_bridge_gaps_quaternions_by_slerp():
    qa, qb = quat_exp(np.array([0, 0.0, 0])), quat_exp(np.array([0, 0.9, 0]))
    q = np.stack([qa, qa, qa, -qb, -qb])         # the far side stored with the other sign
    valid = np.array([1, 1, 0, 1, 1], bool)
    r = bridge_gaps(q, valid, max_gap=2, kind="quaternion")
    assert r.bridged.tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(quat_log(r.values[2]), [0, 0.45, 0], atol=1e-12)  # half-way, short way
