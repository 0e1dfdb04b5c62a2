"""Tests for stylegan_lib.images: decoding rules, tensor conversions, YIQ."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, JpegImagePlugin

from stylegan_lib import images
from stylegan_lib.colour import rgb_to_yiq, yiq_to_rgb
from stylegan_lib.images import (
    ImageError,
    fit_longest_side,
    open_image,
    pil_to_tensor,
    save_png,
    tensor_to_pil,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bytes(width: int, height: int, *, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16-bit RGB, lying headers)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def close_to(pixel, expected, tol=3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, expected, strict=False))


def noise_rgb(w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("source", [None, "", "   ", b"", bytearray()])
def test_no_image_given(source):
    with pytest.raises(ImageError, match="No image|empty"):
        open_image(source)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        open_image(path)
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        open_image(io.BytesIO())


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="File not found"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        open_image(tmp_path)
    with pytest.raises(ImageError, match="URL"):
        open_image("https://example.com/cat.jpg")


def test_garbage_bytes(tmp_path):
    garbage = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path = tmp_path / "garbage.png"
    path.write_bytes(garbage)
    for source in (garbage, path):
        with pytest.raises(ImageError, match="Not an image file"):
            open_image(source)


def test_text_file_with_jpg_extension(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes\nnot a picture\n")
    with pytest.raises(ImageError, match=r"Not an image file \(it looks like a text file\): notes.jpg"):
        open_image(path)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", r"it starts as a PNG file but is truncated or corrupt"),  # the signature, nothing else
        (b"GIF89a\x00", r"it starts as a GIF file but is truncated or corrupt"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", r"it is a PDF file, not an image"),
        (b"PK\x03\x04\x14\x00\x00\x00", r"it is a zip file, not an image"),
    ],
)
def test_unreadable_files_are_named_by_their_signature(tmp_path, head, message):
    path = tmp_path / "upload.png"
    path.write_bytes(head)
    with pytest.raises(ImageError, match=rf"Not an image file \({message}.*\): upload.png"):
        open_image(path)


def test_html_page_saved_as_png():
    with pytest.raises(ImageError, match="HTML page"):
        open_image(b"<!DOCTYPE html><html><body>403 Forbidden</body></html>")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_raises(tmp_path, fmt):
    data = encode(noise_rgb(), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    assert open_image(data).size == (64, 48)  # the complete file is fine
    with pytest.raises(ImageError, match="truncated or corrupt"):
        open_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_unsupported_source_types():
    with pytest.raises(TypeError):
        open_image(12345)
    with pytest.raises(TypeError, match="text mode"):
        open_image(io.StringIO("abc"))


# ----------------------------------------------------------------------------- modes


def test_cmyk_jpeg_colours():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    img = open_image(data)
    assert img.mode == "RGB"
    assert close_to(img.getpixel((8, 8)), RED, tol=4)


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    a = np.full((8, 8), int(65535 * 0.5), dtype=np.uint16)
    a[0, 0] = 65535
    src = Image.fromarray(a)
    assert src.mode.startswith("I;16")
    path = tmp_path / "grey16.png"
    src.save(path)
    img = open_image(path)
    assert img.mode == "RGB"
    assert close_to(img.getpixel((4, 4)), (128, 128, 128), tol=1)
    assert img.getpixel((0, 0)) == WHITE


def test_16bit_rgb_png():
    pixels = [(65535, 32896, 0), (0, 0, 65535)]  # 32896 / 257 == 128
    raw = b"\x00" + b"".join(struct.pack(">HHH", *p) for p in pixels)
    img = open_image(png_bytes(2, 1, bit_depth=16, color_type=2, raw=raw))
    assert img.mode == "RGB" and img.size == (2, 1)
    assert close_to(img.getpixel((0, 0)), (255, 128, 0), tol=1)
    assert img.getpixel((1, 0)) == BLUE


def test_int32_and_float_modes(tmp_path):
    ints = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.int32))
    assert ints.mode == "I"
    assert np.asarray(open_image(ints))[0, :, 0].tolist() == [0, 128, 255]

    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert unit.mode == "F"
    path = tmp_path / "float.tif"
    unit.save(path)
    assert np.asarray(open_image(path))[0, :, 0].tolist() == [0, 128, 255]

    big = Image.fromarray(np.array([[0.0, 2.0, 4.0]], dtype=np.float32))  # max > 1: scaled by max
    assert np.asarray(open_image(big))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    img = open_image(encode(pal, fmt, transparency=1))
    assert img.getpixel((0, 0)) == RED
    assert img.getpixel((1, 0)) == WHITE


def test_palette_without_transparency():
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 0), 1)
    img = open_image(encode(pal, "PNG"))
    assert np.asarray(img).tolist() == [[list(BLUE), list(GREEN)]]


def test_rgba_alpha_over_white():
    src = Image.new("RGBA", (3, 1), (255, 0, 0, 255))
    src.putpixel((1, 0), (255, 0, 0, 0))
    src.putpixel((2, 0), (0, 0, 0, 128))
    img = open_image(encode(src, "PNG"))
    assert img.getpixel((0, 0)) == RED
    assert img.getpixel((1, 0)) == WHITE  # fully transparent -> white, not the hidden red
    assert close_to(img.getpixel((2, 0)), (127, 127, 127), tol=1)


@pytest.mark.parametrize(
    "mode, pixel, expected",
    [
        ("LA", (0, 0), WHITE),
        ("LA", (0, 255), (0, 0, 0)),
        ("LA", (100, 255), (100, 100, 100)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, WHITE),
        ("1", 0, (0, 0, 0)),
    ],
)
def test_grey_and_bilevel_modes(mode, pixel, expected):
    img = open_image(encode(Image.new(mode, (3, 2), pixel), "PNG"))
    assert img.mode == "RGB" and img.size == (3, 2)
    assert img.getpixel((1, 1)) == expected


@pytest.mark.parametrize("orientation, marker_xy", [(6, (15, 4)), (8, (4, 35))])
def test_exif_orientation(orientation, marker_xy):
    src = Image.new("RGB", (40, 20), BLUE)
    src.paste(RED, (0, 0, 10, 10))  # stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = open_image(encode(src, "JPEG", quality=95, exif=exif.tobytes()))
    assert img.size == (20, 40)
    assert img.info["original_size"] == (20, 40)
    # 6: rotate 90 deg clockwise -> top-right; 8: counter-clockwise -> bottom-left
    assert close_to(img.getpixel(marker_xy), RED, tol=12)
    assert close_to(img.getpixel((10, 20)), BLUE, tol=12)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_first_frame(fmt):
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, GREEN, BLUE)]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 3
    img = open_image(data)
    assert img.size == (8, 8)
    assert close_to(img.getpixel((4, 4)), RED)


def test_one_by_one():
    assert open_image(encode(Image.new("RGB", (1, 1), GREEN), "PNG")).getpixel((0, 0)) == GREEN
    assert open_image(np.zeros((1, 1, 3), np.uint8)).size == (1, 1)


# ----------------------------------------------------------------------------- size limits


def test_decompression_bomb_header():
    bomb = png_bytes(30000, 30000, bit_depth=1, color_type=0, raw=b"")  # claims 9e8 pixels, 60 bytes
    with pytest.raises(ImageError, match=r"limit is 400,000,000 pixels"):
        open_image(bomb)
    assert Image.MAX_IMAGE_PIXELS == images.MAX_DECODE_PIXELS


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decode_limit_checked_before_load(monkeypatch):
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1))
    with pytest.raises(ImageError, match=r"40x40 = 1,600 pixels.*limit is 1,000"):
        open_image(encode(Image.new("RGB", (40, 40)), "PNG"))  # below Pillow's own 2x threshold
    assert loads == []


def test_decode_limit_allows_smaller(monkeypatch):
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    assert open_image(encode(Image.new("RGB", (20, 20)), "PNG")).size == (20, 20)


def test_large_image_downscaled(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(path, compress_level=1)
    img = open_image(path, max_pixels=1_000_000)
    w, h = img.size
    assert w * h <= 1_000_000 and w * h > 990_000
    assert abs(w / h - 4 / 3) < 0.01
    assert img.info["original_size"] == (4000, 3000)
    assert close_to(img.getpixel((w // 2, h // 2)), (10, 200, 30), tol=1)


def test_original_size_when_not_downscaled():
    assert open_image(Image.new("RGB", (30, 20))).info["original_size"] == (30, 20)


def test_huge_jpeg_uses_draft(monkeypatch):
    calls = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        calls.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    src = Image.new("RGB", (6000, 4000), (200, 100, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # also check original_size follows the rotation
    img = open_image(encode(src, "JPEG", quality=80, exif=exif.tobytes()), max_pixels=300_000)
    assert calls, "draft() was not used for an oversized JPEG"
    w, h = img.size
    assert w * h <= 300_000 and w < h and abs(h / w - 1.5) < 0.01
    assert img.info["original_size"] == (4000, 6000)
    assert close_to(img.getpixel((w // 2, h // 2)), (200, 100, 50), tol=4)


def test_small_jpeg_skips_draft(monkeypatch):
    calls = []
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda *a: calls.append(a))
    open_image(encode(Image.new("RGB", (50, 40)), "JPEG"))
    assert calls == []


def test_max_pixels_must_be_positive():
    with pytest.raises(ValueError):
        open_image(Image.new("RGB", (2, 2)), max_pixels=0)


# ----------------------------------------------------------------------------- numpy / bytes / file inputs


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.full((4, 5), 200, np.uint8), (200, 200, 200)),
        (np.full((4, 5, 1), 9, np.uint8), (9, 9, 9)),
        (np.full((4, 5, 3), (10, 20, 30), np.uint8), (10, 20, 30)),
        (np.full((4, 5, 4), (10, 20, 30, 0), np.uint8), WHITE),
        (np.full((4, 5), 32896, np.uint16), (128, 128, 128)),
        (np.full((4, 5, 3), (65535, 0, 32896), np.uint16), (255, 0, 128)),
        (np.full((4, 5, 3), 0.5, np.float32), (128, 128, 128)),
        (np.full((4, 5, 3), (1.0, 0.0, 0.25), np.float64), (255, 0, 64)),
        (np.full((4, 5), True), WHITE),
        (np.full((4, 5, 3), 7, np.int64), (7, 7, 7)),
    ],
)
def test_numpy_inputs(array, expected):
    img = open_image(array)
    assert img.mode == "RGB" and img.size == (5, 4)
    assert img.getpixel((2, 2)) == expected


def test_numpy_float_above_one_scaled_by_max():
    a = np.zeros((2, 2), np.float32)
    a[0, 0], a[1, 1] = 4.0, 2.0
    img = open_image(a)
    assert img.getpixel((0, 0)) == WHITE and img.getpixel((1, 1)) == (128, 128, 128)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((3, 8, 8), np.uint8), "channels-first"),
        (np.zeros((8, 8, 2), np.uint8), "shape"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.full((2, 2), np.nan, np.float32), "NaN"),
        (np.full((2, 2), 300, np.int32), r"\[0, 255\]"),
        (np.zeros((2, 2), np.complex64), "dtype"),
    ],
)
def test_numpy_bad_inputs(array, match):
    with pytest.raises(ImageError, match=match):
        open_image(array)


class NonSeekable:
    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(n)

    def seekable(self):
        return False


def test_bytes_and_file_like_inputs(tmp_path):
    data = encode(Image.new("RGB", (6, 4), GREEN), "PNG")
    path = tmp_path / "green.png"
    path.write_bytes(data)
    buf = io.BytesIO(data)
    buf.seek(3)  # Pillow reads from the start whatever the position
    with path.open("rb") as f:
        sources = [data, bytearray(data), memoryview(data), buf, NonSeekable(data), str(path), path, f]
        for source in sources:
            img = open_image(source)
            assert img.size == (6, 4) and img.getpixel((0, 0)) == GREEN
        assert not f.closed  # the caller's file is left open


def test_pil_input_not_mutated():
    src = Image.new("RGB", (4, 4), BLUE)
    src.info["note"] = "keep"
    img = open_image(src)
    assert img is not src and img.getpixel((0, 0)) == BLUE
    assert src.info == {"note": "keep"}


# ----------------------------------------------------------------------------- resizing, tensors, PNG


@pytest.mark.parametrize(
    "size, side, expected",
    [
        ((400, 200), 100, (100, 50)),
        ((10, 20), 40, (20, 40)),
        ((33, 33), 33, (33, 33)),
        ((1000, 1), 10, (10, 1)),
    ],
)
def test_fit_longest_side(size, side, expected):
    assert fit_longest_side(Image.new("RGB", size), side).size == expected


@pytest.mark.parametrize("side", [0, -3, 2.5])
def test_fit_longest_side_rejects_bad_side(side):
    with pytest.raises(ValueError):
        fit_longest_side(Image.new("RGB", (4, 4)), side)


def test_tensor_round_trip_is_exact():
    src = noise_rgb(7, 5)
    t = pil_to_tensor(src)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert np.array_equal(np.asarray(tensor_to_pil(t)), np.asarray(src))
    assert np.array_equal(np.asarray(tensor_to_pil(t[0])), np.asarray(src))  # [3, H, W] too
    assert pil_to_tensor(src, dtype=torch.float64).dtype == torch.float64


def test_pil_to_tensor_channel_order():
    t = pil_to_tensor(Image.new("RGB", (2, 2), (255, 0, 51)))
    assert t[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])


def test_tensor_to_pil_clamps_and_validates():
    t = torch.tensor([-1.0, 0.5, 2.0]).view(1, 3, 1, 1)
    assert tensor_to_pil(t).getpixel((0, 0)) == (0, 128, 255)
    for bad in (torch.zeros(1, 1, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(3, 4)):
        with pytest.raises(ValueError, match="shape"):
            tensor_to_pil(bad)
    with pytest.raises(ValueError, match="float"):
        tensor_to_pil(torch.zeros(3, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        tensor_to_pil(torch.full((3, 2, 2), float("nan")))


def test_save_png(tmp_path):
    src = noise_rgb(9, 6)
    out = save_png(pil_to_tensor(src), tmp_path / "sub" / "out")
    assert out == tmp_path / "sub" / "out.png"
    with Image.open(out) as back:
        assert back.format == "PNG" and np.array_equal(np.asarray(back), np.asarray(src))
    assert save_png(src, tmp_path / "pil.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pil.png", "sub"]  # no temp files left
    with pytest.raises(ValueError, match="PNG"):
        save_png(src, tmp_path / "out.jpg")


# ----------------------------------------------------------------------------- YIQ


def test_yiq_round_trip_float64():
    rgb = torch.rand(2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    yiq = rgb_to_yiq(rgb)
    assert yiq.shape == rgb.shape and yiq.dtype == torch.float64
    assert (yiq_to_rgb(yiq) - rgb).abs().max() < 1e-6
    assert 0.0 <= yiq[:, 0].min() and yiq[:, 0].max() <= 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_yiq_white_and_grey(dtype):
    white = torch.ones(1, 3, 2, 2, dtype=dtype)
    yiq = rgb_to_yiq(white)
    assert yiq.dtype == dtype
    assert (yiq[:, 0] - 1.0).abs().max() < 1e-6
    assert yiq[:, 1:].abs().max() < 1e-6
    assert (yiq_to_rgb(yiq) - white).abs().max() < 1e-5


def test_yiq_rejects_bad_shape():
    with pytest.raises(ValueError):
        rgb_to_yiq(torch.zeros(1, 4, 2, 2))


# ----------------------------------------------------------------------------- uint8 arrays <-> tensors


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_uint8_round_trip_is_exact_for_every_value(dtype):
    a = np.arange(256, dtype=np.uint8).reshape(1, 16, 16).repeat(3, axis=0).transpose(1, 2, 0)  # (16, 16, 3)
    t = images.array_to_tensor(a, dtype=dtype)
    assert t.shape == (3, 16, 16) and t.dtype == dtype
    reference = torch.from_numpy(a.astype(np.float64) / 255.0).permute(2, 0, 1)  # float64, independent
    assert torch.equal(t, reference.to(dtype))  # x / 255 correctly rounded in every dtype
    assert np.array_equal(images.tensor_to_array(t), a)


def test_array_and_tensor_conversions_keep_layout_and_check_input():
    a = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    a.flags.writeable = False  # as np.asarray(PIL image) gives
    t = images.array_to_tensor(a)
    assert t.shape == (2, 3, 5, 7) and torch.equal(t[1, 2], torch.from_numpy(a[1, :, :, 2].copy()).float() / 255)
    out = images.tensor_to_array(torch.cat([t, t + 0.6, t - 0.6]))  # clamped to [0, 1]
    assert out.dtype == np.uint8 and out.shape == (6, 5, 7, 3) and out.flags.c_contiguous
    assert np.array_equal(out[:2], a) and out[2:4].min() >= 153 and out[4:].max() <= 102
    scratch = t.clone()
    assert torch.equal(images.to_uint8(scratch, overwrite=True), images.to_uint8(t))
    with pytest.raises(ValueError, match="uint8 array"):
        images.array_to_tensor(a.astype(np.float32))
    with pytest.raises(ValueError, match="float tensor"):
        images.to_uint8(torch.zeros(3, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8 tensor"):
        images.to_unit_float(torch.zeros(3, 2, 2))


# ----------------------------------------------------------------------------- a real photo


def test_real_photo(shared_dir):
    photos = sorted((shared_dir / "data" / "style_test" / "content").glob("*.jpg"))
    if not photos:
        pytest.skip("no content photos in the shared data folder")
    photo = photos[0]
    with Image.open(photo) as ref:
        size = ref.size
    img = open_image(photo)
    assert img.mode == "RGB" and img.size == size and img.info["original_size"] == size
    t = pil_to_tensor(img)
    assert t.shape == (1, 3, size[1], size[0]) and 0.05 < t.mean() < 0.95
    assert np.array_equal(np.asarray(tensor_to_pil(t)), np.asarray(img))
    small = open_image(photo, max_pixels=10_000)
    assert small.width * small.height <= 10_000 and small.info["original_size"] == size
