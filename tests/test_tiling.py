"""Tests for stylegan_lib.tiling: tensor tiles, Combo, HD translation in bounded memory, seam score."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from stylegan_lib import tiling
from stylegan_lib.tiling import (
    TileProgress,
    TranslationStopped,
    combo,
    cut_tiles,
    seam_score,
    stitch_tiles,
    translate_hd,
)

REPO = Path(__file__).resolve().parents[1]
PHOTO = "lomiri_picosdeeuropa_by_Aitzol_Berasategi.jpg"  # seam scores 1.00-1.02 at tiles 32, 64, 100


def noise_image(h: int, w: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def smooth_image(h: int, w: int, *, seed: int = 0) -> np.ndarray:
    """A diagonal colour gradient plus mild noise: varies from tile to tile, has texture inside."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([yy, xx, (xx + yy) / 2], axis=-1) * 200 + 20
    noise = np.random.default_rng(seed).normal(0, 6, (h, w, 3))
    return np.clip(base + noise, 0, 255).round().astype(np.uint8)


def apply_whole(G, a: np.ndarray) -> np.ndarray:
    """G on the whole image at once, with the same uint8 <-> float conventions."""
    x = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # [1, 3, H, W]
    with torch.no_grad():
        y = G(x)
    return y[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def tile_mean(t: torch.Tensor) -> torch.Tensor:
    """[B, 3, t, t] -> each tile filled with its mean colour."""
    return t.mean(dim=(2, 3), keepdim=True).expand_as(t).clone()


def colour_mix() -> nn.Conv2d:
    """A fixed per-pixel G: 1x1 conv, non-negative rows summing to <= 1, so [0, 1] -> [0, 1]."""
    conv = nn.Conv2d(3, 3, 1, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[0.5, 0.3, 0.1], [0.2, 0.6, 0.1], [0.1, 0.1, 0.7]])[:, :, None, None])
        conv.bias.copy_(torch.tensor([0.05, 0.0, 0.1]))
    return conv.eval()


def max_step(a: np.ndarray) -> int:
    """Largest absolute difference between horizontal or vertical neighbours."""
    a = a.astype(np.int16)
    return int(max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max()))


# ----------------------------------------------------------------------------- cut / stitch / combo


@pytest.mark.parametrize(
    "shape, tile", [((1, 3, 4, 4), 2), ((2, 3, 6, 4), 2), ((3, 1, 9, 3), 3), ((2, 3, 8, 8), 8), ((1, 2, 5, 10), 5)]
)
def test_cut_stitch_round_trip(shape, tile):
    x = torch.randn(shape)
    tiles = cut_tiles(x, tile)
    n, _, h, w = shape
    assert tiles.shape == (n * (h // tile) * (w // tile), shape[1], tile, tile)
    assert torch.equal(stitch_tiles(tiles, grid=(h // tile, w // tile)), x)


def test_cut_order_is_n_row_col():
    x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float32).reshape(2, 1, 4, 6)
    tiles = cut_tiles(x, 2)  # grid 2 x 3 per image
    assert torch.equal(tiles[1], x[0, :, 0:2, 2:4])
    assert torch.equal(tiles[3], x[0, :, 2:4, 0:2])
    assert torch.equal(tiles[6 + 5], x[1, :, 2:4, 4:6])


@pytest.mark.parametrize("shape, tile", [((1, 3, 5, 4), 2), ((3, 4, 4), 2), ((1, 3, 0, 4), 2), ((1, 3, 4, 4), 0)])
def test_cut_tiles_rejects_bad_input(shape, tile):
    with pytest.raises(ValueError):
        cut_tiles(torch.zeros(shape), tile)


def test_stitch_rejects_wrong_count():
    with pytest.raises(ValueError, match="grid"):
        stitch_tiles(torch.zeros(5, 3, 2, 2), grid=(2, 2))


def test_combo_identity_and_plus_one():
    x = torch.rand(2, 3, 8, 12)
    assert torch.equal(combo(nn.Identity(), x, tile=4), x)
    assert torch.equal(combo(lambda t: t + 1, x, tile=4), x + 1)


def test_combo_runs_one_batch_of_independent_tiles():
    x = torch.rand(2, 3, 8, 8)
    seen = []
    out = combo(lambda t: seen.append(t.shape) or tile_mean(t), x, tile=4)
    assert seen == [(8, 3, 4, 4)]  # 2 images x 4 tiles, one call
    assert torch.allclose(out[1, :, 4:, :4], x[1, :, 4:, :4].mean(dim=(1, 2), keepdim=True).expand(3, 4, 4))


def test_combo_is_differentiable():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    G = nn.Conv2d(3, 3, 3, padding=1)
    combo(G, x, tile=4).square().mean().backward()
    assert x.grad is not None and G.weight.grad is not None and x.grad.abs().sum() > 0


def test_combo_rejects_shape_changing_G():
    with pytest.raises(ValueError, match="same shape"):
        combo(lambda t: t[:, :2], torch.rand(1, 3, 4, 4), tile=2)


# ----------------------------------------------------------------------------- translate_hd


@pytest.mark.parametrize("h, w", [(1, 1), (37, 53), (64, 64), (130, 67), (1, 70), (70, 1), (3, 200)])
@pytest.mark.parametrize("overlap", [0, 5, 24])
def test_identity_round_trip_is_exact(h, w, overlap):
    a = noise_image(h, w)
    out = translate_hd(nn.Identity(), a, tile=32, batch=4, overlap=overlap)
    assert out.dtype == np.uint8 and out.shape == a.shape
    assert np.array_equal(out, a)


def test_pil_input_and_float64():
    a = noise_image(45, 70)
    out = translate_hd(lambda t: 1 - t, Image.fromarray(a), tile=16, overlap=4, dtype=torch.float64)
    assert np.array_equal(out, 255 - a)


@pytest.mark.parametrize("overlap", [0, 8, 20])
@pytest.mark.parametrize("G", [colour_mix(), lambda t: 1 - t], ids=["conv1x1", "invert"])
def test_per_pixel_G_matches_whole_image(G, overlap):
    a = noise_image(70, 101, seed=1)
    out = translate_hd(G, a, tile=32, batch=3, overlap=overlap)
    diff = np.abs(out.astype(int) - apply_whole(G, a).astype(int))
    assert diff.max() <= 1  # float rounding at .5 only


def test_reflect_padding_not_zeros():
    # A constant image stays constant through a tile-mean G only if the padding repeats image content.
    a = np.full((37, 53, 3), 200, dtype=np.uint8)
    for overlap in (0, 6):
        assert np.array_equal(translate_hd(tile_mean, a, tile=16, overlap=overlap), a)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def testreflect_indices_match_np_pad(n):
    pad = 5 * n + 3  # several reflections for small n
    expected = np.pad(np.arange(n), (0, pad), mode="reflect") if n > 1 else np.zeros(n + pad, dtype=int)
    assert np.array_equal(tiling.reflect_indices(np.arange(n + pad), n), expected)


@pytest.mark.parametrize("size, tile, overlap", [(100, 32, 8), (100, 32, 20), (20, 32, 8), (97, 16, 15), (64, 32, 0)])
def test_feather_weights_sum_to_one(size, tile, overlap):
    axis = tiling._Axis.layout(size, tile=tile, overlap=overlap)
    assert axis.padded >= size and (axis.count == 1 or (axis.count - 2) * axis.stride + tile < size)
    w = tiling._feather_weights(axis, overlap)  # [count, tile]
    total = np.zeros(axis.padded)
    for k in range(axis.count):
        total[k * axis.stride : k * axis.stride + tile] += w[k]
    assert np.allclose(total, 1.0, atol=1e-12) and (w > 0).all()


def test_overlap_blending_is_smoother():
    a = smooth_image(160, 224)
    plain = translate_hd(tile_mean, a, tile=32, overlap=0)
    blended = translate_hd(tile_mean, a, tile=32, overlap=16)
    assert seam_score(plain, tile=32) == float("inf")  # flat tiles: all the variation is at borders
    assert seam_score(blended, tile=32) < 2.0
    assert max_step(blended) * 3 < max_step(plain)

    g = torch.Generator().manual_seed(0)
    offsets = lambda t: (t + (torch.rand(t.shape[0], 1, 1, 1, generator=g) - 0.5) * 0.3).clamp(0, 1)
    plain = seam_score(translate_hd(offsets, a, tile=32, overlap=0), tile=32)
    blended = seam_score(translate_hd(offsets, a, tile=32, overlap=16), tile=32)
    assert blended < 1.3 < 2.0 < plain


def test_deterministic():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid()).eval()
    a = noise_image(50, 41)
    assert np.array_equal(translate_hd(G, a, tile=16, overlap=4), translate_hd(G, a, tile=16, overlap=4))


@pytest.mark.parametrize("overlap", [0, 8])
def test_callback_progress(overlap):
    seen = []
    translate_hd(nn.Identity(), noise_image(70, 90), tile=32, batch=4, overlap=overlap, callback=seen.append)
    total = {0: 3 * 3, 8: 3 * 4}[overlap]  # stride 24: ceil((70-32)/24)+1 = 3 rows, ceil((90-32)/24)+1 = 4 cols
    assert [p.total for p in seen] == [total] * len(seen)
    assert [p.done for p in seen] == list(range(4, total, 4)) + [total]


@pytest.mark.parametrize("overlap", [0, 8])
def test_callback_stops(overlap):
    a = noise_image(100, 64)
    calls = []
    with pytest.raises(TranslationStopped) as info:
        translate_hd(nn.Identity(), a, tile=32, batch=2, overlap=overlap, callback=lambda p: calls.append(p) or True)
    assert len(calls) == 1 and info.value.progress == TileProgress(2, calls[0].total)
    partial = info.value.partial
    assert partial.shape == a.shape
    if overlap == 0:  # the first tile row is done and pasted, the rest is still black
        assert np.array_equal(partial[:32], a[:32]) and not partial[32:].any()
    # a True on the last batch has nothing left to stop: the result is returned
    out = translate_hd(nn.Identity(), a, tile=64, batch=8, overlap=overlap, callback=lambda p: True)
    assert np.array_equal(out, a)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(tile=16, overlap=16), ValueError),
        (dict(tile=16, overlap=-1), ValueError),
        (dict(tile=0), ValueError),
        (dict(tile=16, batch=0), ValueError),
    ],
)
def test_translate_rejects_bad_options(kwargs, error):
    with pytest.raises(error):
        translate_hd(nn.Identity(), noise_image(8, 8), **kwargs)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8, 3), dtype=np.float32),
        np.zeros((8, 8), dtype=np.uint8),
        np.zeros((0, 8, 3), dtype=np.uint8),
        Image.new("L", (8, 8)),
    ],
)
def test_translate_rejects_bad_images(image):
    with pytest.raises(ValueError):
        translate_hd(nn.Identity(), image, tile=4)


def test_translate_rejects_bad_G_output():
    with pytest.raises(ValueError, match="same shape"):
        translate_hd(lambda t: t[:, :1], noise_image(8, 8), tile=4)
    with pytest.raises(ValueError, match="NaN"):
        translate_hd(lambda t: t * float("nan"), noise_image(8, 8), tile=4)


# ----------------------------------------------------------------------------- seam_score


def seam_score_reference(a: np.ndarray, tile: int) -> float:
    """Explicit loops over every neighbour pair."""
    h, w, _ = a.shape
    luma = [[0.299 * float(a[y, x, 0]) + 0.587 * float(a[y, x, 1]) + 0.114 * float(a[y, x, 2]) for x in range(w)]
            for y in range(h)]  # fmt: skip
    border, inside = [], []
    for y in range(h):
        for x in range(w):
            if x + 1 < w:
                (border if (x + 1) % tile == 0 else inside).append(abs(luma[y][x + 1] - luma[y][x]))
            if y + 1 < h:
                (border if (y + 1) % tile == 0 else inside).append(abs(luma[y + 1][x] - luma[y][x]))
    return (sum(border) / len(border)) / (sum(inside) / len(inside))


@pytest.mark.parametrize("strip_rows", [1, 3, 4, 256])
@pytest.mark.parametrize("h, w, tile", [(9, 11, 4), (13, 5, 3), (4, 9, 4), (17, 17, 8)])
def test_seam_score_matches_reference(monkeypatch, strip_rows, h, w, tile):
    monkeypatch.setattr(tiling, "_SEAM_STRIP_ROWS", strip_rows)
    a = noise_image(h, w, seed=h * w)
    assert seam_score(a, tile=tile) == pytest.approx(seam_score_reference(a, tile), rel=1e-12)
    assert seam_score(Image.fromarray(a), tile=tile) == pytest.approx(seam_score_reference(a, tile), rel=1e-12)


@pytest.mark.parametrize("shape", [(8, 8, 3), (5, 8, 3), (8, 1, 3)])
def test_seam_score_needs_a_border(shape):
    with pytest.raises(ValueError, match="no tile border"):
        seam_score(np.zeros(shape, dtype=np.uint8), tile=8)


def test_seam_score_flat_image():
    with pytest.raises(ValueError, match="flat"):
        seam_score(np.full((20, 20, 3), 7, dtype=np.uint8), tile=8)


@pytest.fixture(scope="module")
def photo(shared_dir) -> np.ndarray:
    from stylegan_lib.images import fit_longest_side, open_image

    path = shared_dir / "data" / "hd_photos" / "landscape" / PHOTO
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return np.asarray(fit_longest_side(open_image(path, max_pixels=2_000_000), 1024))  # (768, 1024, 3)


@pytest.mark.parametrize("tile", [32, 64, 100])
def test_seam_score_of_a_real_photo(photo, tile):
    assert seam_score(photo, tile=tile) == pytest.approx(1.0, abs=0.1)


def test_seam_score_sees_brightness_seams(photo):
    g = torch.Generator().manual_seed(0)
    shift = lambda t: (t + (torch.rand(t.shape[0], 1, 1, 1, generator=g) - 0.5) * 0.3).clamp(0, 1)
    assert seam_score(translate_hd(shift, photo, tile=64), tile=64) > 1.5


# ----------------------------------------------------------------------------- memory


MEMORY_CODE = """
import resource, time
import numpy as np
from stylegan_lib.tiling import translate_hd

H, W = 5773, 8660  # 50 megapixels, 143 MiB as uint8
img = np.empty((H, W, 3), np.uint8)
x = (np.arange(W) % 256).astype(np.uint8)[None]
for r in range(0, H, 512):  # a cheap pattern, built in strips so that building it costs no memory
    y = (np.arange(r, min(r + 512, H)) % 256).astype(np.uint8)[:, None]
    img[r : r + 512, :, 0], img[r : r + 512, :, 1], img[r : r + 512, :, 2] = x + y, (x * 3) ^ y, y * 7
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = translate_hd(lambda t: 1 - t, img, tile=256, batch=16, overlap={overlap})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
exact = all(np.array_equal(out[r : r + 256], 255 - img[r : r + 256]) for r in range(0, H, 256))
print(base, peak, seconds, exact)
"""


@pytest.mark.parametrize("overlap", [0, 32])
def test_memory_is_bounded_on_50_megapixels(overlap):
    code = textwrap.dedent(MEMORY_CODE).replace("{overlap}", str(overlap))
    env = dict(os.environ, OMP_NUM_THREADS="1")  # this box's 2 cores are shared: 2 threads spin-wait on each other
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    base, peak, seconds, exact = run.stdout.split()
    base_mib, peak_mib = int(base) / 1024, int(peak) / 1024  # ru_maxrss is in KiB on Linux
    print(f"overlap={overlap}: base {base_mib:.0f} MiB, peak {peak_mib:.0f} MiB, {float(seconds):.1f} s")
    assert exact == "True"
    # Measured on a 2-core CPU box: base (torch + input) 369 MiB; peak 584-621 MiB (overlap 0) and 621-709 MiB
    # (overlap 32), i.e. 219-340 MiB above base, of which 143 MiB is the uint8 output; 1.0-2.2 s and 1.2-3.1 s.
    # A float32 copy of the whole image alone would add 572 MiB.
    assert peak_mib - base_mib < 550
    assert peak_mib < 2048


# ----------------------------------------------------------------------------- tiling on the device


@pytest.mark.parametrize("h, w, tile, batch", [(50, 41, 16, 3), (1, 37, 8, 5), (64, 64, 32, 4), (23, 5, 16, 2)])
def test_tile_on_device_equals_the_streaming_path(h, w, tile, batch):
    # the same tiles (reflect / replicate padding included) through the same G, assembled on the device
    torch.manual_seed(0)
    G = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid(),
    ).eval()  # fmt: skip
    a = noise_image(h, w)
    streamed = translate_hd(G, a, tile=tile, batch=batch, tile_on_device=False)
    on_device = translate_hd(G, a, tile=tile, batch=batch, tile_on_device=True)
    assert on_device.shape == a.shape and on_device.dtype == np.uint8
    assert np.abs(on_device.astype(int) - streamed.astype(int)).max() <= 1  # float summation order only
    assert (on_device != streamed).mean() < 1e-3
    assert np.array_equal(translate_hd(nn.Identity(), a, tile=tile, batch=batch, tile_on_device=True), a)


def test_tile_on_device_progress_stop_and_checks():
    a = noise_image(100, 64)
    seen = []
    translate_hd(nn.Identity(), a, tile=32, batch=4, tile_on_device=True, callback=seen.append)
    assert [p.done for p in seen] == [4, 8] and seen[-1].total == 8
    with pytest.raises(TranslationStopped) as info:
        translate_hd(nn.Identity(), a, tile=32, batch=2, tile_on_device=True, callback=lambda p: True)
    assert info.value.progress == TileProgress(2, 8)
    assert np.array_equal(info.value.partial[:32], a[:32]) and not info.value.partial[32:].any()
    with pytest.raises(ValueError, match="overlap=0"):
        translate_hd(nn.Identity(), a, tile=32, overlap=8, tile_on_device=True)
    with pytest.raises(ValueError, match="NaN"):
        translate_hd(lambda t: t * float("nan"), a, tile=32, tile_on_device=True)


# ----------------------------------------------------------------------------- context around tiles


def local_conv_G(radius: int) -> nn.Module:
    """A fixed G whose output pixel depends on exactly ``radius`` pixels on each side (no norm)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 2 * radius + 1, padding=radius, padding_mode="reflect"), nn.Sigmoid(),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("h, w, tile, context", [(50, 41, 16, 3), (37, 70, 8, 5), (9, 9, 16, 4), (64, 30, 32, 6)])
@pytest.mark.parametrize("on_device", [False, True])
def test_context_reproduces_the_whole_frame(h, w, tile, context, on_device):
    # with context >= G's receptive radius, every kept pixel sees exactly what the whole frame shows it,
    # image edges included (both reflect the image the same way, radius <= the image side)
    conv = local_conv_G(3)
    G = lambda x: conv(x)[:, :3]  # noqa: E731
    a = noise_image(h, w)
    whole = apply_whole(G, a)
    tiled = translate_hd(G, a, tile=tile, batch=3, context=context, tile_on_device=on_device)
    assert tiled.shape == a.shape
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1  # float summation order only
    plain = translate_hd(G, a, tile=tile, batch=3, tile_on_device=on_device)
    if max(h, w) > tile:  # plain tiles see reflected tile content at their borders instead
        assert np.abs(plain.astype(int) - whole.astype(int)).max() > 10


def test_context_windows_reflect_at_every_edge():
    # a G that returns its window's centre unchanged gives the input back, whatever the context
    a = noise_image(23, 5)
    for context in (0, 1, 7, 40):
        assert np.array_equal(translate_hd(nn.Identity(), a, tile=4, context=context), a)
        assert np.array_equal(translate_hd(nn.Identity(), a, tile=4, context=context, tile_on_device=True), a)
    assert np.array_equal(tiling.reflect_indices(np.arange(-6, 0), 4), np.array([0, 1, 2, 3, 2, 1]))


def test_context_with_overlap_and_bad_values():
    conv = local_conv_G(2)
    G = lambda x: conv(x)[:, :3]  # noqa: E731
    a = noise_image(40, 40)
    blended = translate_hd(G, a, tile=16, overlap=4, context=2)
    assert np.abs(blended.astype(int) - apply_whole(G, a).astype(int)).max() <= 1  # every blended tile is exact
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="context"):
            translate_hd(G, a, tile=16, context=bad)
