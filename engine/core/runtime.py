"""Process-wide settings that must be in place before torch loads.

OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads otherwise spin while waiting, and on a busy
machine (2 cores, load average ~9 from other work) that made one 1024-px photo take 20 s
warm instead of 2 s, and the first photo 33 s instead of 8 s (docs/benchmarks.md). Passive
waiting costs nothing measurable on an idle machine. A value the user set is kept.
"""
from __future__ import annotations

import os
import sys


def configure_process() -> None:
    if "torch" in sys.modules:   # too late to matter; never half-apply
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
