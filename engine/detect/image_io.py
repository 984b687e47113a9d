"""Load any photo a user may have as an (H, W, 3) uint8 RGB array.

Handles EXIF orientation, grayscale, RGBA/LA (composited on white), palette, 16-bit and
float images, CMYK JPEGs and very large photos. Unreadable input raises ImageError with a
message an artist can act on.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..core.errors import ImageError

MIN_SIDE = 32  # smaller than this cannot hold a face worth reconstructing
MAX_PIXELS = 400_000_000  # 20000 x 20000; beyond this we refuse rather than exhaust memory

# Truncated files must fail loudly, not decode as grey bottoms.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def _name(source) -> str:
    return f"'{Path(source).name}'" if isinstance(source, (str, os.PathLike)) else "the image"


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("The image data is empty (0 bytes). Choose a photo file (JPEG or PNG).")
        fp = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"The photo {path} does not exist. Check the file path.")
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not a photo. Choose an image file (JPEG or PNG).")
        if path.stat().st_size == 0:
            raise ImageError(f"The file {_name(path)} is empty (0 bytes). It was probably not saved or "
                             "downloaded completely; choose another copy of the photo.")
        fp = path
    else:
        raise ImageError(f"Can't read an image from a {type(source).__name__}; give a file path, "
                         "bytes, a PIL image or a numpy array.")
    try:
        return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{_name(source).capitalize()} has too many pixels to process safely. "
                         "Scale it down (for example below 10000x10000 pixels).") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{_name(source).capitalize()} is not an image FaceSpace can read "
                         "(it may be a different kind of file with an image extension). "
                         "Save the photo as JPEG or PNG and try again.") from exc
    except OSError as exc:
        raise ImageError(f"{_name(source).capitalize()} could not be opened ({exc}).") from exc


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit / 32-bit greyscale: scale the full range into 8 bits instead of clipping
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        if mode == "F":
            hi = 1.0 if a.max() <= 1.0 else max(float(a.max()), 1.0)
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "CMYK":
        # Adobe-style JPEGs store CMYK inverted; PIL already handles the common case.
        return img.convert("RGB")
    return img.convert("RGB")


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {a.shape}.")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(a)) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _check_size(w: int, h: int, source) -> None:
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageError(f"{_name(source).capitalize()} is only {w}x{h} pixels, too small to hold a face. "
                         "Use a larger photo in which the face is at least about 100 pixels wide.")
    if w * h > MAX_PIXELS:
        raise ImageError(f"{_name(source).capitalize()} is {w}x{h} pixels, too large to process. "
                         "Scale it down below 20000x20000 pixels.")


def load_image(source) -> np.ndarray:
    """Path / bytes / PIL image / array -> (H, W, 3) uint8 RGB, upright per EXIF."""
    if isinstance(source, np.ndarray):
        a = _array_to_rgb(source)
        _check_size(a.shape[1], a.shape[0], source)
        return a
    img = _open(source)
    try:
        _check_size(*img.size, source)
        img.load()  # force the full decode now so truncation is caught here
        img = ImageOps.exif_transpose(img) or img
        rgb = _to_rgb(img)
        a = np.asarray(rgb, dtype=np.uint8)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{_name(source).capitalize()} is too large to process; scale it down.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg or "broken" in msg or "premature" in msg.lower():
            raise ImageError(f"{_name(source).capitalize()} is incomplete (the file is cut off, e.g. an "
                             "interrupted download or copy). Get a complete copy of the photo.") from exc
        raise ImageError(f"{_name(source).capitalize()} is damaged and can't be decoded ({msg}). "
                         "Open and re-save it in an image editor, or choose another photo.") from exc
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"{_name(source).capitalize()} has an unsupported layout {a.shape}.")
    return np.ascontiguousarray(a)


def check_image(image) -> np.ndarray:
    """The (H, W, 3) uint8 RGB array the detectors take, contiguous; else an ImageError."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError("Internal: expected an (H, W, 3) uint8 RGB image; load it with image_io.load_image.")
    return np.ascontiguousarray(image)
