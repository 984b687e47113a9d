"""Several photos of one person, one head (engine/fit/multiview.py, engine/pipeline/many.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import need_shared

from engine.eval.multiview_eval import synthetic_views_eval
from engine.pipeline.many import reconstruct_many
from engine.pipeline.reconstruct import ReconstructOptions, reconstruct


def test_three_views_recover_the_shape_better_than_the_front_alone(ict_model):
    rows = synthetic_views_eval(ict_model, n=5, seed=7)
    single = np.array([r["single_mm"] for r in rows])
    joint = np.array([r["joint_mm"] for r in rows])
    assert joint.mean() < 0.95 * single.mean()
    assert (joint < single).sum() >= 4          # >= 80 % of heads
    assert max(r["pose_error_deg_max"] for r in rows) < 2.5


@pytest.fixture(scope="module")
def obama_views(ict_model):
    root = need_shared("photos", "identity")
    photos = [root / "obama__obama.jpg", root / "obama__obama1.jpg", root / "obama__obama2.jpg"]
    return photos, reconstruct_many(photos, ict_model, ReconstructOptions(texture_size=256))


def test_one_head_from_three_photos(ict_model, obama_views):
    photos, rec = obama_views
    views = rec.extras["views"]
    assert len(views) == 3 and rec.extras["excluded"] == []
    assert rec.path == "multi-view"
    # one identity, a camera and an expression per photo; the top level is the reference view's
    assert all(np.array_equal(v["fit"].identity, rec.identity) for v in views)
    ref = views[rec.extras["reference_view"]]
    assert np.allclose(rec.world_to_camera, ref["fit"].camera.world_to_camera)
    assert abs(ref["pose_deg"]["yaw"]) == min(abs(v["pose_deg"]["yaw"]) for v in views)
    assert len({round(v["pose_deg"]["yaw"]) for v in views}) == 3
    assert max(v["landmark_residual_px_mean"] for v in views) < 6.0
    # the fused texture covers more of the head than the front photo's own
    front = reconstruct(photos[0], ict_model, ReconstructOptions(texture_size=256))
    assert (rec.texture_confidence >= 0.5).mean() > 1.2 * (front.texture_confidence >= 0.5).mean()


def test_params_json_holds_every_view_and_reads_as_one_photo(ict_model, obama_views, tmp_path):
    from engine.io.export import params_dict
    _, rec = obama_views
    d = json.loads(json.dumps(params_dict(rec, ict_model)))
    for key in ("identity", "expression", "camera", "faces_found", "landmarks68"):   # the single-photo contract
        assert key in d
    assert len(d["identity"]) == 100 and len(d["expression"]) == 53
    assert len(d["views"]) == 3 and d["photos_left_out"] == []
    v = d["views"][d["reference_view"]]
    assert np.allclose(v["camera"]["world_to_camera"], d["camera"]["world_to_camera"])
    assert set(v["expression"]) == set(d["expression"])
    single = params_dict(reconstruct(need_shared("photos", "identity", "obama__obama.jpg"), ict_model,
                                     ReconstructOptions(texture_size=64)), ict_model)
    assert "views" not in single


def test_a_photo_without_a_face_is_left_out_and_said(ict_model, obama_views, tmp_path):
    photos, _ = obama_views
    blank = tmp_path / "wall.png"
    from PIL import Image
    Image.new("RGB", (320, 240), (128, 120, 110)).save(blank)
    rec = reconstruct_many([photos[0], blank, photos[1]], ict_model, ReconstructOptions(texture_size=64))
    assert len(rec.extras["views"]) == 2
    (e,) = rec.extras["excluded"]
    assert e["source"] == str(blank) and e["kind"] == "NoFaceError" and "face" in e["reason"]


def test_another_person_is_flagged_and_left_out(ict_model):
    root = need_shared("photos", "identity_sets")
    own = [root / f"elton_john__train_{n}.jpg" for n in (1, 2, 3)]
    stranger = root / "madonna__train_1.jpg"
    if not all(p.exists() for p in own + [stranger]):
        pytest.skip("the chosen photos are not in ../shared/photos/identity_sets")
    rec = reconstruct_many(own[:2] + [stranger] + own[2:], ict_model, ReconstructOptions(texture_size=64))
    (e,) = rec.extras["excluded"]
    assert e["source"] == str(stranger) and e["kind"] == "OtherPerson"
    assert len(rec.extras["views"]) == 3 and rec.extras["warnings"] == []


def test_the_cli_takes_several_photos(obama_views, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    photos, _ = obama_views
    out = tmp_path / "head"
    r = subprocess.run([sys.executable, "-m", "engine", "reconstruct", *map(str, photos[:2]), "-o", str(out),
                        "--texture-size", "256"], cwd=Path(__file__).resolve().parents[2],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads((out / "params.json").read_text())
    assert len(d["views"]) == 2 and (out / "head.glb").stat().st_size > 100_000
