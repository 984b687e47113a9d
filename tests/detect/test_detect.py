"""Faces (real MTCNN) and 478 landmarks (real mediapipe) on real photos and awkward files."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import SHARED, need_shared
from PIL import Image

from engine import detect as D
from engine.detect import faces as detect_faces_module
from engine.landmarks.mp68 import to68
from engine.core.errors import FaceIndexError, FaceTooSmallError, ImageError, NoFaceError, WeightsUnavailableError
from engine.detect.image_io import load_image
from engine.eval.metrics import nme68
from engine.tools.build_correspondence import HEURISTIC, annotated_landmarks, fit_mp68, load_mp68_any

PHOTO = "obama__obama_small.jpg"  # small, so the many variants stay quick


def _pipeline(image):
    faces = D.detect_faces(image)
    return faces, D.face_landmarks(image, D.choose_face(faces))


@pytest.fixture(scope="module")
def photo():
    return load_image(need_shared("photos", "identity", PHOTO))


@pytest.fixture(scope="module")
def reference(photo):
    return _pipeline(photo)[1]


def test_every_identity_photo_gives_a_face_and_478_landmarks():
    folder = need_shared("photos", "identity")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(photos) >= 20
    for p in photos:
        image = load_image(p)
        h, w = image.shape[:2]
        faces, lm = _pipeline(image)
        assert len(faces) >= 1, p.name
        assert [f.size for f in faces] == sorted((f.size for f in faces), reverse=True)
        assert lm.points.shape == (478, 2) and lm.depth.shape == (478,)
        assert np.all(lm.points >= -0.5) and np.all(lm.points[:, 0] <= w - 0.5) \
            and np.all(lm.points[:, 1] <= h - 0.5), p.name
        # the landmarks belong to the chosen box: their centre is inside it
        x0, y0, x1, y1 = lm.box.box
        cx, cy = lm.points.mean(0)
        assert x0 < cx < x1 and y0 < cy < y1, p.name
        f = faces[0]
        assert f.points5.shape == (5, 2) and 0.9 <= f.score <= 1.0


def _face_crop(image, face, margin=0.35):
    x0, y0, x1, y1 = face.box
    m = margin * (x1 - x0)
    return Image.fromarray(image).crop((int(x0 - m), int(y0 - m), int(x1 + m), int(y1 + m)))


def _paste(canvas_wh, crops_at):
    canvas = Image.new("RGB", canvas_wh, (118, 124, 130))
    for crop, xy in crops_at:
        canvas.paste(crop, xy)
    return np.asarray(canvas)


def test_two_faces_and_choose_face(photo):
    other = load_image(need_shared("photos", "identity", "biden__biden2.jpg"))
    a = _face_crop(photo, D.detect_faces(photo)[0]).resize((200, 250))
    b = _face_crop(other, D.detect_faces(other)[0]).resize((320, 400))
    image = _paste((1000, 600), [(a, (80, 200)), (b, (560, 100))])
    faces = D.detect_faces(image)
    assert len(faces) == 2
    assert faces[0].box[0] > 500 and faces[1].box[0] < 400  # largest (biden, right) first
    assert D.choose_face(faces) is faces[0]
    assert D.choose_face(faces, 1) is faces[1]
    lm = D.face_landmarks(image, D.choose_face(faces, 1))
    assert lm.points[:, 0].max() < 300  # landmarks of the small face, not the large one
    # faces side by side: the smaller one's crop holds half the larger one, yet its own
    # landmarks come back
    image = _paste((900, 600), [(b.resize((300, 380)), (100, 100)), (a.resize((150, 190)), (400, 200))])
    faces = D.detect_faces(image)
    assert len(faces) == 2
    lm = D.face_landmarks(image, faces[1])
    x0, y0, x1, y1 = faces[1].box
    assert np.all((lm.points[:, 0] > x0 - 20) & (lm.points[:, 0] < x1 + 20))
    # a box on plain background: mediapipe finds no face there
    with pytest.raises(NoFaceError, match="features could not be located"):
        D.face_landmarks(image, D.FaceBox((600.0, 400.0, 700.0, 520.0), 0.99, np.zeros((5, 2))))
    with pytest.raises(FaceIndexError, match="2 faces"):
        D.choose_face(faces, 2)
    with pytest.raises(FaceIndexError):
        D.choose_face(faces, -1)
    with pytest.raises(NoFaceError, match="No face"):
        D.choose_face([])


def test_no_face_in_a_faceless_photo(photo):
    # the photo's background only (top-left corner, above the head) holds no face
    faces = D.detect_faces(np.ascontiguousarray(photo[:80, :300]))
    assert faces == []
    # a smooth gradient (random noise makes MTCNN slow: thousands of candidate boxes)
    ramp = np.linspace(0, 255, 640)[None, :, None] * np.linspace(0.3, 1, 480)[:, None, None]
    ramp = np.repeat(ramp, 3, axis=2).astype(np.uint8)
    with pytest.raises(NoFaceError):
        D.choose_face(D.detect_faces(ramp))


def test_small_face_found_and_too_small_face_refused(photo):
    crop = _face_crop(photo, D.detect_faces(photo)[0])
    # ~80 px face in a 2400 px photo: detection runs downscaled, still finds it
    small = crop.resize((round(80 * crop.width / crop.height * 1.3), round(80 * 1.3)))
    image = _paste((2400, 1800), [(small, (1500, 900))])
    faces = D.detect_faces(image)
    assert len(faces) == 1
    lm = D.face_landmarks(image, faces[0])
    assert 1500 < lm.points[:, 0].mean() < 1500 + small.width
    # the same face in a 6000 px photo: lost at the first, downscaled look, found by the retry
    image = _paste((6000, 4500), [(small, (3000, 2000))])
    faces = D.detect_faces(image)
    assert len(faces) == 1 and 3000 < faces[0].box[0] < 3000 + small.width
    # a ~28 px face is found but refused with a clear message
    tiny = crop.resize((round(28 * crop.width / crop.height * 1.3), round(28 * 1.3)))
    image = _paste((800, 600), [(tiny, (300, 200))])
    faces = D.detect_faces(image)
    assert len(faces) == 1
    with pytest.raises(FaceTooSmallError, match="pixels wide"):
        D.face_landmarks(image, faces[0])


def _same_landmarks(lm, reference, tol):
    """Mean landmark distance as a fraction of the face size."""
    d = np.linalg.norm(lm.points - reference.points, axis=1).mean() / reference.box.size
    assert d < tol, d


def test_odd_files_give_the_same_landmarks(photo, reference, tmp_path):
    img = Image.fromarray(photo)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "exif.jpg", quality=95, exif=exif)
    img.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, : photo.shape[1] // 10, 3] = 0  # transparent margin, away from the face
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("exif.jpg", "cmyk.jpg", "rgba.png"):
        _, lm = _pipeline(load_image(tmp_path / name))
        _same_landmarks(lm, reference, 0.02)
    # grayscale and 16-bit: colour is gone, geometry stays (compared with the grey photo)
    gray = img.convert("L")
    Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257).save(tmp_path / "g16.png")
    gray.save(tmp_path / "g8.png")
    _, lm8 = _pipeline(load_image(tmp_path / "g8.png"))
    _same_landmarks(lm8, reference, 0.03)
    _, lm16 = _pipeline(load_image(tmp_path / "g16.png"))
    _same_landmarks(lm16, lm8, 0.01)


def test_photo_turned_sideways_without_exif(photo, reference):
    for k in (1, 3):
        turned = np.ascontiguousarray(np.rot90(photo, k))
        faces, lm = _pipeline(turned)
        assert len(faces) == 1
        h, w = photo.shape[:2]
        x, y = lm.points[:, 0], lm.points[:, 1]
        back = np.stack([w - 1 - y, x], 1) if k == 1 else np.stack([y, h - 1 - x], 1)
        d = np.linalg.norm(back - reference.points, axis=1).mean() / reference.box.size
        assert d < 0.04, (k, d)  # measured 0.021 (k=1), 0.013 (k=3)
        # the face box is in the turned image's pixels
        x0, y0, x1, y1 = faces[0].box
        assert 0 <= x0 < x1 <= turned.shape[1] + 1 and 0 <= y0 < y1 <= turned.shape[0] + 1


def test_8000px_photo(photo, reference, tmp_path):
    h, w = photo.shape[:2]
    s = 8000 / max(h, w)
    big = Image.fromarray(photo).resize((round(w * s), round(h * s)), Image.BILINEAR)
    big.save(tmp_path / "big.jpg", quality=85)
    image = load_image(tmp_path / "big.jpg")
    assert max(image.shape[:2]) == 8000
    faces, lm = _pipeline(image)
    assert len(faces) == 1
    scaled = (reference.points + 0.5) * s - 0.5
    d = np.linalg.norm(lm.points - scaled, axis=1).mean() / (reference.box.size * s)
    assert d < 0.02, d


def test_face_landmarks_is_thread_safe(photo, reference):
    out = [None, None]

    def work(i):
        out[i] = D.face_landmarks(photo, reference.box).points

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.allclose(out[0], reference.points) and np.allclose(out[1], reference.points)


def test_weights_checked_before_use(monkeypatch):
    monkeypatch.setattr(detect_faces_module, "_mtcnn", None)
    monkeypatch.setattr(detect_faces_module, "MTCNN_SHA256", {**detect_faces_module.MTCNN_SHA256, "onet.pt": "0" * 64})
    with pytest.raises(WeightsUnavailableError, match="weights"):
        D.detect_faces(np.zeros((100, 100, 3), np.uint8))


def test_internal_image_check():
    with pytest.raises(ImageError):
        D.detect_faces(np.zeros((100, 100), np.uint8))


# ---------------------------------------------------------------- accuracy on human annotations
# Measured with the committed table (docs/detection.md): per-image NME
# image_0001..0005 0.013 0.015 0.018 0.019 0.014, breakingbad 0.042, einstein 0.041-0.064
# (varies with the crop), lenna 0.032, takeo 0.024; mean 0.024.
NME_MAX_PER_IMAGE = 0.075
NME_MAX_MEAN = 0.030


@pytest.fixture(scope="module")
def annotated():
    return annotated_landmarks(need_shared("photos", "landmarks"))


def test_detector_nme68_on_annotated_photos(annotated):
    assert len(annotated) == 9
    nmes = {name: nme68(to68(pts), gt) for name, pts, gt in annotated}
    print("detector NME68:", {k: round(v, 4) for k, v in nmes.items()})
    assert max(nmes.values()) < NME_MAX_PER_IMAGE, nmes
    assert np.mean(list(nmes.values())) < NME_MAX_MEAN, nmes


def test_fitted_68_table_beats_heuristic_on_held_out_photos(annotated):
    """Leave-one-photo-out: a table fitted on 8 photos, scored on the 9th, beats the public
    heuristic table (measured: 0.0254 vs 0.0344 mean NME)."""
    mp = need_shared("mediapipe", "face_model_with_iris.obj")
    from engine.model.obj_io import read_positions
    canonical = read_positions(mp)
    seed, seed_w = load_mp68_any(SHARED / "mediapipe" / HEURISTIC)
    held, base = [], []
    for i in range(len(annotated)):
        train = annotated[:i] + annotated[i + 1:]
        idx, w = fit_mp68(train, canonical, seed)
        name, pts, gt = annotated[i]
        held.append(nme68((pts[idx] * w[..., None]).sum(1), gt))
        base.append(nme68((pts[seed] * seed_w[..., None]).sum(1), gt))
    assert np.mean(held) < 0.9 * np.mean(base), (np.mean(held), np.mean(base))


def test_nme68_metric():
    gt = np.stack([np.linspace(0, 100, 68), np.linspace(0, 50, 68) ** 2 / 50], 1)
    assert nme68(gt, gt) == 0.0
    # a 1-pixel shift of every point in a 100 x 50 box is 1 / sqrt(5000)
    assert abs(nme68(gt + [1, 0], gt) - 1 / np.sqrt(5000)) < 1e-12
    with pytest.raises(ValueError):
        nme68(gt[:5], gt[:5])


def test_correspondence_agrees_with_annotations(annotated, ict_model):
    """Validate the mediapipe->ICT map on photos: ICT's own inner 68 landmark vertices, located
    in each photo through the map (their position on the mapped mediapipe mesh, as a blend of
    the detected points), match the human annotations as well as the detector's 68 table does.
    Measured inner NME: ICT definitions 0.0116-0.0349, detector 0.0113-0.0345, mean gap 0.0005."""
    from engine.eval.metrics import point_errors
    from engine.landmarks.correspondence import build_correspondence, surface_points
    from engine.model.obj_io import read_obj
    from engine.tools.build_correspondence import closest_point_on_triangles
    mesh = read_obj(need_shared("mediapipe", "canonical_face_model.obj"))
    tri = mesh.corner_verts.reshape(-1, 3)
    mapped = surface_points(ict_model.mean.astype(np.float64), build_correspondence(ict_model))[:468]
    lm = ict_model.mean[ict_model.landmarks68]
    t, w, dist = closest_point_on_triangles(lm, mapped[tri[:, 0]], mapped[tri[:, 1]], mapped[tri[:, 2]])
    assert dist[17:].max() * ict_model.mm_per_unit < 2.0  # the mapped mesh passes through them
    ict_nme, det_nme = [], []
    for name, pts, gt in annotated:
        ict2d = (pts[tri[t]] * w[..., None]).sum(1)
        ict_nme.append(point_errors(ict2d, gt)[17:].mean())
        det_nme.append(point_errors(to68(pts), gt)[17:].mean())
    assert max(ict_nme) < 0.045, ict_nme
    assert np.mean(ict_nme) < np.mean(det_nme) + 0.002, (ict_nme, det_nme)
