"""Hostile uploads: bad, odd and huge image files, generated at test time (nothing binary is committed).

``write_cases(folder)`` writes every case into ``folder`` and returns them as :class:`Case`
objects. Each case says what the app must do with it:

* ``reject``: the words (case-insensitive regular expressions) the user-facing message must
  contain, e.g. ``("empty", r"0 bytes")``;
* otherwise it is accepted, and ``size`` is the (w, h) the app must see after EXIF rotation
  and before its own downscaling; ``reference`` (when given) is that image in RGB, against
  which a strength-0 Van Gogh result (the photo given back) is compared, so orientation,
  alpha compositing and bit-depth scaling are checked, not only the size.

Run ``python tests/hostile.py FOLDER`` to write the files for manual testing in a browser.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# The app decodes uploads with stylegan_lib.images.open_image: its messages, as regexes.
EMPTY = (r"empty", r"0 bytes")
CORRUPT = (r"truncated or corrupt",)
NOT_IMAGE = (r"Not an image file",)
UNSUPPORTED = (r"Not an image file", r"unsupported format", r"JPEG, PNG")
TEXT = (r"Not an image file", r"text file")
HTML = (r"Not an image file", r"HTML page")
NAMED = (r"Not an image file", r"it is a (PDF|zip) file, not an image")  # recognised by its signature
NOT_IMAGE_OR_CORRUPT = (r"Not an image file|truncated or corrupt|empty",)  # either is a fair description
TOO_LARGE = (r"too large to open", r"limit is 400,000,000 pixels", r"Resize it")

FIFTY_MP = (8660, 5774)  # 50,002,840 pixels: above the app's 40 MP input cap


@dataclass
class Case:
    name: str  # the test id
    filename: str
    category: str
    make: Callable[[Path], None]
    reject: tuple[str, ...] = ()  # regexes the message must contain; empty: accepted
    size: tuple[int, int] | None = None  # accepted: (w, h) as displayed, before downscaling
    reference: Image.Image | None = None  # accepted: the expected RGB pixels (size == self.size)
    tolerance: float = 6.0  # mean absolute difference allowed against reference (lossy formats)
    big: bool = False  # expensive to process (tens of megapixels)
    path: Path = field(default=Path())

    @property
    def accepted(self) -> bool:
        return not self.reject


# ----------------------------------------------------------------------------- pixels


def photo(w: int = 48, h: int = 32) -> Image.Image:
    """A small RGB picture whose orientation is unambiguous: four coloured quadrants + gradient."""
    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.where(x < w // 2, 220, 30)
    a[..., 1] = np.where(y < h // 2, 200, 40)
    a[..., 2] = (x * 255 // max(1, w - 1)).astype(np.uint8)
    return Image.fromarray(a)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_by_hand(w: int, h: int, *, bit_depth: int, color_type: int, raw: bytes, extra: bytes = b"") -> bytes:
    """A PNG written by hand (16-bit RGB, headers that lie about their size)."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def solid_png(w: int, h: int, *, bit_depth: int, color_type: int, row: bytes) -> Callable[[Path], None]:
    """A valid PNG of ``h`` identical rows, compressed row by row: a 50 MP or 900 MP image costs
    a few hundred KB on disk and almost no memory to write (Pillow would hold every pixel)."""

    def make(p: Path) -> None:
        z = zlib.compressobj(9)
        idat = b"".join(z.compress(b"\x00" + row) for _ in range(h)) + z.flush()
        ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
        p.write_bytes(
            b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
        )

    return make


def over_white(rgba: Image.Image) -> Image.Image:
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba, mask=rgba.getchannel("A"))
    return out


# EXIF orientation n: what a viewer does to the stored pixels to display them.
_EXIF_TO_STORED = {  # the transform that turns the displayed image into the stored one
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # displayed = stored rotated 90° clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


# ----------------------------------------------------------------------------- cases


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _image(img: Image.Image, fmt: str, **kw) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(encode(img, fmt, **kw))


def _solid(size: tuple[int, int], colour: tuple[int, int, int], fmt: str) -> Callable[[Path], None]:
    """A solid image made only when written (a 50 MP one is 150 MB in memory, a few hundred KB on disk)."""
    return lambda p: Image.new("RGB", size, colour).save(p, fmt)


def _truncated(img: Image.Image, fmt: str, keep: float = 0.5, **kw) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        data = encode(img, fmt, **kw)
        p.write_bytes(data[: int(len(data) * keep)])

    return make


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def cases() -> list[Case]:
    """Every hostile case (not yet written: see :func:`write_cases`)."""
    ref = photo()
    w, h = ref.size
    noise = _noise(64, 48)
    out: list[Case] = []

    def reject(name, filename, category, make, words):
        out.append(Case(name, filename, category, make, reject=tuple(words)))

    def accept(name, filename, category, make, size, reference=None, tolerance=6.0, big=False):
        out.append(Case(name, filename, category, make, size=size, reference=reference, tolerance=tolerance, big=big))

    # --- empty and not an image at all
    reject("zero_bytes_png", "empty.png", "empty", _bytes(b""), EMPTY)
    reject("zero_bytes_jpg", "empty.jpg", "empty", _bytes(b""), EMPTY)
    reject("text_named_png", "notes.png", "wrong extension", _bytes(b"hello, this is not an image\n" * 4), TEXT)
    reject("whitespace_text", "blank.txt", "non-image", _bytes(b"\n \n\t\n"), TEXT)
    reject("html_named_jpg", "download.jpg", "non-image",
           _bytes(b"<!DOCTYPE html><html><body>403 Forbidden</body></html>\n"), HTML)  # fmt: skip
    reject("svg", "drawing.svg", "non-image",
           _bytes(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                  b'<rect width="10" height="10" fill="red"/></svg>\n'), NOT_IMAGE)  # fmt: skip
    reject("pdf", "scan.pdf", "non-image",
           _bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"),
           NAMED)  # fmt: skip

    def zip_file(p: Path) -> None:
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("photo.png", encode(ref, "PNG"))

    reject("zip_with_png_inside", "photos.zip", "non-image", zip_file, NAMED)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4  # an ISO-BMFF box, no image
    reject("heic_named_junk", "IMG_0001.HEIC", "non-image", _bytes(heic), UNSUPPORTED)
    reject("random_bytes_jpg", "noise.jpg", "non-image",
           _bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()), UNSUPPORTED)  # fmt: skip
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"
    reject("eps_postscript", "figure.eps", "non-image", _bytes(eps), NOT_IMAGE)  # never handed to Ghostscript
    reject("ico_unsupported_format", "favicon.ico", "unsupported format", _image(ref, "ICO"), UNSUPPORTED)

    # --- corrupt and truncated
    jpeg = encode(noise, "JPEG", quality=90)
    reject("jpeg_soi_then_garbage", "broken.jpg", "corrupt",
           _bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(2).integers(0, 256, 2048, dtype=np.uint8).tobytes()),
           CORRUPT)  # fmt: skip
    png = bytearray(encode(noise, "PNG"))
    png[len(png) // 2] ^= 0xFF  # a flipped byte inside IDAT: CRC mismatch
    reject("png_bad_crc", "flipped.png", "corrupt", _bytes(bytes(png)), CORRUPT)
    # Pillow cannot even identify a PNG cut after its header: today "not an image", "truncated" would be better.
    reject("png_header_only", "header.png", "truncated", _bytes(encode(noise, "PNG")[:33]), NOT_IMAGE_OR_CORRUPT)
    reject("png_no_idat", "noidat.png", "corrupt",
           _bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                  + png_chunk(b"IEND", b"")), CORRUPT)  # fmt: skip
    reject("jpeg_truncated_half", "half.jpg", "truncated", _bytes(jpeg[: len(jpeg) // 2]), CORRUPT)
    reject("jpeg_truncated_progressive", "half-progressive.jpg", "truncated",
           _truncated(noise, "JPEG", 0.6, progressive=True), CORRUPT)  # fmt: skip
    reject("png_truncated_half", "half.png", "truncated", _truncated(noise, "PNG"), CORRUPT)
    reject("gif_truncated_half", "half.gif", "truncated", _truncated(noise, "GIF"), CORRUPT)
    reject("webp_truncated_half", "half.webp", "truncated", _truncated(noise, "WEBP", lossless=True), CORRUPT)
    reject("bmp_truncated_half", "half.bmp", "truncated", _truncated(noise, "BMP"), CORRUPT)
    reject("tiff_truncated_half", "half.tif", "truncated", _truncated(noise, "TIFF"), CORRUPT)
    reject("png_zero_width", "zero-width.png", "corrupt",
           _bytes(png_by_hand(0, 8, bit_depth=8, color_type=2, raw=b"")), NOT_IMAGE_OR_CORRUPT)  # fmt: skip
    nan = np.full((8, 8), np.nan, np.float32)
    reject("float_tiff_nan", "nan.tif", "float", _image(Image.fromarray(nan, mode="F"), "TIFF"), (r"NaN",))

    # --- decompression bombs: tiny files whose headers claim huge sizes
    reject("bomb_png_1bit_30000sq", "bomb.png", "decompression bomb",
           solid_png(30000, 30000, bit_depth=1, color_type=0, row=bytes(3750)), TOO_LARGE)  # fmt: skip
    reject("bomb_png_lying_header", "liar.png", "decompression bomb",
           _bytes(png_by_hand(100_000, 100_000, bit_depth=8, color_type=2, raw=b"\x00" * 64)), TOO_LARGE)  # fmt: skip
    reject("bomb_gif_65535sq", "bomb.gif", "decompression bomb",
           _bytes(b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b",\x00\x00\x00\x00"
                  + struct.pack("<HH", 65535, 65535) + b"\x00\x02\x02\x44\x01\x00;"), TOO_LARGE)  # fmt: skip

    # --- accepted: tiny, odd sizes
    accept("one_by_one_png", "1x1.png", "tiny", _image(Image.new("RGB", (1, 1), (200, 30, 40)), "PNG"), (1, 1),
           Image.new("RGB", (1, 1), (200, 30, 40)), 1)  # fmt: skip
    accept("two_by_one_png", "2x1.png", "tiny", _image(Image.new("RGB", (2, 1), (10, 200, 40)), "PNG"), (2, 1),
           Image.new("RGB", (2, 1), (10, 200, 40)), 1)  # fmt: skip
    accept("one_by_one_jpeg", "1x1.jpg", "tiny", _image(Image.new("RGB", (1, 1), (30, 60, 220)), "JPEG"), (1, 1))
    accept("aspect_1x20000", "tall-1x20000.png", "huge aspect ratio",
           _image(Image.new("RGB", (1, 20000), (90, 140, 200)), "PNG"), (1, 20000))  # fmt: skip
    accept("aspect_20000x1", "wide-20000x1.png", "huge aspect ratio",
           _image(Image.new("RGB", (20000, 1), (200, 140, 90)), "PNG"), (20000, 1))  # fmt: skip

    # --- accepted: huge (cheap to write: a solid colour compresses to almost nothing)
    blue_row = bytes((90, 140, 200)) * FIFTY_MP[0]
    accept("fifty_mp_png", "50mp.png", "50 MP", solid_png(*FIFTY_MP, bit_depth=8, color_type=2, row=blue_row),
           FIFTY_MP, big=True)  # fmt: skip
    accept("fifty_mp_jpeg", "50mp.jpg", "50 MP JPEG", _solid(FIFTY_MP, (200, 140, 90), "JPEG"),
           FIFTY_MP, big=True)  # fmt: skip

    # --- accepted: colour modes and bit depths
    accept("cmyk_jpeg", "cmyk.jpg", "CMYK", _image(ref.convert("CMYK"), "JPEG", quality=95), (w, h), ref, 12)
    grey16 = (np.asarray(ref.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    accept("grey16_png_I16", "grey16.png", "16-bit", _image(Image.fromarray(grey16), "PNG"), (w, h),
           ref.convert("L").convert("RGB"), 1)  # fmt: skip
    rgb16 = (np.asarray(ref, dtype=np.uint16) * 257).astype(">u2")
    raw16 = b"".join(b"\x00" + row.tobytes() for row in rgb16)
    accept("rgb48_png", "rgb48.png", "16-bit", _bytes(png_by_hand(w, h, bit_depth=16, color_type=2, raw=raw16)),
           (w, h), ref, 1)  # fmt: skip
    grey = np.asarray(ref.convert("L"), dtype=np.float32) / 255.0
    accept("float32_tiff", "float.tif", "32-bit float", _image(Image.fromarray(grey, mode="F"), "TIFF"), (w, h),
           ref.convert("L").convert("RGB"), 1)  # fmt: skip
    accept("int32_tiff_mode_I", "int32.tif", "32-bit int",
           _image(Image.fromarray(grey16.astype(np.int32), mode="I"), "TIFF"), (w, h), ref.convert("L").convert("RGB"),
           1)  # fmt: skip
    accept("grey_L_jpeg", "grey.jpg", "grey", _image(ref.convert("L"), "JPEG", quality=95), (w, h),
           ref.convert("L").convert("RGB"), 6)  # fmt: skip
    bilevel = ref.convert("L").point(lambda v: 255 if v > 100 else 0).convert("1")
    accept("bilevel_1bit_png", "bilevel.png", "1-bit", _image(bilevel, "PNG"), (w, h), bilevel.convert("RGB"), 1)
    palette = ref.quantize(16)
    accept("palette_png", "palette.png", "palette", _image(palette, "PNG"), (w, h), palette.convert("RGB"), 1)
    pal_t = ref.quantize(16)
    pal_t.info["transparency"] = 0  # palette index 0 is transparent: it becomes white
    pal_ref = over_white(pal_t.convert("RGBA"))
    accept("palette_transparency_png", "palette-trns.png", "palette+alpha",
           _image(pal_t, "PNG", transparency=0), (w, h), pal_ref, 1)  # fmt: skip
    rgba = ref.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((w, h)))
    accept("rgba_png", "alpha.png", "alpha", _image(rgba, "PNG"), (w, h), over_white(rgba), 1)
    la = ref.convert("LA")
    la.putalpha(Image.linear_gradient("L").rotate(90).resize((w, h)))
    accept("la_png", "grey-alpha.png", "alpha", _image(la, "PNG"), (w, h), over_white(la.convert("RGBA")), 1)
    accept("rgba_webp_lossless", "alpha.webp", "WebP", _image(rgba, "WEBP", lossless=True), (w, h),
           over_white(rgba), 1)  # fmt: skip
    accept("webp_lossy", "photo.webp", "WebP", _image(ref, "WEBP", quality=90), (w, h), ref, 12)
    accept("bmp", "photo.bmp", "BMP", _image(ref, "BMP"), (w, h), ref, 1)
    accept("ppm", "photo.ppm", "PPM", _image(ref, "PPM"), (w, h), ref, 1)
    accept("tiff_lzw", "photo.tif", "TIFF", _image(ref, "TIFF", compression="tiff_lzw"), (w, h), ref, 1)
    accept("jpeg_progressive", "progressive.jpg", "JPEG", _image(ref, "JPEG", quality=95, progressive=True),
           (w, h), ref, 8)  # fmt: skip

    # --- accepted: EXIF orientation 1-8 (the displayed image is `ref`)
    for n, transform in _EXIF_TO_STORED.items():
        stored = ref if transform is None else ref.transpose(transform)
        exif = Image.Exif()
        exif[0x0112] = n
        accept(f"exif_orientation_{n}", f"exif-{n}.jpg", "EXIF orientation",
               _image(stored, "JPEG", quality=95, exif=exif.tobytes()), (w, h), ref, 8)  # fmt: skip

    # --- accepted: animated / multi-frame (the first frame is used)
    frames = [ref, ref.transpose(Image.Transpose.ROTATE_180), _noise(w, h, 3)]
    first_gif = ref.quantize(256).convert("RGB")  # what GIF's palette does to the first frame

    def multi(fmt: str, **kw) -> Callable[[Path], None]:
        return lambda p: frames[0].save(p, fmt, save_all=True, append_images=frames[1:], **kw)

    accept("animated_gif", "animated.gif", "animated", multi("GIF", duration=100, loop=0), (w, h), first_gif, 3)
    accept("apng", "animated.png", "animated", multi("PNG", duration=100, loop=0), (w, h), ref, 1)
    accept("multipage_tiff", "pages.tif", "multi-page", multi("TIFF"), (w, h), ref, 1)
    accept("animated_webp", "animated.webp", "animated", multi("WEBP", lossless=True, duration=100), (w, h), ref, 1)

    # --- accepted: wrong extensions and odd names
    accept("png_named_jpg", "really-a-png.jpg", "wrong extension", _image(ref, "PNG"), (w, h), ref, 1)
    accept("jpeg_named_png", "really-a-jpeg.png", "wrong extension", _image(ref, "JPEG", quality=95), (w, h), ref, 8)
    accept("gif_named_webp", "really-a-gif.webp", "wrong extension", _image(ref, "GIF"), (w, h), first_gif, 12)
    accept("no_extension", "photo", "wrong extension", _image(ref, "PNG"), (w, h), ref, 1)
    accept("unicode_name_with_spaces", "été photo 🖼 (1) #2.png", "file name", _image(ref, "PNG"), (w, h), ref, 1)
    accept("long_name", "x" * 200 + ".png", "file name", _image(ref, "PNG"), (w, h), ref, 1)
    return out


def write_cases(folder: Path) -> list[Case]:
    """Write every case under ``folder`` (one subfolder each: names may repeat); return them."""
    written = []
    for case in cases():
        sub = Path(folder) / case.name
        sub.mkdir(parents=True, exist_ok=True)
        case.path = sub / case.filename
        case.make(case.path)
        if case.reference is not None:
            assert case.reference.size == case.size, case.name
        written.append(case)
    names = [c.name for c in written]
    assert len(names) == len(set(names)), "duplicate case names"
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-files")
    for c in write_cases(target):
        verdict = f"reject: {' / '.join(c.reject)}" if c.reject else f"accept {c.size}"
        print(f"{c.path}  [{c.category}]  {verdict}")
