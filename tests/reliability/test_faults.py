"""Faults: a kill during export, a full disk, a damaged or missing face model. The output is
the previous complete folder or nothing; the message is clear; no traceback reaches the user."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

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


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.shared
def test_sigkill_during_export_leaves_previous_output(capsys, tmp_path, ict_model):
    photo = need_shared(*OBAMA)
    out = tmp_path / "out"
    assert _cli(capsys, photo, "-o", out, *CHEAP)[0] == 0
    before = _snapshot(out)
    proc = subprocess.Popen([PY, "-m", "engine", "reconstruct", str(photo), "-o", str(out), "--overwrite", *CHEAP],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if any(p.name.endswith(".facespace-partial") for p in tmp_path.iterdir()):   # export under way
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait(60) == -signal.SIGKILL, "the export finished before the kill: nothing was tested"
    assert _snapshot(out) == before                      # the previous complete output, byte for byte
    # the next run cleans the killed run's staging folder up
    assert _cli(capsys, photo, "-o", out, "--overwrite", *CHEAP)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs to fill ({r.stderr.strip() or 'mount failed'}): needs root")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.shared
def test_disk_full_clear_error_no_partial_output(capsys, tiny_disk, ict_model):
    (tiny_disk / "previous").mkdir()
    rc, err = _cli(capsys, need_shared(*OBAMA), "-o", tiny_disk / "head", *CHEAP)
    assert rc == 2 and "the disk is full" in err and "nothing was written" in err
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["previous"]


# ---- the face model -------------------------------------------------------------------------
def _model_dir(tmp_path, kind):
    from engine.model.morphable import MODEL_FILENAME, model_path
    src = model_path()
    if not src.is_file():
        pytest.skip(f"the face model is not installed at {src}")
    d = tmp_path / f"data-{kind}"
    d.mkdir()
    dst, side = d / MODEL_FILENAME, d / (MODEL_FILENAME + ".sha256")
    if kind == "missing":
        return d
    if kind in ("empty-sidecar", "garbled-sidecar", "no-sidecar"):
        dst.symlink_to(src)
        if kind != "no-sidecar":
            side.write_bytes(b"" if kind == "empty-sidecar" else b"\xff\xfezz not a digest\n")
    elif kind == "truncated":
        with open(src, "rb") as f:
            dst.write_bytes(f.read(1 << 20))
        side.write_text(open(str(src) + ".sha256").read())
    elif kind == "not-a-model":   # checksum matches, the content is no model
        data = b"PK\x03\x04 this is not a model" * 100
        dst.write_bytes(data)
        side.write_text(hashlib.sha256(data).hexdigest() + "  " + MODEL_FILENAME + "\n")
    return d


@pytest.mark.shared
@pytest.mark.parametrize("kind, message", [
    ("missing", "No face model"), ("no-sidecar", "no checksum file"), ("empty-sidecar", "empty or damaged"),
    ("garbled-sidecar", "empty or damaged"), ("truncated", "damaged (checksum mismatch)"),
    ("not-a-model", "not a readable FaceSpace model"),
])
def test_damaged_model_clear_message(capsys, tmp_path, monkeypatch, kind, message):
    monkeypatch.setenv("FACESPACE_DATA_DIR", str(_model_dir(tmp_path, kind)))
    rc, err = _cli(capsys, need_shared(*OBAMA), "-o", tmp_path / "out", *CHEAP)
    assert rc == 2 and message in err and ("reinstall" in err or "install-model" in err)
    assert not (tmp_path / "out").exists()


@pytest.mark.shared
def test_empty_sidecar_subprocess_typed(tmp_path):
    d = _model_dir(tmp_path, "empty-sidecar")
    r = subprocess.run([PY, "-m", "engine", "reconstruct", str(need_shared(*OBAMA)), "-o", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "FACESPACE_DATA_DIR": str(d)})
    assert r.returncode == 2 and "Traceback" not in r.stderr and "IndexError" not in r.stderr
    assert "checksum file" in r.stderr and "empty or damaged" in r.stderr


def test_internal_error_short_message_traceback_in_file(tmp_path, monkeypatch):
    from engine.core.crashlog import internal_error_message
    monkeypatch.setenv("FACESPACE_DATA_DIR", str(tmp_path))
    try:
        {}["missing"]
    except KeyError as exc:
        msg = internal_error_message(exc, "test")
    assert "internal problem" in msg and "Traceback" not in msg
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and str(logs[0]) in msg and "Traceback" in logs[0].read_text()
