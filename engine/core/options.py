"""The one set of option rules for every surface (CLI, ReconstructOptions, api.py, the headless
script, the add-on's operators): same input, same answer, same message.

Imports nothing heavy (no torch, no numpy): the add-on's registration path may import it.
Each `check_*` returns the normalised value or raises OptionError (exit status 2 at the CLI).
"""
from __future__ import annotations

from .errors import DeviceUnavailableError, OptionError

TEXTURE_SIZES = tuple(2 ** k for k in range(5, 14))   # 32 ... 8192 (32-128: previews and tests)
DEFAULT_TEXTURE_SIZE = 2048
QUALITIES = ("instant", "fast", "balanced", "high")   # instant: the learned regression alone, no fitting
DEFAULT_QUALITY = "balanced"
DEVICES = ("auto", "cpu", "cuda", "mps")
REGRESSORS = ("auto", "genova", "landmark", "none")

TEXTURE_SIZE_MESSAGE = ("The texture size must be a power of two from 32 to 8192 pixels "
                        f"({', '.join(map(str, TEXTURE_SIZES))}).")


def _int(value, what: str) -> int:
    if isinstance(value, bool):
        raise OptionError(f"{what} must be a whole number, not {value!r}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{what} must be a whole number, not {value!r}.") from None
    if f != f or f != int(f):
        raise OptionError(f"{what} must be a whole number, not {value!r}.")
    return int(f)


def check_texture_size(value) -> int:
    try:
        size = _int(value, "The texture size")
    except OptionError:
        size = None
    if size not in TEXTURE_SIZES:
        raise OptionError(f"{TEXTURE_SIZE_MESSAGE} {value!r} is not one of them.")
    return size


def check_face_index(value):
    """None = the largest face; 0, 1, ... = that face, largest first; negative is an error."""
    if value is None:
        return None
    index = _int(value, "The face number")
    if index < 0:
        raise OptionError(f"The face number must be 0 or more (0 = the largest face; leave it out for "
                          f"the largest), not {index}.")
    return index


def check_quality(value) -> str:
    q = str(value).lower()
    if q not in QUALITIES:
        raise OptionError(f"Unknown quality {value!r}; choose one of {', '.join(QUALITIES)}.")
    return q


def check_regressor(value) -> str:
    r = str(value).lower()
    if r not in REGRESSORS:
        raise OptionError(f"Unknown regressor {value!r}; choose one of {', '.join(REGRESSORS)}.")
    return r


def check_device_name(value) -> str:
    """The name only (cheap, no torch): what `check_device` checks against the machine."""
    d = str(value).lower()
    if d not in DEVICES:
        raise OptionError(f"Unknown device {value!r}; choose one of {', '.join(DEVICES)}.")
    return d


def available_devices() -> tuple:
    """The devices this machine has, cpu first (imports torch)."""
    import torch
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return tuple(out)


def check_device(value) -> str:
    """The name, checked against the machine: DeviceUnavailableError when it lacks it."""
    d = check_device_name(value)
    if d != "auto":
        have = available_devices()
        if d not in have:
            label = {"cuda": "A CUDA (NVIDIA) GPU", "mps": "Apple's Metal (MPS) GPU"}[d]
            raise DeviceUnavailableError(f"{label} was asked for, but this machine has none; choose "
                                         f"'auto' or one of: {', '.join(have)}.")
    return d


def check_all(*, face_index=None, texture_size=DEFAULT_TEXTURE_SIZE, quality=DEFAULT_QUALITY,
              device="auto", regressor="auto", check_machine=True) -> dict:
    """Every option at once, normalised (the keyword arguments of ReconstructOptions)."""
    return {"face_index": check_face_index(face_index), "texture_size": check_texture_size(texture_size),
            "quality": check_quality(quality),
            "device": check_device(device) if check_machine else check_device_name(device),
            "regressor": check_regressor(regressor)}
