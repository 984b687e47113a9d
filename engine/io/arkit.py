"""ICT-FaceKit's 53 expressions <-> Apple ARKit's 52 blendshapes, and Live Link Face CSV files.

Mapping (ICT-FaceKit names its shapes after ARKit's, with `_L`/`_R` for `Left`/`Right`; ICT's
`_L` shapes move the subject's own left side (+x in model space), as ARKit's `...Left` do):

| ICT (53)                                           | ARKit (52)                    | how        |
|----------------------------------------------------|-------------------------------|------------|
| 49 shapes: eyeBlink_L, ..., jawOpen, mouthClose,   | eyeBlinkLeft, ..., jawOpen,   | 1:1        |
| mouthSmile_R, noseSneer_R, ... (`X_L` -> `XLeft`,  | mouthClose, mouthSmileRight,  |            |
| `X_R` -> `XRight`, unsided names unchanged)        | noseSneerRight, ...           |            |
| browInnerUp_L + browInnerUp_R                      | browInnerUp                   | merge      |
| cheekPuff_L + cheekPuff_R                          | cheekPuff                     | merge      |
| (none)                                             | tongueOut                     | no ICT     |

Every ICT shape has an ARKit counterpart; ARKit's tongueOut has none in ICT (written as 0,
ignored on reading). A merge is written as the mean of the two sides (exact for symmetric
motion; an asymmetric inner-brow raise or cheek puff loses its asymmetry), and read back by
giving both ICT sides the ARKit value.

Live Link Face CSV (Epic's iOS app, "Export take" -> CSV), as reproduced by public importers
and exporters: a header

    Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,
    HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll

(the 52 ARKit names in `LIVE_LINK_ORDER`, PascalCase; note JawRight before JawLeft and
MouthRight before MouthLeft), then one row per frame: a timecode `HH:MM:SS:FF.fff` (FF the
frame within the second at the take's frame rate, .fff the sub-frame fraction), the count 61
(52 blendshapes + 9 head/eye angles), the 52 weights in [0, 1] and the 9 angles. The angles
are written in radians (assumption: public recordings hold small values consistent with
radians; Live Link Face documents no unit). The file does not store its frame rate: give
`fps` when reading, or let the reader infer a standard rate from the largest FF it sees.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import AnimationFileError

# ICT-FaceKit's expression order (the installed model's `expression_names`).
ICT_NAMES = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R")

# ARKit's 52 blendshapes (Apple's camelCase) in Live Link Face's column order.
LIVE_LINK_ORDER = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight",
    "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut")
ARKIT_NAMES = LIVE_LINK_ORDER

MERGED = {"browInnerUp": ("browInnerUp_L", "browInnerUp_R"), "cheekPuff": ("cheekPuff_L", "cheekPuff_R")}
NO_ICT = ("tongueOut",)


def ict_to_arkit_name(name: str) -> str:
    """ICT shape name -> its ARKit name (`X_L` -> `XLeft`, merged sides -> the merged name)."""
    for merged, sides in MERGED.items():
        if name in sides:
            return merged
    if name.endswith("_L"):
        return name[:-2] + "Left"
    if name.endswith("_R"):
        return name[:-2] + "Right"
    return name


ICT_TO_ARKIT = {n: ict_to_arkit_name(n) for n in ICT_NAMES}
ARKIT_TO_ICT = {a: tuple(n for n in ICT_NAMES if ICT_TO_ARKIT[n] == a) for a in ARKIT_NAMES}  # () for tongueOut
HEAD_EYE_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
LIVE_LINK_HEADER = ("Timecode", "BlendShapeCount",
                    *(n[0].upper() + n[1:] for n in LIVE_LINK_ORDER), *HEAD_EYE_COLUMNS)
STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 120.0)


def _ict_index(ict_names):
    names = list(ICT_NAMES if ict_names is None else ict_names)
    missing = set(ICT_NAMES) - set(names)
    if missing:
        raise ValueError(f"expression names lack {sorted(missing)}")
    return names


def to_arkit(weights, ict_names=None) -> np.ndarray:
    """ICT weights (..., 53) in `ict_names` order -> ARKit (..., 52) in `LIVE_LINK_ORDER`."""
    names = _ict_index(ict_names)
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros(w.shape[:-1] + (len(ARKIT_NAMES),))
    for j, a in enumerate(ARKIT_NAMES):
        sources = ARKIT_TO_ICT[a]
        if sources:  # the mean of a merged pair, the value itself for a 1:1 shape
            out[..., j] = np.mean([w[..., names.index(n)] for n in sources], axis=0)
    return out


def from_arkit(arkit, ict_names=None) -> np.ndarray:
    """ARKit (..., 52) in `LIVE_LINK_ORDER` -> ICT (..., 53) in `ict_names` order (tongueOut dropped)."""
    names = _ict_index(ict_names)
    a = np.asarray(arkit, dtype=np.float64)
    out = np.zeros(a.shape[:-1] + (len(names),))
    for i, n in enumerate(names):
        out[..., i] = a[..., ARKIT_NAMES.index(ICT_TO_ARKIT[n])]
    return out


# -- timecodes -----------------------------------------------------------------------------

_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;](\d+)(?:\.(\d+))?\s*$")


def format_timecode(seconds: float, fps: float) -> str:
    """`HH:MM:SS:FF.fff` for a time in seconds at `fps` (FF = frame in the second, .fff = sub-frame)."""
    frames = round(float(seconds) * fps * 1000) / 1000  # whole thousandths of a frame
    whole_s = int(frames // fps)
    in_s = frames - whole_s * fps
    ff = int(in_s // 1)
    sub = int(round((in_s - ff) * 1000))
    if sub == 1000:
        ff, sub = ff + 1, 0
    h, rem = divmod(whole_s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{sub:03d}"


def parse_timecode(text: str) -> tuple[int, float]:
    """`HH:MM:SS:FF[.fff]` -> (whole seconds, frames within the second incl. fraction)."""
    m = _TIMECODE.match(text)
    if not m:
        raise ValueError(f"not a timecode: {text!r}")
    h, mi, s, ff, sub = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s), int(ff) + (float("0." + sub) if sub else 0.0)


# -- CSV -----------------------------------------------------------------------------------

def write_live_link_csv(path, times, weights, fps: float, ict_names=None, head=None, eyes=None,
                        start_s: float = 0.0) -> None:
    """A Live Link Face CSV: `times` (T,) s, `weights` (T, 53) ICT (order `ict_names`), timecodes
    at `fps` starting at `start_s`; `head` (T, 3) yaw, pitch, roll and `eyes` (T, 6) left yaw,
    pitch, roll, right yaw, pitch, roll in radians (zeros when None)."""
    times = np.asarray(times, dtype=np.float64)
    ark = np.clip(to_arkit(weights, ict_names), 0.0, 1.0)
    if ark.shape != (len(times), 52):
        raise ValueError(f"weights must be (T, 53) for T={len(times)} times")
    angles = np.zeros((len(times), 9))
    if head is not None:
        angles[:, :3] = head
    if eyes is not None:
        angles[:, 3:] = eyes
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LIVE_LINK_HEADER)
        for t, a, g in zip(times, ark, angles):
            w.writerow([format_timecode(start_s + t, fps), 61, *(f"{v:.8g}" for v in a), *(f"{v:.8g}" for v in g)])


@dataclass
class LiveLinkTake:
    """A Live Link Face CSV read back: `times` (T,) s from the first row, `weights` (T, 53) in
    `names` order (ICT), `arkit` (T, 52) as stored (`LIVE_LINK_ORDER`), `head` (T, 3) yaw,
    pitch, roll and `eyes` (T, 6) as stored (NaN where a column is absent), `fps` used for the
    timecodes, `start_timecode` of the first row."""
    times: np.ndarray
    weights: np.ndarray
    names: list
    arkit: np.ndarray
    head: np.ndarray
    eyes: np.ndarray
    fps: float
    start_timecode: str

    def by_name(self) -> dict:
        """ICT name -> (T,) weights."""
        return {n: self.weights[:, i] for i, n in enumerate(self.names)}


def read_live_link_csv(path, fps: float | None = None, ict_names=None) -> LiveLinkTake:
    """Read a Live Link Face CSV (column names matched case-insensitively, extra columns ignored,
    missing blendshape columns read as 0 but at least one must be present). Raises
    `AnimationFileError` for a file that is missing, empty or malformed."""
    def bad(msg):
        return AnimationFileError(f"{path} is not a Live Link Face CSV FaceSpace can read: {msg}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except FileNotFoundError:
        raise AnimationFileError(f"The file {path} does not exist. Check the file path.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise bad(f"it cannot be read as text ({exc}).") from exc
    if not rows:
        raise bad("it is empty.")
    header = [c.strip().lower() for c in rows[0]]
    if "timecode" not in header:
        raise bad("the first line has no 'Timecode' column.")
    col = {name: i for i, name in enumerate(header)}
    shape_cols = [col.get(n.lower()) for n in ARKIT_NAMES]
    if all(c is None for c in shape_cols):
        raise bad("it has no ARKit blendshape columns (EyeBlinkLeft, JawOpen, ...).")
    angle_cols = [col.get(n.lower()) for n in HEAD_EYE_COLUMNS]
    body = rows[1:]
    if not body:
        raise bad("it has a header but no frames.")
    T = len(body)
    arkit = np.zeros((T, 52))
    angles = np.full((T, 9), np.nan)
    secs, frames = np.zeros(T, dtype=np.int64), np.zeros(T)
    for r, row in enumerate(body):
        line = r + 2
        if len(row) < len(header):
            raise bad(f"line {line} has {len(row)} values for {len(header)} columns.")
        try:
            secs[r], frames[r] = parse_timecode(row[col["timecode"]])
        except ValueError:
            raise bad(f"line {line} has the timecode {row[col['timecode']]!r}, expected HH:MM:SS:FF.fff.") from None
        try:
            for j, c in enumerate(shape_cols):
                if c is not None:
                    arkit[r, j] = float(row[c])
            for j, c in enumerate(angle_cols):
                if c is not None:
                    angles[r, j] = float(row[c])
        except ValueError as exc:
            raise bad(f"line {line} has a value that is not a number ({exc}).") from None
    if not np.all(np.isfinite(arkit)):
        raise bad("some blendshape values are not finite numbers.")
    if fps is None:
        top = float(np.floor(frames.max()))
        fps = next((r for r in STANDARD_RATES if r > top), top + 1.0)
    times = secs + frames / fps
    times = times - times[0]
    if np.any(np.diff(times) < 0):
        raise bad("the timecodes go backwards from one line to the next.")
    return LiveLinkTake(times=times, weights=np.clip(from_arkit(arkit, ict_names), 0.0, 1.0),
                        names=_ict_index(ict_names), arkit=arkit, head=angles[:, :3], eyes=angles[:, 3:],
                        fps=float(fps), start_timecode=body[0][col["timecode"]].strip())
