"""An unexpected failure at a user surface: a short message for the artist, the traceback in a file."""
from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from .paths import data_dir


def log_traceback(exc: BaseException, where: str = "facespace") -> Path | None:
    """Write `exc`'s traceback to <data dir>/logs/ (else the temp folder); its path, or None."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    name = f"{where}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (data_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def internal_error_message(exc: BaseException, where: str = "facespace") -> str:
    """'FaceSpace hit an internal problem ...' naming the log file with the details."""
    path = log_traceback(exc, where)
    where_text = f"the details are in {path}" if path else "the details could not be saved"
    return (f"FaceSpace hit an internal problem ({type(exc).__name__}: {str(exc)[:200]}); {where_text}. "
            "Please report it with that file.")
