"""Attributes learned from examples (Blanz & Vetter) and their files, on the real model."""
import json

import numpy as np
import pytest

from engine.core.errors import AttributeFileError, AttributeModelMismatchError, AttributeVersionError
from engine.editing.attributes import FORMAT_VERSION, learn_attribute, load_attribute


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _rated_heads(rng, n, w, noise=0.05):
    A = rng.standard_normal((n, w.size))
    mu = A @ w
    return A, mu + noise * mu.std() * rng.standard_normal(n)


def test_paper_formula_is_the_rating_weighted_deviation(ict_model):
    rng = np.random.default_rng(0)
    A, mu = _rated_heads(rng, 30, rng.standard_normal(100))
    attr = learn_attribute(A, mu, "fullness", ict_model)
    want = ((mu - mu.mean())[:, None] * (A - A.mean(0))).sum(0)
    assert _cos(attr.direction, want) > 1 - 1e-12


def test_twenty_examples_recover_a_leading_component_attribute(ict_model):
    """Hidden linear attribute carried by the 10 leading components, 20 rated heads, 5% rating
    noise: least squares in those components recovers it (measured worst of 50 draws: 0.99)."""
    rng = np.random.default_rng(1)
    worst = 1.0
    for _ in range(50):
        w = np.zeros(100)
        w[:10] = rng.standard_normal(10)
        A, mu = _rated_heads(rng, 20, w)
        attr = learn_attribute(A, mu, "hidden", ict_model, method="regression", components=10)
        worst = min(worst, _cos(attr.direction, w))
    assert worst > 0.95


def test_paper_formula_recovers_a_generic_direction_with_many_examples(ict_model):
    """A generic 100-D direction needs many examples: expected cosine N / sqrt(N^2 + 100 N)
    = 0.976 for N = 2000 (20 examples can only pin down a 19-D projection of it)."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal(100)
    A, mu = _rated_heads(rng, 2000, w)
    assert _cos(learn_attribute(A, mu, "generic", ict_model).direction, w) > 0.95


def test_one_slider_unit_is_one_rating_unit(ict_model):
    rng = np.random.default_rng(3)
    w = np.zeros(100)
    w[:10] = rng.standard_normal(10)
    A, mu = _rated_heads(rng, 200, w, noise=0.0)
    for method in ("paper", "regression"):
        attr = learn_attribute(A, mu, "x", ict_model, method=method, components=10)
        head = rng.standard_normal(100)
        # true rating change of +2 slider units, by the hidden attribute
        assert abs((attr.apply(head, 2.0) - head) @ w - 2.0) < 0.1
        assert abs(attr.rating(head) - head @ w) < 0.3 * np.abs(mu).mean()


def test_file_round_trip_and_reuse_on_another_head(ict_model, tmp_path):
    rng = np.random.default_rng(4)
    A, mu = _rated_heads(rng, 40, rng.standard_normal(100))
    attr = learn_attribute(A, mu, "Hooked nose", ict_model)
    path = attr.save(tmp_path / "hooked.json")
    assert path.stat().st_size < 8000
    back = load_attribute(path, ict_model)
    assert back.name == "Hooked nose" and back.model_id == ict_model.id
    np.testing.assert_array_equal(back.direction, attr.direction)
    head = rng.standard_normal(100)
    np.testing.assert_array_equal(back.apply(head, 1.5), attr.apply(head, 1.5))


def _rewrite(path, **changes):
    d = json.loads(path.read_text())
    d.update(changes)
    path.write_text(json.dumps(d))


def test_wrong_model_version_or_damage_is_rejected(ict_model, tmp_path):
    rng = np.random.default_rng(5)
    A, mu = _rated_heads(rng, 10, rng.standard_normal(100))
    attr = learn_attribute(A, mu, "x", ict_model)
    p = attr.save(tmp_path / "a.json")
    _rewrite(p, model_id="basel-face-model-2017")
    with pytest.raises(AttributeModelMismatchError):
        load_attribute(p, ict_model)
    p = attr.save(tmp_path / "b.json")
    _rewrite(p, format_version=FORMAT_VERSION + 1)
    with pytest.raises(AttributeVersionError):
        load_attribute(p, ict_model)
    p = attr.save(tmp_path / "c.json")
    _rewrite(p, direction=[1.0, 2.0])
    with pytest.raises(AttributeFileError):
        load_attribute(p, ict_model)
    p = tmp_path / "d.json"
    p.write_bytes(b"\x80\x04\x95 not json, a pickle perhaps")
    with pytest.raises(AttributeFileError):
        load_attribute(p, ict_model)
