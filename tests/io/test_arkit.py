"""ICT <-> ARKit mapping and Live Link Face CSV files (written, read back, and malformed)."""
from __future__ import annotations

import collections

import numpy as np
import pytest

from engine.core.errors import AnimationFileError
from engine.io.arkit import (ARKIT_NAMES, ICT_NAMES, ICT_TO_ARKIT, LIVE_LINK_HEADER, MERGED, NO_ICT,
                             format_timecode, from_arkit, parse_timecode, read_live_link_csv, to_arkit,
                             write_live_link_csv)

# The header of a Live Link Face take, as public Live Link Face importers/exporters spell it.
PUBLISHED_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,"
    "EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,"
    "MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,"
    "MouthDimpleRight,MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,"
    "MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,"
    "CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,HeadRoll,"
    "LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll")


def test_ict_names_are_the_installed_models(ict_model):
    assert list(ict_model.expression_names) == list(ICT_NAMES)


def test_mapping_summary():
    assert len(ICT_NAMES) == 53 and len(ARKIT_NAMES) == len(set(ARKIT_NAMES)) == 52
    assert set(ICT_TO_ARKIT) == set(ICT_NAMES) and set(ICT_TO_ARKIT.values()) <= set(ARKIT_NAMES)
    count = collections.Counter(ICT_TO_ARKIT.values())
    one_to_one = [a for a, n in count.items() if n == 1]
    assert len(one_to_one) == 49
    assert sorted(a for a, n in count.items() if n == 2) == sorted(MERGED) == ["browInnerUp", "cheekPuff"]
    assert set(ARKIT_NAMES) - set(count) == set(NO_ICT) == {"tongueOut"}
    assert ICT_TO_ARKIT["eyeBlink_L"] == "eyeBlinkLeft" and ICT_TO_ARKIT["mouthSmile_R"] == "mouthSmileRight"
    assert ICT_TO_ARKIT["jawOpen"] == "jawOpen"


def test_ict_left_is_the_subjects_left(ict_model):
    """ARKit's `...Left` acts on the face's own left; ICT's `_L` must move the +x side
    (model space: +x is the subject's left)."""
    for i, n in enumerate(ict_model.expression_names):
        if n.endswith(("_L", "_R")):
            d = np.linalg.norm(ict_model.expression_basis[i], axis=1)
            x = float((d * ict_model.mean[:, 0]).sum() / d.sum())
            assert (x > 0.5) if n.endswith("_L") else (x < -0.5), n


def test_header_is_live_link_faces():
    assert ",".join(LIVE_LINK_HEADER) == PUBLISHED_HEADER


def test_to_and_from_arkit():
    rng = np.random.default_rng(0)
    w = rng.random((7, 53))
    a = to_arkit(w)
    assert a.shape == (7, 52)
    i = ICT_NAMES.index
    np.testing.assert_allclose(a[:, ARKIT_NAMES.index("jawRight")], w[:, i("jawRight")])
    np.testing.assert_allclose(a[:, ARKIT_NAMES.index("browInnerUp")],
                               (w[:, i("browInnerUp_L")] + w[:, i("browInnerUp_R")]) / 2)
    assert np.all(a[:, ARKIT_NAMES.index("tongueOut")] == 0)
    back = from_arkit(a)
    merged = [i(s) for sides in MERGED.values() for s in sides]
    keep = [k for k in range(53) if k not in merged]
    np.testing.assert_allclose(back[:, keep], w[:, keep])                # 1:1 shapes come back exactly
    np.testing.assert_allclose(back[:, i("cheekPuff_L")], back[:, i("cheekPuff_R")])
    shuffled = list(reversed(ICT_NAMES))                                  # any ICT order
    np.testing.assert_allclose(to_arkit(w[:, ::-1], shuffled), a)


@pytest.mark.parametrize("fps", [24, 25, 30, 60])
def test_timecodes(fps):
    for k in (0, 1, fps - 1, fps, 3 * 3600 * fps + 17):
        tc = format_timecode(k / fps, fps)
        s, f = parse_timecode(tc)
        assert s + f / fps == pytest.approx(k / fps, abs=1e-9)
    assert format_timecode(3725.5 + 1 / 90, 30) == "01:02:05:15.333"
    assert parse_timecode("14:03:52:28.207") == (14 * 3600 + 3 * 60 + 52, pytest.approx(28.207))


def _symmetric_weights(T, seed=1):
    w = np.random.default_rng(seed).random((T, 53))
    for l, r in MERGED.values():
        w[:, ICT_NAMES.index(r)] = w[:, ICT_NAMES.index(l)]
    return w


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_csv_round_trip(tmp_path, fps):
    T = 2 * fps + 7
    times = np.arange(T) / fps
    w = _symmetric_weights(T)
    head = np.random.default_rng(2).normal(0, 0.2, (T, 3))
    p = tmp_path / "take.csv"
    write_live_link_csv(p, times, w, fps, head=head, start_s=10 * 3600 + 5.0)
    lines = p.read_text().splitlines()
    assert lines[0] == PUBLISHED_HEADER and len(lines) == T + 1
    assert lines[1].startswith("10:00:05:00.000,61,")
    take = read_live_link_csv(p)                                          # the rate is inferred
    assert take.fps == fps and take.start_timecode == "10:00:05:00.000"
    np.testing.assert_allclose(take.times, times, atol=1e-9)
    np.testing.assert_allclose(take.weights, w, atol=1e-7)
    np.testing.assert_allclose(take.head, head, atol=1e-7)
    np.testing.assert_allclose(take.eyes, 0)
    assert take.names == list(ICT_NAMES)
    np.testing.assert_allclose(take.by_name()["jawOpen"], w[:, ICT_NAMES.index("jawOpen")], atol=1e-7)


def test_reader_tolerates_extra_columns_order_and_case(tmp_path):
    names = [h.lower() if k % 3 == 0 else h for k, h in enumerate(LIVE_LINK_HEADER)]
    order = list(range(2, 54))[::-1]                                      # blendshapes reversed
    cols = ["Extra"] + [names[0], names[1]] + [names[k] for k in order] + ["Comment"]
    a = np.linspace(0, 1, 52)
    rows = [",".join(cols)]
    for f in range(3):
        rows.append(",".join(["x", f"00:00:01:{f:02d}.500", "61"] + [f"{a[k - 2]:.6f}" for k in order] + ["hi"]))
    p = tmp_path / "odd.csv"
    p.write_text("\ufeff" + "\n".join(rows) + "\n\n")                     # BOM and a trailing blank line
    take = read_live_link_csv(p, fps=30)
    np.testing.assert_allclose(take.times, [0, 1 / 30, 2 / 30])
    np.testing.assert_allclose(take.arkit[0], a, atol=1e-6)
    assert np.all(np.isnan(take.head))                                    # absent columns: NaN, not 0
    np.testing.assert_allclose(take.weights[1, ICT_NAMES.index("jawOpen")], a[ARKIT_NAMES.index("jawOpen")], atol=1e-6)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("a,b,c\n1,2,3\n", "Timecode"),
    ("Timecode,BlendShapeCount,Foo\n00:00:00:00.000,61,1\n", "no ARKit blendshape"),
    ("Timecode,BlendShapeCount,JawOpen\n", "no frames"),
    ("Timecode,BlendShapeCount,JawOpen\n12.5,61,0.1\n", "timecode"),
    ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,wide\n", "not a number"),
    ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61\n", "2 values"),
    ("Timecode,BlendShapeCount,JawOpen\n00:00:01:00.000,61,0\n00:00:00:05.000,61,0\n", "backwards"),
])
def test_malformed_csv_raises_typed_error(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(AnimationFileError, match=match):
        read_live_link_csv(p, fps=30)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(AnimationFileError, match="does not exist"):
        read_live_link_csv(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(AnimationFileError):
        read_live_link_csv(tmp_path / "bin.csv")
