"""Image I/O: the only place in the library that converts files / PIL / numpy to tensors and back.

Conventions (used by every other module):

* images inside the library are ``torch.Tensor`` of shape ``[N, 3, H, W]``, RGB, range ``[0, 1]``;
* images at the boundary are 8-bit RGB ``PIL.Image.Image`` objects, as returned by
  :func:`open_image`, which accepts anything a user may upload and fails with an
  :class:`ImageError` whose message the user can act on, or uint8 numpy arrays (H, W, 3)
  (the full-resolution translators, which never hold a whole photo in float);
* every conversion between them lives here: :func:`pil_to_tensor` / :func:`tensor_to_pil`,
  :func:`array_to_tensor` / :func:`tensor_to_array`, and the element-wise :func:`to_unit_float`
  (x / 255) and :func:`to_uint8` (round(255 x)), which invert each other exactly; so does tensor
  resizing (:func:`resize`, :func:`fit_shape`, :func:`fit_size`). Colour spaces are in ``colour.py``.

Decoding rules of :func:`open_image`: EXIF orientation is applied; alpha is composited over
white; 16-bit and float images are scaled (not clipped) to 8 bits; animated files give their
first frame; images whose header claims more than ``MAX_DECODE_PIXELS`` are refused before
decoding; images above ``max_pixels`` are downscaled (JPEGs are decoded at 1/2, 1/4 or 1/8
scale first via ``draft``).  Truncated files raise instead of decoding half an image.
"""

from __future__ import annotations

import io
import math
import os
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from .files import atomic_write

try:  # colour management is optional: Pillow may be built without littlecms
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on the Pillow build
    ImageCms = None

__all__ = [
    "ImageError",
    "DEFAULT_MAX_PIXELS",
    "MAX_DECODE_PIXELS",
    "open_image",
    "fit_longest_side",
    "pil_to_tensor",
    "tensor_to_pil",
    "as_uint8_rgb",
    "array_to_tensor",
    "tensor_to_array",
    "to_unit_float",
    "to_uint8",
    "resize",
    "fit_shape",
    "fit_size",
    "save_png",
]


class ImageError(ValueError):
    """A user-facing problem with an input image; str(e) is a message a user can act on."""


DEFAULT_MAX_PIXELS = 64_000_000  # larger images are downscaled (Lanczos, aspect kept), never refused
MAX_DECODE_PIXELS = 400_000_000  # header claims above this are refused before decoding

# Formats we decode. Others (EPS runs Ghostscript, exotic scientific formats, ...) are refused.
_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "AVIF")
_FORMAT_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_NO_IMAGE = "No image given: upload or choose an image first."

# ----------------------------------------------------------------------------- open_image


def open_image(source, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``source`` into an 8-bit RGB PIL image with at most ``max_pixels`` pixels.

    ``source``: a path (str / PathLike), bytes, a binary file object, a ``PIL.Image.Image``
    or a numpy array of shape (H, W), (H, W, 3) or (H, W, 4) with dtype uint8, uint16
    (full 16-bit range) or float ([0, 1]; scaled by its maximum if that exceeds 1).

    ``info["original_size"]`` of the result is ``(w, h)`` after EXIF rotation and before any
    downscaling, so callers can tell the user the image was reduced.
    Raises :class:`ImageError` for anything that is not a readable image.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    # The real guard is the explicit check in _decode; this keeps Pillow's own check consistent.
    Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS

    if isinstance(source, Image.Image):
        return _decode(source, max_pixels=max_pixels, own=False)
    if isinstance(source, np.ndarray):
        return _decode(_array_to_pil(source), max_pixels=max_pixels, own=True)

    fp, name = _open_source(source)
    try:
        with Image.open(fp, formats=_available_formats()) as img:
            return _decode(img, max_pixels=max_pixels, own=True)
    except Image.DecompressionBombError as e:  # Pillow refuses > 2 * MAX_IMAGE_PIXELS at open
        raise ImageError(_too_large_message(None)) from e
    except UnidentifiedImageError as e:
        raise ImageError(_unidentified_message(fp, name)) from e
    except FileNotFoundError as e:
        raise ImageError(f"File not found: {fp}") from e
    except ImageError:
        raise
    except _DECODE_ERRORS as e:  # corrupt header
        raise ImageError(f"Could not read the image: the file is truncated or corrupt ({e})") from e


def _open_source(source) -> tuple[object, str]:
    """Validate a path / bytes / file source; return (what Image.open takes, display name)."""
    if source is None:
        raise ImageError(_NO_IMAGE)
    if isinstance(source, (str, os.PathLike)):
        text = os.fsdecode(source)
        if not text.strip():
            raise ImageError(_NO_IMAGE)
        if text.startswith(("http://", "https://")):
            raise ImageError("URLs are not supported: download the image and pass the file instead.")
        path = Path(text)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageError(f"File not found: {path}") from None
        except OSError as e:
            raise ImageError(f"Cannot read {path}: {e.strerror}") from None
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not an image file.")
        if size == 0:
            raise ImageError(f"The file is empty (0 bytes): {path.name}")
        return path, path.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageError("The file is empty (0 bytes).")
        return io.BytesIO(data), "the uploaded data"
    if hasattr(source, "read"):
        if not isinstance(source.read(0), bytes):
            raise TypeError("The file object is in text mode; open it with mode 'rb'.")
        fp = source if _seekable(source) else io.BytesIO(source.read())
        fp.seek(0, io.SEEK_END)
        empty = fp.tell() == 0
        fp.seek(0)  # Image.open reads from the start anyway
        name = getattr(source, "name", None)
        name = Path(name).name if isinstance(name, str) else "the uploaded data"
        if empty:
            raise ImageError(f"The file is empty (0 bytes): {name}")
        return fp, name
    raise TypeError(
        f"Unsupported image source {type(source).__name__}: pass a path, bytes, a binary file, "
        "a PIL image or a numpy array."
    )


def _seekable(fp) -> bool:
    try:
        return bool(fp.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def _available_formats() -> tuple[str, ...]:
    Image.init()  # registers every plugin once; later calls are no-ops
    return tuple(f for f in _FORMATS if f in Image.OPEN)


# File signatures, to name what an unreadable file is (the first bytes of the file).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"%PDF", "PDF"), (b"PK\x03\x04", "zip"),
    (b"%!PS", "PostScript"), (b"\x1f\x8b", "gzip"),
)  # fmt: skip
_IMAGE_SIGNATURES = {"PNG", "JPEG", "GIF", "BMP", "TIFF"}


def _unidentified_message(fp, name: str) -> str:
    try:
        if isinstance(fp, Path):
            with fp.open("rb") as f:
                head = f.read(512)
        else:
            fp.seek(0)
            head = fp.read(512)
    except OSError:
        head = b""
    start = head.lstrip().lower()
    signature = next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)
    if start.startswith((b"<!doctype html", b"<html")):
        why = "it is an HTML page; was the download blocked or redirected?"
    elif signature in _IMAGE_SIGNATURES:
        why = f"it starts as a {signature} file but is truncated or corrupt; upload the original again"
    elif signature is not None:
        why = f"it is a {signature} file, not an image"
    elif head and not any(b < 9 or 13 < b < 32 for b in head):
        why = "it looks like a text file"
    else:
        why = f"unknown or unsupported format; use {_FORMAT_NAMES}"
    return f"Not an image file ({why}): {name}"


def _too_large_message(size: tuple[int, int] | None) -> str:
    claim = f" ({size[0]}x{size[1]} = {size[0] * size[1]:,} pixels)" if size else ""
    return (
        f"The image is too large to open{claim}: the limit is {MAX_DECODE_PIXELS:,} pixels. "
        "Resize it with an image editor first."
    )


def _decode(img: Image.Image, *, max_pixels: int, own: bool) -> Image.Image:
    """Check, load, orient, convert and shrink ``img``. ``own``: we may modify ``img`` in place."""
    source = img
    w, h = img.size
    if w * h > MAX_DECODE_PIXELS:  # header only so far: nothing decoded yet
        raise ImageError(_too_large_message((w, h)))
    if w * h == 0:
        raise ImageError("The image is empty (0 pixels).")
    if own and isinstance(img, JpegImagePlugin.JpegImageFile) and w * h > max_pixels:
        img.draft("RGB", _fit_size(w, h, max_pixels))  # libjpeg decodes at 1/2, 1/4 or 1/8 scale
    try:
        img.load()  # full decode now: a truncated file raises here (LOAD_TRUNCATED_IMAGES is False)
    except MemoryError as e:
        raise ImageError("The image is too large to decode with the memory available.") from e
    except _DECODE_ERRORS as e:
        raise ImageError(f"Could not read the image: the file is truncated or corrupt ({e})") from e

    loaded_size = img.size
    try:
        img = ImageOps.exif_transpose(img)
    except _DECODE_ERRORS + (KeyError, TypeError):
        pass  # unreadable EXIF: keep the stored orientation rather than refusing a valid image
    if img.size != loaded_size:  # rotated by 90 degrees
        w, h = h, w

    keep_icc = img.mode in ("RGB", "RGBA") and "icc_profile" in img.info  # still an RGB profile
    icc = img.info.get("icc_profile")
    img = _to_rgb8(img)
    if img.width * img.height > max_pixels:
        img = img.resize(_fit_size(img.width, img.height, max_pixels), Image.LANCZOS, reducing_gap=3.0)
    if img is source and not own:
        img = img.copy()  # never change the caller's image
    img.info = {"original_size": (w, h)}
    if keep_icc:
        img.info["icc_profile"] = icc
    return img


def _fit_size(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    """Largest (w', h') with the aspect of (w, h) and w' * h' <= max_pixels."""
    if w * h <= max_pixels:
        return w, h
    scale = math.sqrt(max_pixels / (w * h))
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    while nw * nh > max_pixels:  # guard against float rounding
        if nw >= nh:
            nw -= 1
        else:
            nh -= 1
    return nw, nh


def _to_rgb8(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit "RGB"; alpha composited over white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit grey (mode "I" holds it too)
        a = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
        return Image.fromarray(((a + 128) // 257).astype(np.uint8)).convert("RGB")
    if mode == "F":
        return Image.fromarray(_float_to_uint8(np.asarray(img))).convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(img)
    if img.has_transparency_data:  # RGBA, LA, PA, P or L with a transparent colour, ...
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    try:
        return img.convert("RGB")
    except ValueError as e:
        raise ImageError(f"Unsupported colour mode {mode!r}: save the image as 8-bit RGB.") from e


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc and ImageCms is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # broken profile: fall back to the naive conversion
    return img.convert("RGB")


def _float_to_uint8(a: np.ndarray) -> np.ndarray:
    """Float image -> uint8: [0, 1] if its max <= 1, else scaled by its max; negatives -> 0."""
    a = np.asarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ImageError("The image contains NaN or infinite values.")
    peak = float(a.max())
    if peak > 1.0:
        a = a / peak
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _array_to_pil(a: np.ndarray) -> Image.Image:
    """numpy (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> PIL image in mode L, RGB or RGBA."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        hint = ""
        if a.ndim == 3 and a.shape[0] in (1, 3, 4):
            hint = " It looks channels-first: use a.transpose(1, 2, 0)."
        raise ImageError(f"Expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}.{hint}")
    if a.size == 0:
        raise ImageError(f"The image is empty (array shape {a.shape}).")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        a = _float_to_uint8(a)
    elif np.issubdtype(a.dtype, np.integer) and a.dtype != np.uint8:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise ImageError(
                f"Integer pixel values must lie in [0, 255], got [{lo}, {hi}]; use uint16 for 16-bit data."
            )
        a = a.astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(f"Unsupported array dtype {a.dtype}: use uint8, uint16 or float.")
    return Image.fromarray(np.ascontiguousarray(a))


# ----------------------------------------------------------------------------- resizing, tensors


def fit_longest_side(img: Image.Image, side: int) -> Image.Image:
    """Resize so that max(w, h) == side, keeping the aspect: Lanczos down, bicubic up."""
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ValueError(f"side must be a positive int, got {side!r}")
    w, h = img.size
    if max(w, h) == side:
        return img.copy()
    scale = side / max(w, h)
    size = (side, max(1, round(h * scale))) if w >= h else (max(1, round(w * scale)), side)
    resample = Image.LANCZOS if scale < 1 else Image.BICUBIC
    return img.resize(size, resample)


def pil_to_tensor(img: Image.Image, *, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """PIL image -> [1, 3, H, W] tensor in [0, 1]; non-RGB modes go through the open_image rules."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"Expected a PIL image, got {type(img).__name__}; use open_image() first.")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    a = np.array(_to_rgb8(img), dtype=np.uint8)  # (H, W, 3), 0..255, own copy
    return array_to_tensor(a, device=device, dtype=dtype)[None].contiguous()  # [1, 3, H, W]


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """[1, 3, H, W] or [3, H, W] float tensor (range [0, 1], clamped) -> 8-bit RGB PIL image."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"Expected a torch.Tensor, got {type(t).__name__}")
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"Expected a tensor of shape [1, 3, H, W] or [3, H, W], got {list(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"Expected a float tensor in [0, 1], got dtype {t.dtype}")
    if torch.isnan(t.detach()).any():
        raise ValueError("The image tensor contains NaN values.")
    return Image.fromarray(tensor_to_array(t))  # (H, W, 3) uint8


def to_unit_float(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 tensor (any shape, any layout: kept) -> x / 255 in ``dtype``, range [0, 1].

    Divided in float32 (float64 for a float64 ``dtype``), then cast: for bfloat16 and float16
    this equals dividing in ``dtype`` for all 256 values.
    """
    if x.dtype != torch.uint8:
        raise ValueError(f"Expected a uint8 tensor, got {x.dtype}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    work = torch.float64 if dtype == torch.float64 else torch.float32
    return x.to(work).div_(255.0).to(dtype)


def to_uint8(x: torch.Tensor, *, overwrite: bool = False) -> torch.Tensor:
    """Float tensor in [0, 1] (any shape; clamped) -> round(x * 255) as uint8, computed in float32.

    round(x * 255) inverts :func:`to_unit_float` exactly. ``overwrite``: a float32 ``x`` is used
    as scratch space (no float copy of a large canvas); its values are then lost.
    """
    if not x.is_floating_point():
        raise ValueError(f"Expected a float tensor in [0, 1], got dtype {x.dtype}")
    x = x.detach()
    if overwrite and x.dtype == torch.float32:
        return x.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return x.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def as_uint8_rgb(image, *, name: str = "image") -> np.ndarray:
    """A PIL RGB image or a uint8 (H, W, 3) array -> uint8 (H, W, 3) array (no copy for arrays)."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise ValueError(f"{name} must be an RGB image, got mode {image.mode!r}; use images.open_image() first")
        a = np.asarray(image)
    elif isinstance(image, np.ndarray):
        a = image
    else:
        raise TypeError(f"{name} must be a PIL image or a numpy array, got {type(image).__name__}")
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name} must be a uint8 array (H, W, 3), got {a.dtype} {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {a.shape}")
    return a


def array_to_tensor(a, *, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (..., H, W, 3) numpy array or tensor -> float [..., 3, H, W] in [0, 1] on ``device``.

    Moved as uint8 (4x less to transfer than float32), then :func:`to_unit_float`. The result is
    a channels-last view (the array's memory order); call ``.contiguous()`` for NCHW memory.
    """
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a) if a.flags.writeable else a.copy())  # torch wants writable memory
    if not isinstance(a, torch.Tensor) or a.dtype != torch.uint8 or a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(f"Expected a uint8 array (..., H, W, 3), got {getattr(a, 'dtype', type(a).__name__)} "
                         f"{tuple(getattr(a, 'shape', ()))}")  # fmt: skip
    return to_unit_float(a.to(device).movedim(-1, -3), dtype)


def tensor_to_array(t: torch.Tensor, *, overwrite: bool = False) -> np.ndarray:
    """Float [..., 3, H, W] in [0, 1] (clamped) -> uint8 numpy array (..., H, W, 3) on the CPU.

    Converted to uint8 on ``t``'s device (:func:`to_uint8`; ``overwrite`` as there), then moved.
    """
    return to_uint8(t, overwrite=overwrite).movedim(-3, -1).contiguous().cpu().numpy()


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of [N, C, H, W] to (H', W'), clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def fit_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) of an image of shape [H, W] scaled so that its longest side is ``side``, aspect kept."""
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_size(image: torch.Tensor, side: int) -> tuple[int, int]:
    """(h, w) of ``image`` [..., H, W] scaled so that its longest side is ``side``."""
    return fit_shape(*image.shape[-2:], side)


def save_png(img_or_tensor, path) -> Path:
    """Write a PIL image or an image tensor (see tensor_to_pil) as PNG; return the path written.

    A path without suffix gets ".png"; parent folders are created; the write is atomic.
    """
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".png")
    elif path.suffix.lower() != ".png":
        raise ValueError(f"save_png writes PNG files; got a path ending in {path.suffix!r}: {path}")
    if isinstance(img_or_tensor, torch.Tensor):
        img = tensor_to_pil(img_or_tensor)
    elif isinstance(img_or_tensor, Image.Image):
        img = img_or_tensor
        if img.mode not in ("RGB", "RGBA", "L", "LA", "1", "P", "I;16"):
            img = _to_rgb8(img)
    else:
        raise TypeError(f"Expected a PIL image or a tensor, got {type(img_or_tensor).__name__}")
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
