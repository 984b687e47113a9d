"""engine.video on the real clips in ../shared/videos (decoded by OpenCV's FFmpeg backend)."""
from __future__ import annotations

import csv
import re
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED, need_shared
from engine.core.errors import ImageError, VideoError
from engine.detect.video import open_video


# The frames a player shows where that differs from videos.csv's count of stored frames: the
# MP4 edit list of 3DDFA's obama.mp4 shows 196744/90000 s = 2.19 s of its 6.32 s (from media
# time 4.12 s), i.e. 55 frames at 25 fps; FFmpeg (OpenCV's, and Blender's own) shows those 55.
SHOWN = {"3DDFA__demo_obama_obama.mp4": 55}


def _clips():
    p = SHARED / "videos" / "videos.csv"
    if not p.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{p} is absent: these tests read ../shared"))]
    with open(p, newline="") as f:
        return [pytest.param(r, id=r["file"]) for r in csv.DictReader(f)]


@pytest.mark.shared
@pytest.mark.parametrize("clip", _clips())
def test_real_clip_decodes_with_its_frame_count_fps_and_size(clip):
    """videos.csv's `info` (e.g. "512x512 25.0fps 3.12s 78fr") is what the clip must decode to."""
    path = need_shared("videos", clip["file"])
    w, h, fps, frames = re.match(r"(\d+)x(\d+) ([\d.]+)fps [\d.]+s (\d+)fr", clip["info"]).groups()
    shown = SHOWN.get(clip["file"], int(frames))
    with open_video(path) as v:
        assert (v.size, v.fps, v.frame_count) == ((int(w), int(h)), float(fps), int(frames))
        assert v.count_frames() == shown
        n, last_t, prev = 0, -1.0, None
        changed = 0
        for i, t, rgb in v:
            assert i == n and t == pytest.approx(i / v.fps) and t > last_t
            assert rgb.shape == (int(h), int(w), 3) and rgb.dtype == np.uint8
            if prev is not None:
                changed += int(np.abs(rgb.astype(np.int16) - prev).mean() > 0.1)
            prev, last_t, n = rgb.astype(np.int16), t, n + 1
        assert n == v.frames_read == shown
        assert changed > n // 2          # a moving face: the frames are really different images
        assert 30 < prev.mean() < 225    # decoded pixels, not a black/blank buffer


@pytest.mark.shared
def test_frames_are_rgb_and_iteration_restarts():
    path = need_shared("videos", "LivePortrait__driving_d0.mp4")
    import cv2
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    v = open_video(path)
    first = next(iter(v))[2]
    np.testing.assert_array_equal(first, bgr[:, :, ::-1])      # RGB, not OpenCV's BGR
    again = next(iter(v))                                     # a second pass starts at frame 0
    assert again[0] == 0
    np.testing.assert_array_equal(again[2], first)
    v.close()


@pytest.mark.shared
def test_memory_stays_bounded_over_a_long_clip():
    """354 frames of 512x512 (278 MB if all were kept): the peak stays at a few frames."""
    path = need_shared("videos", "LivePortrait__driving_d3.mp4")
    tracemalloc.start()
    try:
        with open_video(path) as v:
            n = sum(1 for _ in v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 354
    assert peak < 10 * 512 * 512 * 3, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.shared
def test_folder_of_frames_natural_order(tmp_path):
    path = need_shared("videos", "Thin-Plate-Spline-Motion-Model__assets_driving.mp4")
    with open_video(path) as v:
        real = [rgb for i, _, rgb in v if i < 12]
    for i, rgb in enumerate(real):
        Image.fromarray(rgb).save(tmp_path / f"frame_{i}.png")  # frame_10 sorts after frame_9
    (tmp_path / "notes.txt").write_text("not a frame")
    with open_video(tmp_path, fps=30) as f:
        assert (f.frame_count, f.fps, f.size) == (12, 30.0, (410, 412))
        got = list(f)
    assert [i for i, _, _ in got] == list(range(12))
    assert got[11][1] == pytest.approx(11 / 30)
    for (_, _, a), b in zip(got, real):
        np.testing.assert_array_equal(a, b)
    assert open_video(tmp_path).fps == 25.0  # a folder's default rate


def test_missing_empty_and_unreadable_sources_raise_typed_errors(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        open_video(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="not a video|no frame"):
        open_video(tmp_path / "text.mp4")
    (tmp_path / "frames").mkdir()
    with pytest.raises(VideoError, match="no frames"):
        open_video(tmp_path / "frames")
    assert issubclass(VideoError, ImageError)  # callers that catch ImageError keep working


@pytest.mark.shared
def test_truncated_videos(tmp_path):
    """A cut-off download: with the index (moov atom) at the end nothing can be read (typed
    error); with it at the start the frames that arrived decode and iteration stops cleanly."""
    end_index = need_shared("videos", "LivePortrait__driving_d0.mp4").read_bytes()      # moov last
    start_index = need_shared("videos", "Thin-Plate-Spline-Motion-Model__assets_driving.mp4").read_bytes()
    (tmp_path / "a.mp4").write_bytes(end_index[:len(end_index) // 2])
    with pytest.raises(VideoError, match="could not be opened"):
        open_video(tmp_path / "a.mp4")
    (tmp_path / "b.mp4").write_bytes(start_index[:len(start_index) // 2])
    with open_video(tmp_path / "b.mp4") as v:
        assert v.frame_count == 169                      # what the index promises
        n = v.count_frames()
        assert 20 < n < 169 and sum(1 for _ in v) == n == v.frames_read


def test_mixed_frame_sizes_in_a_folder(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(d / "0001.png")
    Image.fromarray(np.full((64, 80, 3), 100, np.uint8)).save(d / "0002.png")
    with pytest.raises(VideoError, match="one size"):
        list(open_video(d))
