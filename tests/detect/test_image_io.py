"""load_image on real photos turned into every kind of file a user may have, and bad files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import need_shared
from PIL import Image

from engine.core.errors import ImageError
from engine.detect.image_io import load_image

PHOTO = "obama__obama.jpg"


@pytest.fixture(scope="module")
def photo():
    p = need_shared("photos", "identity", PHOTO)
    img = Image.open(p).convert("RGB")
    return np.asarray(img)


def _diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_real_photos_load(photo):
    folder = need_shared("photos", "identity")
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            a = load_image(p)
            assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and min(a.shape[:2]) >= 200
    assert np.array_equal(load_image(folder / PHOTO), photo)


def test_sources_path_bytes_pil_array(photo, tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(photo).save(p)
    assert np.array_equal(load_image(str(p)), photo)
    assert np.array_equal(load_image(p.read_bytes()), photo)
    assert np.array_equal(load_image(Image.fromarray(photo)), photo)
    assert np.array_equal(load_image(photo), photo)
    f = photo.astype(np.float32) / 255.0
    assert _diff(load_image(f), photo) < 0.6
    assert _diff(load_image(photo.astype(np.uint16) * 257), photo) < 0.6


@pytest.mark.parametrize("orientation,rotate", [(6, Image.Transpose.ROTATE_90),
                                                (8, Image.Transpose.ROTATE_270),
                                                (3, Image.Transpose.ROTATE_180)])
def test_exif_orientation(photo, tmp_path, orientation, rotate):
    # a camera stores the sensor's pixels sideways and says how to turn them upright
    stored = Image.fromarray(photo).transpose(rotate)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "rotated.jpg"
    stored.save(p, quality=95, exif=exif)
    out = load_image(p)
    assert out.shape == photo.shape
    assert _diff(out, photo) < 4.0
    raw = np.asarray(Image.open(p).convert("RGB"))  # ignoring EXIF gives a turned picture
    assert raw.shape != photo.shape or _diff(raw, photo) > 20.0


def test_grayscale_rgba_palette(photo, tmp_path):
    gray = Image.fromarray(photo).convert("L")
    gray.save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == photo.shape and np.array_equal(g[..., 0], g[..., 2])
    assert np.array_equal(g[..., 0], np.asarray(gray))

    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:50, :, 3] = 0          # a transparent band becomes white
    rgba[50:100, :, 3] = 128     # half transparent: half way to white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = load_image(tmp_path / "a.png")
    assert np.all(a[:50] == 255)
    assert np.abs(a[50:100].astype(int) - (photo[50:100].astype(float) * 128 / 255 + 255 * 127 / 255)).max() <= 2
    assert np.array_equal(a[100:], photo[100:])

    la = Image.fromarray(rgba, "RGBA").convert("LA")
    la.save(tmp_path / "la.png")
    assert np.all(load_image(tmp_path / "la.png")[:50] == 255)

    pal = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    pal.save(tmp_path / "p.png")
    assert _diff(load_image(tmp_path / "p.png"), photo) < 8.0
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    assert load_image(tmp_path / "pt.png").shape == photo.shape


def test_16bit_png(photo, tmp_path):
    gray = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = load_image(tmp_path / "g16.png")
    assert out.shape == photo.shape
    assert np.abs(out[..., 0].astype(int) - gray // 257).max() <= 1


def test_cmyk_jpeg(photo, tmp_path):
    Image.fromarray(photo).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == photo.shape and _diff(out, photo) < 6.0


def test_bad_files_raise_image_error(photo, tmp_path):
    cases = {}
    (tmp_path / "text.jpg").write_text("this is not a photo\n" * 20)
    cases["text.jpg"] = "not an image"
    (tmp_path / "empty.jpg").write_bytes(b"")
    cases["empty.jpg"] = "empty"
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=90)
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    cases["cut.jpg"] = "incomplete"
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    cases["cut.png"] = "incomplete"
    Image.new("RGB", (1, 1), (200, 150, 120)).save(tmp_path / "one.png")
    cases["one.png"] = "too small"
    Image.fromarray(photo[:20, :300]).save(tmp_path / "strip.png")
    cases["strip.png"] = "too small"
    cases["missing.jpg"] = "does not exist"
    for name, words in cases.items():
        with pytest.raises(ImageError) as err:
            load_image(tmp_path / name)
        msg = str(err.value)
        assert words in msg, (name, msg)
        assert "Traceback" not in msg and len(msg) < 300
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"GIF89a but not really")
    with pytest.raises(ImageError):
        load_image(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ImageError):
        load_image(np.zeros((100, 100, 5), np.uint8))
    with pytest.raises(ImageError):
        load_image(12345)
    # a decompression bomb (195 Mpixel, a few kB on disk) is refused before decoding
    buf = io.BytesIO()
    Image.new("L", (15000, 13000)).save(buf, "PNG")
    with pytest.raises(ImageError, match="too many pixels"):
        load_image(buf.getvalue())
