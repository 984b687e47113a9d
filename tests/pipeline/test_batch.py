"""`python -m engine batch`: inputs from folders, globs and CSVs (grouped by person), a kill
half-way resumed without redoing finished photos, the same manifest with --workers 2 and on
Ray. Real engine, real photos, the real CLI as a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, need_shared

PY = sys.executable
CHEAP = ["--quality", "instant", "--texture-size", "32", "--no-progress"]
N = 6


def _photos():
    folder = need_shared("photos", "identity")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:N]


def _batch(*args, **kw):
    return subprocess.Popen([PY, "-m", "engine", "batch", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _manifest(out):
    items = json.loads((out / "batch-manifest.json").read_text())["items"]
    return {k: (v["status"], v["sha256"], tuple(v["warnings"])) for k, v in items.items()}


@pytest.mark.shared
def test_collect_inputs_folders_globs_csv(tmp_path):
    from engine.core.errors import FaceSpaceError
    from engine.pipeline.batch import collect_inputs
    folder = need_shared("photos", "identity")
    csv = tmp_path / "people.csv"
    csv.write_text(f"file,identity\n{folder}/obama__obama.jpg,obama\n{folder}/obama__obama1.jpg,obama\n"
                   f"{folder}/biden__biden.jpg,\n")
    items = collect_inputs([csv, str(folder / "obama__obama.jpg"), str(folder / "kit_*")])
    names = [i.output for i in items]
    assert names[:3] == ["obama/obama__obama", "obama/obama__obama1", "biden__biden"]
    assert names[3] == "obama__obama" and len(names) == 7        # ungrouped copy, 3 kit_harington photos
    assert len(collect_inputs([folder])) == 20
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "same.jpg").write_bytes(b"x")
    assert [i.output for i in collect_inputs([tmp_path / "a", tmp_path / "b"])] == ["same", "same-2"]
    with pytest.raises(FaceSpaceError, match="No photos match"):
        collect_inputs([str(tmp_path / "nothing*.jpg")])


@pytest.mark.shared
@pytest.mark.slow
def test_batch_killed_halfway_resumes_without_redoing(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("\n".join(map(str, _photos())) + "\n")
    out = tmp_path / "out"
    proc = _batch(csv, "-o", out, *CHEAP)
    deadline = time.monotonic() + 400
    done = {}
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            done = _manifest(out)
        except (OSError, ValueError):
            pass
        if len(done) >= N // 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and N // 2 <= len(done) < N
    done = _manifest(out)
    stamps = {k: (out / k / "params.json").stat().st_mtime_ns for k in done}
    proc = _batch(csv, "-o", out, *CHEAP)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "W0000" not in err and "inference_feedback_manager" not in err and "TensorFlow Lite" not in err
    assert f"{len(done)} skipped" in err
    assert {k: (out / k / "params.json").stat().st_mtime_ns for k in done} == stamps   # not redone
    final = _manifest(out)
    assert len(final) == N and all(s in ("ok", "warning") for s, _, _ in final.values())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]                    # no staging left

    # --workers 2: the same manifest (statuses, content hashes, warnings), in its own folder
    out2 = tmp_path / "out2"
    t = time.perf_counter()
    proc = _batch(csv, "-o", out2, "--workers", "2", *CHEAP)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert _manifest(out2) == final
    print(f"workers 2: {N} photos in {time.perf_counter() - t:.1f} s")


@pytest.mark.shared
@pytest.mark.slow
def test_batch_on_ray_same_manifest(tmp_path):
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("Ray is an optional extra (pip install ray) and is not installed here")
    photos = _photos()[:2]
    outs = []
    for extra in ([], ["--ray"]):
        out = tmp_path / ("ray" if extra else "local")
        proc = _batch(*photos, "-o", out, "--workers", "2", *extra, *CHEAP,
                      env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "Traceback" not in err, err
        outs.append(_manifest(out))
    assert outs[0] == outs[1]
