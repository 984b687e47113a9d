"""Many photos -> one output folder each: resumable, with a per-item status manifest, on local
worker processes or on Ray.

Inputs are folders, globs, or a CSV of paths (columns path|file, optional person|identity).
Photos of one person go into OUT/<person>/<photo>/ (the multi-photo fit of a person lands
separately); others into OUT/<photo>/. `OUT/batch-manifest.json` records every item (status
ok / warning / error, its message, the photo's content hash); a rerun skips what finished
with the same photo bytes and options, so an interrupted batch resumes where it stopped.

The writer (engine.io.export.write_outputs) is handed in: this layer does not import io.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.errors import FaceSpaceError
from ..core.files import sha256_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
MANIFEST_NAME = "batch-manifest.json"
MANIFEST_FORMAT = "facespace-batch"
DONE = ("ok", "warning")


@dataclass
class Item:
    photo: str             # absolute path
    person: str | None     # group id (CSV), or None
    output: str            # folder relative to OUT
    sha256: str = ""


def _safe_name(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s).strip("._") or "photo"


def _csv_rows(path: Path) -> list:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and r[0].strip() and not r[0].startswith("#")]
    if not rows:
        return []
    head = [c.strip().lower() for c in rows[0]]
    pcol = next((head.index(k) for k in ("path", "file", "photo") if k in head), None)
    if pcol is not None:
        gcol = next((head.index(k) for k in ("person", "person_id", "identity", "id") if k in head), None)
        rows = rows[1:]
    else:
        pcol, gcol = 0, 1
    out = []
    for r in rows:
        photo = Path(r[pcol].strip())
        photo = photo if photo.is_absolute() else path.parent / photo
        person = r[gcol].strip() if gcol is not None and gcol < len(r) and r[gcol].strip() else None
        out.append((photo, person))
    return out


def collect_inputs(inputs) -> list:
    """Items from folders (their images, sorted), globs and CSVs; duplicates dropped, names unique."""
    found = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            found += [(q, None) for q in sorted(p.iterdir()) if q.suffix.lower() in IMAGE_SUFFIXES]
        elif p.suffix.lower() == ".csv" and p.is_file():
            found += _csv_rows(p)
        elif p.is_file():
            found.append((p, None))
        else:
            matches = sorted(glob.glob(str(spec), recursive=True))
            if not matches:
                raise FaceSpaceError(f"No photos match {spec}: not a file, a folder, a CSV or a pattern "
                                     "that matches anything.")
            found += [(Path(m), None) for m in matches if Path(m).suffix.lower() in IMAGE_SUFFIXES]
    items, seen, names = [], set(), set()
    for photo, person in found:
        photo = photo.absolute()
        if (photo, person) in seen:
            continue
        seen.add((photo, person))
        base = _safe_name(photo.stem)
        folder = f"{_safe_name(person)}/{base}" if person else base
        name, k = folder, 2
        while name in names:   # same file name from two folders
            name, k = f"{folder}-{k}", k + 1
        names.add(name)
        items.append(Item(str(photo), person, name))
    if not items:
        raise FaceSpaceError("No photos were found in the inputs (JPEG, PNG, BMP, TIFF or WebP).")
    return items


# ---- the manifest ---------------------------------------------------------------------------
class BatchManifest:
    """OUT/batch-manifest.json, rewritten atomically after every item (a kill loses at most
    the items in flight)."""

    def __init__(self, outdir: Path, options_key: dict):
        self.path = outdir / MANIFEST_NAME
        self.options = options_key
        self.items: dict = {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") == MANIFEST_FORMAT:
                self.items = data.get("items", {})
        except (OSError, ValueError, AttributeError):
            pass

    def finished(self, item: Item, outdir: Path) -> bool:
        e = self.items.get(item.output)
        return bool(e and e.get("status") in DONE and e.get("sha256") == item.sha256
                    and e.get("options") == self.options and (outdir / item.output).is_dir())

    def record(self, entry: dict) -> None:
        self.items[entry["output"]] = {**entry, "options": self.options}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": MANIFEST_FORMAT, "items": self.items}, indent=1))
        os.replace(tmp, self.path)


# ---- one item, in whichever process ---------------------------------------------------------
_worker: dict = {}


def init_worker(options, outdir, writer, threads: int = 0) -> None:
    """Once per worker process: its own model (and caches); `threads` torch threads (0: torch's
    default), so N workers do not oversubscribe the cores."""
    from ..model import load_model
    if threads:
        import torch
        torch.set_num_threads(threads)
    _worker.update(model=load_model(), options=options, outdir=Path(outdir), writer=writer)


def process_item(item: Item) -> dict:
    """Reconstruct and write one item; never raises: the outcome is in the returned entry."""
    from .reconstruct import reconstruct
    t0 = time.perf_counter()
    entry = {**asdict(item), "status": "error", "message": "", "warnings": []}
    try:
        rec = reconstruct(item.photo, _worker["model"], _worker["options"])
        # overwrite: a folder from a run killed before its manifest entry is FaceSpace's own
        _worker["writer"](rec, _worker["model"], _worker["outdir"] / item.output, overwrite=True)
        entry["warnings"] = [w["code"] for w in rec.warnings]
        entry["status"] = "warning" if rec.warnings else "ok"
        entry["message"] = " ".join(w["message"] for w in rec.warnings)
        entry["timings"] = {k: round(v, 3) for k, v in rec.timings.items()}
    except FaceSpaceError as exc:
        entry["message"] = str(exc)
    except Exception as exc:   # one bad photo must not stop the batch
        from ..core.crashlog import internal_error_message
        entry["message"] = internal_error_message(exc, "batch")
    entry["seconds"] = round(time.perf_counter() - t0, 3)
    return entry


def _ray_item(state, item):
    if not _worker:
        init_worker(*state)
    return process_item(item)


# ---- the batch ------------------------------------------------------------------------------
def _local(todo, state, workers):
    if workers <= 1:
        init_worker(*state)
        for item in todo:
            yield process_item(item)
        return
    import multiprocessing as mp

    # spawn: no forked torch/mediapipe threads; one model per worker; results are small dicts
    with mp.get_context("spawn").Pool(workers, initializer=init_worker, initargs=state,
                                      maxtasksperchild=200) as pool:
        yield from pool.imap_unordered(process_item, todo, chunksize=1)


def _ray(todo, state, workers, address):
    import ray
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": max(1, workers)}
        import logging
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, **kw)
    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_item)
    state_ref = ray.put(state)
    pending, queue = [], list(todo)
    while queue or pending:   # at most 2 tasks per worker in flight: bounded memory
        while queue and len(pending) < 2 * max(1, workers):
            pending.append(remote.remote(state_ref, queue.pop(0)))
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def run_batch(items, outdir, options, writer, workers: int = 1, ray_address=None, use_ray=False,
              progress: bool = True) -> dict:
    """Process `items` into `outdir`; returns {"ok", "warning", "error", "skipped", "seconds"}."""
    from ..core import options as rules
    outdir = Path(outdir).absolute()
    outdir.mkdir(parents=True, exist_ok=True)
    key = {k: getattr(options, k) for k in ("face_index", "texture_size", "quality", "regressor")}
    manifest = BatchManifest(outdir, key)
    for item in items:
        item.sha256 = sha256_file(item.photo) if os.path.isfile(item.photo) else ""
    todo = [i for i in items if not manifest.finished(i, outdir)]
    counts = {"ok": 0, "warning": 0, "error": 0, "skipped": len(items) - len(todo)}
    rules.check_device(options.device)
    parallel = max(1, workers) if (use_ray or workers > 1) else 1
    state = (options, str(outdir), writer, max(1, (os.cpu_count() or 1) // parallel) if parallel > 1 else 0)
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(items), initial=counts["skipped"], unit="photo", file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.5)
    try:
        results = _ray(todo, state, workers, ray_address) if use_ray else _local(todo, state, workers)
        for entry in results:
            manifest.record(entry)
            counts[entry["status"]] += 1
            if bar is not None:
                bar.update(1)
                if entry["status"] == "error":
                    bar.write(f"error: {Path(entry['photo']).name}: {entry['message']}", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    return counts
