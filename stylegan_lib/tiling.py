"""Tiling shared by the GAN translators (Siamese GAN, CycleGAN).

* :func:`cut_tiles` / :func:`stitch_tiles`: exact, differentiable tensor reshapes.
* :func:`combo`: the Siamese GAN's "Combo" model: a 2S x 2S crop is cut into S x S tiles, G runs on
  every tile, the tiles are stitched back; D judges the stitched image, so every tile border
  must look real and G learns seamless tiles.
* :func:`translate_hd`: runs G tile by tile over a photo of any size (50 megapixels on a small
  CPU box), in bounded memory: the image is never converted to float as a whole, only the tiles
  of one batch and, when tiles overlap, a float canvas of the few tile rows in flight. Tiles
  can be computed with context around them (only their centre kept), which with shared
  normalisation statistics (``instnorm``) adds up to one pass over the whole frame.
* :func:`seam_score`: how visible the tile borders of a plainly tiled output are (1 = invisible).

Tensors: images are [N, 3, H, W], RGB, range [0, 1]. Arrays at the boundary are uint8 (H, W, 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .colour import LUMA
from .images import array_to_tensor, as_uint8_rgb, tensor_to_array, to_uint8, to_unit_float
from .precision import check_autocast, with_autocast

__all__ = [
    "TileProgress",
    "TranslationStopped",
    "cut_tiles",
    "stitch_tiles",
    "combo",
    "translate_hd",
    "seam_score",
    "reflect_indices",
]

_SEAM_STRIP_ROWS = 256  # seam_score converts this many rows to float64 at a time
DEVICE_TILING_PIXELS = 100_000_000  # translate_hd tiles frames up to this many (padded) pixels on a CUDA device


@dataclass
class TileProgress:
    done: int  # tiles translated so far
    total: int  # tiles in the whole image


Callback = Callable[[TileProgress], "bool | None"]  # return True to stop early


class TranslationStopped(Exception):
    """Raised by :func:`translate_hd` when its callback returned True.

    ``partial``: the uint8 (H, W, 3) output so far: every output row that no unfinished tile
    touches is final, the other rows are black. ``progress``: tiles done / total at the stop.
    """

    def __init__(self, partial: np.ndarray, progress: TileProgress):
        super().__init__(f"translation stopped after {progress.done} of {progress.total} tiles")
        self.partial = partial
        self.progress = progress


# ----------------------------------------------------------------------------- tensor tiles


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def cut_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """[N, C, H, W] with H, W multiples of ``tile`` -> [N * gh * gw, C, tile, tile], order (n, row, col)."""
    _check_positive_int("tile", tile)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"Expected a tensor [N, C, H, W], got {_describe(x)}")
    n, c, h, w = x.shape
    if h == 0 or w == 0 or h % tile or w % tile:
        raise ValueError(f"Height and width must be positive multiples of tile={tile}, got {h}x{w}")
    gh, gw = h // tile, w // tile
    x = x.reshape(n, c, gh, tile, gw, tile)  # [N, C, gh, t, gw, t]
    return x.permute(0, 2, 4, 1, 3, 5).reshape(n * gh * gw, c, tile, tile)


def stitch_tiles(tiles: torch.Tensor, *, grid: tuple[int, int]) -> torch.Tensor:
    """Exact inverse of :func:`cut_tiles`: [N * gh * gw, C, t, t] -> [N, C, gh * t, gw * t]."""
    gh, gw = grid
    _check_positive_int("grid[0]", gh)
    _check_positive_int("grid[1]", gw)
    if not isinstance(tiles, torch.Tensor) or tiles.ndim != 4 or tiles.shape[-1] != tiles.shape[-2]:
        raise ValueError(f"Expected square tiles [N * gh * gw, C, t, t], got {_describe(tiles)}")
    b, c, t, _ = tiles.shape
    if b == 0 or b % (gh * gw):
        raise ValueError(f"{b} tiles cannot fill whole {gh}x{gw} grids")
    x = tiles.reshape(b // (gh * gw), gh, gw, c, t, t)  # [N, gh, gw, C, t, t]
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b // (gh * gw), c, gh * t, gw * t)


def combo(G: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int) -> torch.Tensor:
    """The Siamese GAN's Combo model: G on every ``tile`` x ``tile`` tile of ``x``, stitched back.

    ``x``: [N, 3, H, W] in [0, 1], H and W multiples of ``tile`` (2S x 2S crops in training).
    All tiles go through G in one batch; the result [N, 3, H, W] is differentiable.
    """
    tiles = cut_tiles(x, tile)  # [N * gh * gw, 3, t, t]
    out = G(tiles)
    if not isinstance(out, torch.Tensor) or out.shape != tiles.shape:
        raise ValueError(f"G must map tiles {list(tiles.shape)} to the same shape, got {_describe(out)}")
    return stitch_tiles(out, grid=(x.shape[-2] // tile, x.shape[-1] // tile))


def _describe(x) -> str:
    return f"shape {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


# ----------------------------------------------------------------------------- HD translation


@dataclass(frozen=True)
class _Axis:
    """Tile layout along one axis: ``count`` tiles of ``tile`` pixels every ``stride`` pixels."""

    size: int  # image pixels along the axis
    tile: int
    stride: int  # tile - overlap
    count: int
    padded: int  # (count - 1) * stride + tile >= size

    @classmethod
    def layout(cls, size: int, *, tile: int, overlap: int) -> _Axis:
        stride = tile - overlap
        count = 1 if size <= tile else math.ceil((size - tile) / stride) + 1
        return cls(size, tile, stride, count, (count - 1) * stride + tile)

    def source(self, k: int, *, context: int = 0) -> slice | np.ndarray:
        """Image indices under tile ``k`` widened by ``context`` pixels on both sides: a slice
        inside the image, else reflect-padded indices."""
        start, stop = k * self.stride - context, k * self.stride + self.tile + context
        if start >= 0 and stop <= self.size:
            return slice(start, stop)
        return reflect_indices(np.arange(start, stop), self.size)


def reflect_indices(i: np.ndarray, n: int) -> np.ndarray:
    """Indices i (negative too) folded into [0, n) by repeated reflection (edge not repeated, like np.pad
    "reflect" applied as many times as needed); n == 1 replicates its single pixel."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    m = i % period  # numpy's % is never negative for a positive period
    return np.where(m < n, m, period - m)


def _feather_weights(axis: _Axis, overlap: int) -> np.ndarray:
    """[count, tile] float64 1-D blending weights; the weights of all tiles sum to 1 at every pixel.

    Each tile ramps up (raised cosine) over its first ``overlap`` pixels unless it is the first
    tile, and down over its last ``overlap`` pixels unless it is the last one; the sums are then
    normalised per pixel, which also covers overlap > tile / 2 (three tiles over one pixel).
    Separable: w2d[j, k] = wy[j][:, None] * wx[k][None, :] sums to 1 over all tiles as well.
    """
    raw = np.ones((axis.count, axis.tile))
    if overlap:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)  # (0, 1), never 0
        raw[1:, :overlap] *= ramp
        raw[:-1, axis.tile - overlap :] *= ramp[::-1]
    total = np.zeros(axis.padded)
    for k in range(axis.count):
        total[k * axis.stride : k * axis.stride + axis.tile] += raw[k]
    return np.stack([raw[k] / total[k * axis.stride : k * axis.stride + axis.tile] for k in range(axis.count)])


class _Paste:
    """overlap == 0: output tiles are written straight into the uint8 output."""

    def __init__(self, out: np.ndarray, ys: _Axis, xs: _Axis):
        self.out, self.ys, self.xs = out, ys, xs

    def add(self, y: torch.Tensor, where: list[tuple[int, int]]) -> None:
        # y: [B, 3, t, t] in [0, 1], CPU float32, ours to overwrite; where: (tile row, tile col) of each
        tiles = tensor_to_array(y, overwrite=True)  # (B, t, t, 3) uint8
        for tile, (j, k) in zip(tiles, where, strict=True):
            y0, x0 = j * self.ys.stride, k * self.xs.stride
            h, w = min(self.ys.tile, self.ys.size - y0), min(self.xs.tile, self.xs.size - x0)
            self.out[y0 : y0 + h, x0 : x0 + w] = tile[:h, :w]

    def flush(self, upto: int) -> None:
        pass


class _Blend:
    """overlap > 0: weighted tiles are summed in a float canvas holding only the tile rows in flight.

    The canvas [3, rows, padded width] covers output rows [top, top + rows); rows above the first
    unfinished tile row are final and are flushed to the uint8 output (then dropped).
    """

    def __init__(self, out: np.ndarray, ys: _Axis, xs: _Axis, *, overlap: int, rows: int):
        self.out, self.ys, self.xs = out, ys, xs
        self.wy = torch.from_numpy(_feather_weights(ys, overlap)).float()  # [gh, t]
        self.wx = torch.from_numpy(_feather_weights(xs, overlap)).float()  # [gw, t]
        self.canvas = torch.zeros(3, min(rows, ys.padded), xs.padded)  # float32, range [0, 1]
        self.top = 0

    def add(self, y: torch.Tensor, where: list[tuple[int, int]]) -> None:
        # y: [B, 3, t, t] in [0, 1], CPU float32, ours to overwrite; where: (tile row, tile col) of each
        t = self.xs.tile
        rows, cols = (torch.tensor(v) for v in zip(*where, strict=True))
        y = y.mul_(self.wy[rows][:, None, :, None]).mul_(self.wx[cols][:, None, None, :])  # [B, 3, t, t]
        for tile, (j, k) in zip(y, where, strict=True):
            y0, x0 = j * self.ys.stride - self.top, k * self.xs.stride
            self.canvas[:, y0 : y0 + t, x0 : x0 + t] += tile

    def flush(self, upto: int) -> None:
        """Write output rows [top, upto) (padded coordinates) and drop them from the canvas."""
        n = upto - self.top
        if n <= 0:
            return
        h = max(0, min(upto, self.ys.size) - self.top)
        if h:
            self.out[self.top : self.top + h] = tensor_to_array(self.canvas[:, :h, : self.xs.size], overwrite=True)
        rows = self.canvas.shape[1]
        for i in range(0, rows - n, n):  # shift up by n rows, in chunks that do not overlap
            m = min(n, rows - n - i)
            self.canvas[:, i : i + m] = self.canvas[:, n + i : n + i + m]
        self.canvas[:, max(rows - n, 0) :] = 0
        self.top = upto


def translate_hd(
    G: Callable[[torch.Tensor], torch.Tensor],
    image,
    *,
    tile: int,
    batch: int = 16,
    overlap: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    callback: Callback | None = None,
    tile_on_device: bool | None = None,
    context: int = 0,
    autocast: torch.dtype | None = None,
) -> np.ndarray:
    """Translate ``image`` tile by tile with ``G``; returns a uint8 (H, W, 3) array of the input's size.

    ``G``: maps [B, 3, t, t] in [0, 1] to the same shape in [0, 1] (an nn.Module already on
    ``device``/``dtype`` and in eval mode, or any callable). ``image``: a PIL RGB image or a
    uint8 (H, W, 3) array. Tiles start at (0, 0) every ``tile - overlap`` pixels; the image is
    reflect-padded on the bottom/right to cover whole tiles (replicate for a 1-pixel side) and
    the output cropped back. ``overlap == 0``: the Siamese GAN's plain tiling, each tile independent
    (what Combo trains for). ``overlap > 0``: tiles are blended with separable raised-cosine
    weights that sum to 1 everywhere. Tiles run in batches of ``batch`` under inference mode,
    in raster order, moved to ``device``/``dtype`` and back per batch.

    ``context > 0``: G sees every tile with ``context`` more pixels of the image on each side
    (reflected at the image's edges) and only the centre ``tile`` x ``tile`` of its output is
    kept, so no tile is cut off from its neighbours: with a G whose tiles share their
    normalisation statistics (``instnorm``), a context of at least G's receptive radius
    reproduces one pass over the whole frame. G then runs on (tile + 2 context)-px windows.

    Memory: beyond the uint8 input and output, O(batch * (tile + 2 context)^2 + tile * width):
    one batch of tiles, plus (overlap > 0) a float32 canvas of the tile rows in flight.

    ``callback`` gets a :class:`TileProgress` after every batch; if it returns True before the
    last batch, :class:`TranslationStopped` is raised, carrying the partial output.

    ``tile_on_device`` (default: on CUDA with ``overlap == 0`` and a frame of at most
    ``DEVICE_TILING_PIXELS``): the whole uint8 frame is uploaded once, padded, cut into tiles,
    translated and reassembled on the device, and downloaded once, instead of gathering and
    pasting each tile on the CPU (which, on a GPU, costs far more than G). Same tiles, same
    arithmetic, same output; memory on the device is about 2 x 3 bytes per padded pixel plus
    one batch of float tiles.

    ``autocast`` (precision.py; e.g. ``torch.bfloat16``): G runs under torch.autocast in that
    dtype on channels_last tiles; its output is taken back to ``dtype`` before the blending.
    """
    _check_positive_int("tile", tile)
    _check_positive_int("batch", batch)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile:
        raise ValueError(f"overlap must be an int in [0, tile={tile}), got {overlap!r}")
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ValueError(f"context must be an int >= 0, got {context!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    check_autocast(autocast, dtype)
    G = with_autocast(G, device=device, autocast=autocast)
    src = as_uint8_rgb(image)
    ys = _Axis.layout(src.shape[0], tile=tile, overlap=overlap)
    xs = _Axis.layout(src.shape[1], tile=tile, overlap=overlap)
    if tile_on_device is None:
        tile_on_device = (
            torch.device(device).type == "cuda"
            and overlap == 0
            and ys.count * xs.count * (tile + 2 * context) ** 2 <= DEVICE_TILING_PIXELS
        )
    if tile_on_device:
        if overlap:
            raise ValueError("tile_on_device needs plain tiles (overlap=0)")
        return _translate_on_device(
            G, src, ys, xs, batch=batch, device=device, dtype=dtype, callback=callback, context=context
        )
    out = np.zeros(src.shape, dtype=np.uint8)  # (H, W, 3), pages allocated as rows are written
    if overlap:
        # rows in flight: from the first unfinished tile row to the last tile row of a batch
        rows = ((batch - 1) // xs.count + 1) * ys.stride + tile
        sink = _Blend(out, ys, xs, overlap=overlap, rows=rows)
    else:
        sink = _Paste(out, ys, xs)

    total = ys.count * xs.count
    window = tile + 2 * context
    buf = np.empty((min(batch, total), window, window, 3), dtype=np.uint8)  # one batch of input windows
    with torch.inference_mode():
        for start in range(0, total, batch):
            idx = range(start, min(start + batch, total))
            for b, i in enumerate(idx):
                buf[b] = _gather(
                    src, ys.source(i // xs.count, context=context), xs.source(i % xs.count, context=context)
                )
            y = _run(G, buf[: len(idx)], device=device, dtype=dtype, context=context)  # [B, 3, t, t] CPU float32
            sink.add(y, [divmod(i, xs.count) for i in idx])
            done = idx.stop
            first_open_row = done // xs.count  # tile rows before it are complete
            sink.flush(first_open_row * ys.stride if first_open_row < ys.count else ys.padded)
            if callback is not None and callback(TileProgress(done, total)) is True and done < total:
                raise TranslationStopped(out, TileProgress(done, total))
    return out


def _gather(src: np.ndarray, rows: slice | np.ndarray, cols: slice | np.ndarray) -> np.ndarray:
    """src[rows][:, cols] for slices or index arrays, without copying more than the tile."""
    if isinstance(rows, slice):
        return src[rows, cols]
    if isinstance(cols, slice):
        return src[:, cols][rows]
    return src[np.ix_(rows, cols)]


def _translate_on_device(
    G, src: np.ndarray, ys: _Axis, xs: _Axis, *, batch: int, device, dtype, callback, context: int
):
    """translate_hd with plain tiles, the frame held on ``device`` (see its ``tile_on_device``)."""
    t, win = ys.tile, ys.tile + 2 * context
    index = [
        torch.from_numpy(np.concatenate([np.arange(a.size)[a.source(k, context=context)] for k in range(a.count)]))
        for a in (ys, xs)
    ]  # every window's source rows and columns, as the CPU path gathers them
    with torch.inference_mode():
        frame = torch.from_numpy(src).to(device)
        frame = frame.index_select(0, index[0].to(device)).index_select(1, index[1].to(device))  # (cy win, cx win, 3)
        tiles = frame.view(ys.count, win, xs.count, win, 3).permute(0, 2, 4, 1, 3).reshape(-1, 3, win, win)
        out = torch.zeros(
            tiles.shape[0], 3, t, t, dtype=torch.uint8, device=frame.device
        )  # raster order; black until done
        total = tiles.shape[0]
        for start in range(0, total, batch):
            stop = min(start + batch, total)
            y = _apply(G, to_unit_float(tiles[start:stop], dtype), context=context)  # float32 in [0, 1]
            out[start:stop] = to_uint8(y, overwrite=True)
            if callback is not None and callback(TileProgress(stop, total)) is True and stop < total:
                raise TranslationStopped(_assemble(out, ys, xs), TileProgress(stop, total))
        return _assemble(out, ys, xs)


def _assemble(tiles: torch.Tensor, ys: _Axis, xs: _Axis) -> np.ndarray:
    # uint8 [count_y * count_x, 3, t, t] in raster order -> (H, W, 3) on the CPU, cropped to the image
    t = ys.tile
    frame = tiles.view(ys.count, xs.count, 3, t, t).permute(0, 3, 1, 4, 2).reshape(ys.padded, xs.padded, 3)
    return frame[: ys.size, : xs.size].cpu().numpy()


def _apply(G, x: torch.Tensor, *, context: int = 0) -> torch.Tensor:
    """[B, 3, w, w] in [0, 1] -> G -> float32 [B, 3, t, t] clamped to [0, 1], on x's device;
    t = w - 2 context: the centre of G's output."""
    y = G(x)
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise ValueError(f"G must map tiles {list(x.shape)} to the same shape, got {_describe(y)}")
    if context:
        y = y[..., context:-context, context:-context]
    y = y.to(torch.float32)
    if not torch.isfinite(y.sum()):  # one reduction, no [B, 3, t, t] bool mask
        raise ValueError("G produced NaN or infinite values")
    return y.clamp(0.0, 1.0)


def _run(G, tiles: np.ndarray, *, device, dtype: torch.dtype, context: int) -> torch.Tensor:
    """uint8 (B, w, w, 3) windows -> G on device -> CPU float32 [B, 3, t, t] clamped to [0, 1]."""
    x = array_to_tensor(tiles, device=device, dtype=dtype).contiguous()  # [B, 3, w, w], moved as uint8
    return _apply(G, x, context=context).cpu()


# ----------------------------------------------------------------------------- seam score


def seam_score(image, *, tile: int) -> float:
    """Visibility of tile borders: mean |luminance step| across borders / mean inside tiles.

    For the output of plain tiling with ``tile`` x ``tile`` tiles starting at (0, 0). Horizontal
    and vertical neighbour differences are pooled; "across" is between the last pixel of a tile
    and the first of the next, "inside" all other pairs. A photo never tiled scores about 1.0,
    visible seams score > 1; inf when only the borders vary. ``image``: PIL RGB or uint8
    (H, W, 3). Computed in float64, ``_SEAM_STRIP_ROWS`` rows at a time.
    """
    _check_positive_int("tile", tile)
    a = as_uint8_rgb(image)
    h, w = a.shape[:2]
    if h <= tile and w <= tile:
        raise ValueError(f"A {w}x{h} image has no tile border for tile={tile}: it needs more than {tile} pixels")
    luma = np.array(LUMA)
    border_sum = inside_sum = 0.0
    prev = None  # float64 (W,): the last luminance row of the previous strip
    for r0 in range(0, h, _SEAM_STRIP_ROWS):
        y = a[r0 : r0 + _SEAM_STRIP_ROWS] @ luma  # float64 (rows, W), range [0, 255]
        dx = np.abs(np.diff(y, axis=1))  # (rows, W - 1): pair (x, x + 1)
        across = dx[:, tile - 1 :: tile].sum()
        border_sum += across
        inside_sum += dx.sum() - across
        if prev is not None:
            y = np.concatenate([prev[None], y])
        dy = np.abs(np.diff(y, axis=0))  # pair (r, r + 1) for r from r0 - 1 (or r0)
        first = r0 - 1 if prev is not None else r0
        border_rows = (np.arange(first, first + dy.shape[0]) + 1) % tile == 0
        across = dy[border_rows].sum()
        border_sum += across
        inside_sum += dy.sum() - across
        prev = y[-1]
    n_border = h * ((w - 1) // tile) + w * ((h - 1) // tile)
    n_inside = h * (w - 1) + w * (h - 1) - n_border
    border, inside = border_sum / n_border, (inside_sum / n_inside if n_inside else 0.0)
    if inside == 0.0:
        if border == 0.0:
            raise ValueError("The image is flat (no luminance differences): there is no seam to measure")
        return math.inf
    return float(border / inside)
