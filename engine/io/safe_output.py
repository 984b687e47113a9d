"""Output folders that never cost the user data.

`OutputFolder(path, overwrite).check()` runs every check that can fail before any work
starts; `commit(write)` lets `write(staging)` fill a staging folder beside the target and
then puts it in place in one step (an atomic exchange on Linux), so the target is always
absent, the previous complete folder, or the new complete folder, even after a SIGKILL.

A manifest (`.facespace-manifest.json`) lists the files FaceSpace wrote. Overwriting
replaces a folder only when everything in it is in its manifest; a folder holding anything
else is refused. A symlinked output folder is followed (the link stays); new folders follow
the umask; a replaced folder keeps its mode.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

from ..core.errors import ExportError, OutputExistsError, OutputNotWritableError

MANIFEST = ".facespace-manifest.json"
MANIFEST_FORMAT = "facespace-output"
_STAGING, _OLD = ".facespace-partial", ".facespace-old"


def read_manifest(folder) -> list | None:
    """The files FaceSpace listed as written in `folder`, or None when there is no readable manifest."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
        files = data["files"] if data.get("format") == MANIFEST_FORMAT else None
        return [str(f) for f in files] if isinstance(files, list) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_manifest(folder, files) -> None:
    (Path(folder) / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "files": sorted(files)}, indent=1))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _writable(path: Path) -> bool:
    """Writable by us, and not marked read-only (root ignores the mode bits; the user's intent stands)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK) and bool(st.st_mode & stat.S_IWUSR)


class OutputFolder:
    def __init__(self, path, overwrite: bool = False):
        self.requested = Path(path).expanduser().absolute()
        # follow a symlinked folder: we replace what it points at, never the link
        self.path = Path(os.path.realpath(self.requested))
        self.overwrite = overwrite

    def _hidden(self, kind: str) -> Path:
        return self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}{kind}")

    def _recover(self) -> None:
        """Clean up after a run killed mid-way: its staging folders go; a set-aside previous
        folder comes back when the target is missing."""
        parent = self.path.parent
        if not parent.is_dir():
            return
        for p in parent.glob(f".{self.path.name}.*{_STAGING}"):
            shutil.rmtree(p, ignore_errors=True)
        olds = sorted(parent.glob(f".{self.path.name}.*{_OLD}"))
        for p in olds:
            if not self.path.exists() and not self.path.is_symlink():
                p.rename(self.path)
            else:
                shutil.rmtree(p, ignore_errors=True)

    def check(self) -> "OutputFolder":
        """Every check that can fail, before the work: raises OutputExistsError / OutputNotWritableError."""
        p = self.path
        shown = self.requested
        if p.exists() and not p.is_dir():
            raise OutputExistsError(f"{shown} exists and is a file; choose an output folder.")
        parent = p.parent
        probe = parent
        while not probe.exists():   # the nearest folder that exists must let us create the rest
            probe = probe.parent
        if not probe.is_dir() or not _writable(probe):
            raise OutputNotWritableError(f"Cannot write in {probe} (read-only or not a folder); "
                                         "choose another output folder.")
        if p.is_dir():
            if not _writable(p):
                raise OutputNotWritableError(f"The output folder {shown} is read-only; nothing was "
                                             "written. Choose another folder or make it writable.")
            entries = sorted(os.listdir(p))
            if entries and not self.overwrite:
                raise OutputExistsError(f"The output folder {shown} is not empty; choose another folder "
                                        "or allow overwriting.")
            ours = set(read_manifest(p) or ()) | {MANIFEST}
            foreign = [e for e in entries if e not in ours]
            if foreign:
                listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                raise OutputExistsError(f"The output folder {shown} holds files FaceSpace did not write "
                                        f"({listed}); nothing was replaced. Choose another folder.")
        return self

    def commit(self, write) -> list:
        """`write(staging: Path) -> iterable of file names` fills the staging folder; then it
        replaces the target in one step. Returns the written files (Paths, sorted)."""
        self._recover()
        self.check()
        p = self.path
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            staging = self._hidden(_STAGING)
            staging.mkdir()   # mode 0777 & ~umask, like any folder the user makes
            if p.is_dir():
                shutil.copymode(p, staging)
        except OSError as exc:
            raise OutputNotWritableError(f"Cannot write to {p.parent}: {exc.strerror or exc}") from exc
        try:
            names = [str(n) for n in write(staging)]
            write_manifest(staging, names)
            self._put_in_place(staging)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                what = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) \
                    else (exc.strerror or str(exc))
                raise ExportError(f"Writing the outputs to {self.requested} failed ({what}); nothing "
                                  "was written and any previous output is unchanged.") from exc
            raise
        return sorted(q for q in p.iterdir() if q.name != MANIFEST)

    def _put_in_place(self, staging: Path) -> None:
        p = self.path
        if not p.exists():
            staging.rename(p)
            return
        if _exchange(staging, p):   # staging now holds the previous output
            shutil.rmtree(staging, ignore_errors=True)
            return
        old = self._hidden(_OLD)    # no atomic exchange: a killed run is repaired by _recover
        p.rename(old)
        try:
            staging.rename(p)
        except BaseException:
            old.rename(p)
            raise
        shutil.rmtree(old, ignore_errors=True)


def check_file_target(path, what: str = "output file") -> Path:
    """A single output file (.blend, .glb, .fbx): not a folder, and its folder writable, tried
    for real with a probe file (root ignores mode bits; /proc refuses creation). Before the work."""
    p = Path(path).expanduser().absolute()
    if p.is_dir():
        raise OutputExistsError(f"The {what} {p} is a folder; give a file name.")
    probe = p.parent
    while not probe.exists():
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(probe))
        name = probe / f".{p.name}.{uuid.uuid4().hex[:8]}.probe"
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(name)
    except OSError as exc:
        raise OutputNotWritableError(f"Cannot write the {what} {p}: {probe} is not writable "
                                     f"({exc.strerror or exc}). Choose another location.") from None
    return p


def replace_file(write, path) -> Path:
    """`write(tmp_path)` writes a sibling temporary file, which then replaces `path` in one
    step: the file is complete or absent (or the previous one)."""
    p = Path(path).expanduser().absolute()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.{uuid.uuid4().hex[:8]}{_STAGING}{p.suffix}")
    try:
        write(tmp)
        if not tmp.is_file():
            raise ExportError(f"Writing {p} failed: the writer produced no file.")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except OSError as exc:
        raise ExportError(f"Writing {p} failed ({exc.strerror or exc}); nothing was written.") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
