"""All sliders together, as the add-on evaluates them, on the real ICT model."""
import json

import numpy as np

from engine.editing import EditState, apply_edits, bound_for_percentile, identity_norm, learn_attribute, measurement_set
from engine.editing.measure import NAMES


def test_state_round_trips_through_json():
    s = EditState(measurements={"nose_width": -2.0}, attributes={"fullness": 0.5},
                  caricature=1.2, symmetry=0.5, bound=12.0)
    back = EditState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_identity_state_changes_nothing(ict_model):
    a = np.random.default_rng(0).standard_normal(100)
    r = apply_edits(a, EditState(), ict_model)
    np.testing.assert_array_equal(r.identity, a)
    assert not r.clamped and r.guard.level in ("typical", "unusual", "outside")


def test_measurements_hold_after_the_other_sliders(ict_model):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(100)
    w = np.zeros(100)
    w[:10] = rng.standard_normal(10)
    A = rng.standard_normal((40, 100))
    attr = learn_attribute(A, A @ w, "fullness", ict_model, method="regression", components=10)
    state = EditState(measurements={"mouth_width": 3.0, "chin_height": -2.0},
                      attributes={"fullness": 1.0}, caricature=1.1, symmetry=1.0)
    r = apply_edits(a, state, ict_model, attributes={"fullness": attr})
    ms = measurement_set(ict_model)
    # the measurement sliders act last: relative to the head after symmetry, caricature, attribute
    pre = apply_edits(a, EditState(attributes={"fullness": 1.0}, caricature=1.1, symmetry=1.0),
                      ict_model, attributes={"fullness": attr}).identity
    change = ms.of_identity(r.identity) - ms.of_identity(pre)
    want = np.zeros(len(NAMES))
    want[NAMES.index("mouth_width")], want[NAMES.index("chin_height")] = 3.0, -2.0
    assert np.abs(change - want).max() < 0.01


def test_guard_bound_wins(ict_model):
    a = np.random.default_rng(2).standard_normal(100)
    bound = bound_for_percentile(95, ict_model)
    r = apply_edits(a, EditState(caricature=2.0, bound=bound), ict_model)
    assert r.clamped and abs(identity_norm(r.identity, ict_model) - bound) < 1e-9
    assert r.guard.level == "typical" or r.guard.percentile <= 95.0 + 1e-6
