"""Keep native libraries' log lines off the user's terminal.

mediapipe 0.10.21 / TFLite write their "W0000 ... inference_feedback_manager" and
"landmark_projection_calculator" lines from C++ straight to file descriptor 2 during the first
graph run. Measured: GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL and absl's verbosity do not stop
them; redirecting fd 2 around that first run does. Later runs log nothing.
"""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """fd 2 -> /dev/null for the block (Python's sys.stderr is flushed first and restored after)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no fd 2 (some embedded hosts): nothing to silence
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
