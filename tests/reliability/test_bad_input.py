"""Bad input at every surface: typed errors with artist-readable messages (exit status 2),
warnings where a head can still be made, nothing written, no foreign file touched.
Real engine, real photos, the real CLI (in-process `main`, and as a subprocess)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, need_shared

PY = sys.executable
OBAMA = ("photos", "identity", "obama__obama.jpg")
CHEAP = ["--quality", "instant", "--texture-size", "32"]


def _cli(capsys, *args):
    from engine.cli import main
    rc = main(["reconstruct", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def cli_subprocess(*args, env=None, timeout=300):
    r = subprocess.run([PY, "-m", "engine", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    assert "Traceback" not in r.stderr, r.stderr
    return r


# ---- one set of option rules ----------------------------------------------------------------
def test_option_rules_are_one_set():
    from engine.core import options as rules
    from engine.core.errors import DeviceUnavailableError, OptionError
    from engine.pipeline.reconstruct import ReconstructOptions
    for bad in (7, 0, -256, 300, 16384, "big", 2.5, True):
        with pytest.raises(OptionError, match="power of two"):
            rules.check_texture_size(bad)
        with pytest.raises(OptionError):
            ReconstructOptions(texture_size=bad)
    assert rules.check_texture_size("1024") == 1024 and ReconstructOptions(texture_size=256.0).texture_size == 256
    with pytest.raises(OptionError, match="0 or more"):
        ReconstructOptions(face_index=-1)
    assert ReconstructOptions(face_index=None).face_index is None
    instant = ReconstructOptions(quality="instant")
    assert instant.regression_only and instant.fit_quality == "fast"
    assert ReconstructOptions(regression_only=True).quality == "instant"
    with pytest.raises(OptionError, match="instant, fast, balanced, high"):
        ReconstructOptions(quality="best")
    with pytest.raises(OptionError):
        ReconstructOptions(device="tpu")
    if "mps" not in rules.available_devices():
        with pytest.raises(DeviceUnavailableError, match="MPS"):
            rules.check_device("mps")
    # the add-on imports this without torch: nothing heavy at import time
    r = subprocess.run([PY, "-c", "import sys, engine.core.options; "
                                  "print(sorted(m for m in ('torch', 'numpy', 'mediapipe') if m in sys.modules))"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr


@pytest.mark.shared
@pytest.mark.parametrize("args, message", [
    (["--texture-size", "7"], "power of two"),
    (["--face", "-1"], "0 or more"),
    (["--device", "mps"], "MPS"),
])
def test_cli_refuses_bad_options_before_work(capsys, tmp_path, args, message):
    from engine.core.options import available_devices
    if "mps" in args and "mps" in available_devices():
        pytest.skip("this machine has MPS")
    rc, err = _cli(capsys, need_shared(*OBAMA), "-o", tmp_path / "out", *args)
    assert rc == 2 and message in err and "Finding faces" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.shared
def test_cli_bad_option_subprocess_no_traceback(tmp_path):
    r = cli_subprocess("reconstruct", need_shared(*OBAMA), "-o", tmp_path / "out", "--texture-size", "7")
    assert r.returncode == 2 and r.stderr.startswith("error: The texture size")
    assert not (tmp_path / "out").exists()


# ---- output folders -------------------------------------------------------------------------
@pytest.mark.shared
def test_overwrite_never_touches_foreign_files(capsys, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    (out / "sub" / "x").write_text("mine too")
    rc, err = _cli(capsys, need_shared(*OBAMA), "-o", out, "--overwrite", *CHEAP)
    assert rc == 2 and "did not write" in err and "keep.txt" in err and "Finding faces" not in err
    assert (out / "keep.txt").read_text() == "mine" and (out / "sub" / "x").read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.shared
def test_file_and_read_only_targets_refused_before_work(capsys, tmp_path):
    photo = need_shared(*OBAMA)
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc, err = _cli(capsys, photo, "-o", afile, *CHEAP)
    assert rc == 2 and "is a file" in err and afile.read_text() == "x"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, err = _cli(capsys, photo, "-o", ro, *CHEAP)
        assert rc == 2 and "read-only" in err and "Finding faces" not in err
        assert ro.is_dir() and stat.S_IMODE(ro.stat().st_mode) == 0o555
        rc, err = _cli(capsys, photo, "-o", ro / "inner", *CHEAP)   # a folder inside a read-only one
        assert rc == 2 and "Cannot write" in err and not (ro / "inner").exists()
    finally:
        ro.chmod(0o755)


@pytest.mark.shared
def test_symlinked_folder_followed_umask_respected_overwrite_own(capsys, tmp_path, ict_model):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    photo = need_shared(*OBAMA)
    old = os.umask(0o022)
    try:
        rc, err = _cli(capsys, photo, "-o", link, *CHEAP)
    finally:
        os.umask(old)
    assert rc == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real / "params.json").is_file() and (real / ".facespace-manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]   # no hidden leftovers
    new = tmp_path / "new"
    old = os.umask(0o022)
    try:
        rc, _ = _cli(capsys, photo, "-o", new, *CHEAP)
    finally:
        os.umask(old)
    assert rc == 0 and stat.S_IMODE(new.stat().st_mode) == 0o755   # not mkdtemp's 0700
    assert stat.S_IMODE((new / "params.json").stat().st_mode) == 0o644
    rc, err = _cli(capsys, photo, "-o", new, *CHEAP)
    assert rc == 2 and "not empty" in err
    rc, err = _cli(capsys, photo, "-o", new, "--overwrite", *CHEAP)   # our own files: replaced
    assert rc == 0, err
    assert json.loads((new / "params.json").read_text())["warnings"] == []


# ---- warnings, not errors ------------------------------------------------------------------
def _rec(img, model):
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    return reconstruct(img, model, ReconstructOptions(quality="instant", texture_size=32))


@pytest.mark.shared
def test_tiny_and_blurred_faces_warn(ict_model, tmp_path):
    from PIL import Image, ImageFilter

    from engine.detect.image_io import load_image
    from engine.io.export import params_dict
    img = load_image(need_shared(*OBAMA))
    tiny = np.asarray(Image.fromarray(img).resize((img.shape[1] // 4, img.shape[0] // 4), Image.LANCZOS))
    rec = _rec(tiny, ict_model)
    assert rec.faces[0].size < 100
    assert [w["code"] for w in rec.warnings] == ["small_face"]
    assert params_dict(rec, ict_model)["warnings"][0]["code"] == "small_face"
    blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(7)))
    codes = [w["code"] for w in _rec(blurred, ict_model).warnings]
    assert "blurry" in codes
    assert _rec(img, ict_model).warnings == []


def test_pose_and_fit_warnings():
    from engine.detect.faces import FaceBox
    from engine.pipeline.checks import photo_warnings
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)   # sharp noise
    face = FaceBox((100, 100, 300, 300), 0.99, np.zeros((5, 2)))
    ok = {"head_yaw_deg": 20.0, "landmark_residual_px_mean": 1.5}
    assert photo_warnings(img, face, ok) == []
    codes = [w["code"] for w in photo_warnings(img, face, {"head_yaw_deg": -75.0, "landmark_residual_px_mean": 12.0})]
    assert codes == ["extreme_yaw", "poor_fit"]


# ---- the headless script (Blender as a module): exporters fail fast, exit 2 -----------------
@pytest.mark.bpy
@pytest.mark.shared
@pytest.mark.parametrize("flag", ["--glb", "--fbx"])
def test_headless_unwritable_export_exits_2_fast(tmp_path, flag):
    pytest.importorskip("bpy")
    blend = tmp_path / "h.blend"
    r = subprocess.run([PY, str(ROOT / "scripts" / "headless_reconstruct.py"), str(need_shared(*OBAMA)),
                        "-o", str(blend), flag, f"/proc/x.{flag[2:]}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not writable" in r.stderr
    assert not blend.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.bpy
@pytest.mark.shared
def test_headless_same_option_rules(tmp_path):
    pytest.importorskip("bpy")
    for args, message in ((["--texture-size", "7"], "power of two"), (["--face-index", "-1"], "0 or more"),
                          (["--quality", "best"], "instant, fast")):
        r = subprocess.run([PY, str(ROOT / "scripts" / "headless_reconstruct.py"), str(need_shared(*OBAMA)),
                            "-o", str(tmp_path / "h.blend"), *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
