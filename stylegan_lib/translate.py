"""Full-resolution photo translation with the shipped GAN generators (Van Gogh HD tab, CLI).

One entry point over the methods: load a generator through hub.py (cached per process),
plan how it runs (:func:`plan_translation` -> a frozen :class:`TranslationPlan`: tile, overlap,
batch, context, statistics, whole-frame limit; the policy below in one object, shared by the
app, the CLI and the benches), translate the photo with that plan (:func:`translate_image`: the
whole frame at once when the method allows and the frame is small enough, else tile by tile
with :func:`stylegan_lib.tiling.translate_hd`), and optionally blend the result with the photo
in CIELAB for a style-strength control.

Tiles per method:

* Siamese GAN: G was trained on S x S tiles; with per-tile statistics it runs on
  plain S-px tiles (overlap 0 by default, the setting Combo training is for), with the whole
  photo's statistics on larger tiles with context (below).
* CycleGAN (Zhu et al. 2017): fully convolutional, no training tile. The whole frame goes through G
  in one call up to :data:`WHOLE_FRAME_PIXELS` (by device type: 16.6 MP on CUDA, i.e. any 4K
  frame twice over; 1 MP on CPU, where one thread ran a 512-px tile about 1.7x faster per pixel
  than a 0.9 MP frame and host memory stays bounded). Larger frames run in square tiles of
  :data:`CYCLEGAN_TILE` px (1024 on CUDA, 512 on CPU; :data:`CYCLEGAN_BATCH` per batch)
  with the whole photo's statistics and context (below): the whole frame's result, seamless.
  With per-tile statistics they are blended over :data:`CYCLEGAN_OVERLAP` px with feathered
  weights; the feathering hides their borders, but such a tiled result differs in colour from
  the whole frame's (the reference output; see checkpoints/cyclegan-vangogh/README.md).

Instance-norm statistics (``norm``):

* ``"tile"``: every tile is normalised with its own statistics, as G was trained (the Siamese
  GAN's plain tiling). Tiles of flat content get stretched to the contrast of busy ones, which is
  where most seams come from.
* ``"image"`` (the CLI's and the app's default): the statistics of the whole photo, recorded
  once on a thumbnail of it (long side :data:`THUMBNAIL_SIDE`, the photo itself when smaller;
  ``instnorm``: thumbnail instance normalisation). Every tile is normalised with them and
  computed with :func:`default_context` pixels of context on every side (G's receptive
  radius), so the tiles add up to one seamless pass over the whole frame instead of being
  feathered together; a frame small enough runs in one call with the same statistics (the
  Siamese GAN too then), so the result is the same picture on every device. With shared
  statistics the tile is only a memory bound, so the Siamese GAN's tiles are larger then
  (:data:`IMAGE_TILE`), which keeps the context's extra work small.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .colour import lab_to_rgb, rgb_to_lab
from .images import array_to_tensor, as_uint8_rgb, fit_longest_side, pil_to_tensor, tensor_to_array
from .instnorm import NormStats
from .precision import check_autocast, with_autocast
from .tiling import Callback, TileProgress, reflect_indices, translate_hd

# method -> checkpoint name in hub.REGISTRY
METHODS = {
    "siamese": "siamese-vangogh",  # Siamese GAN, Combo-trained
    "siamese-naive": "siamese-vangogh-naive",  # trained on single tiles: the seams baseline
    "cyclegan": "cyclegan-vangogh",  # CycleGAN, fully convolutional
}
FULLY_CONVOLUTIONAL = {"cyclegan"}  # methods that may run on the whole frame
CYCLEGAN_TILE = {"cuda": 1024, "cpu": 512}  # tile side (px) by device type, when the frame is tiled
CYCLEGAN_OVERLAP = 64  # feathered overlap (px) of CycleGAN tiles
CYCLEGAN_BATCH = {"cuda": 4, "cpu": 1}  # CycleGAN tiles per batch
WHOLE_FRAME_PIXELS = {"cuda": 2 * 3840 * 2160, "cpu": 1024 * 1024}  # largest frame run in one call
TILE_BATCH = 16  # Siamese tiles per batch (translate_hd's default)
_MIN_WHOLE_SIDE = 16  # a whole frame (or thumbnail) is reflect-padded to at least this, and to multiples of 4
NORMS = ("tile", "image")  # instance-norm statistics: each tile's own (as trained) or the whole photo's
THUMBNAIL_SIDE = 512  # long side of the thumbnail that norm="image" records statistics on
IMAGE_TILE = {"cuda": 1024, "cpu": 512}  # tile side (px) by device type with norm="image"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type


def load_generator(
    method: str,
    *,
    path: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.nn.Module, int]:
    """(G, tile) for ``method``: G frozen in eval mode, from hub.py (or ``path``); G maps
    [B, 3, t, t] in [0, 1] to the same. ``tile``: the Siamese GAN's training tile, or the
    CycleGAN tile for ``device`` (:data:`CYCLEGAN_TILE`)."""
    _check_method(method)
    if method == "cyclegan":
        from .cyclegan import load_generator as load_cyclegan

        G, _ = load_cyclegan(METHODS[method], path=path, device=device, dtype=dtype)
        return G, CYCLEGAN_TILE.get(_device_type(device), CYCLEGAN_TILE["cpu"])
    from .siamese import load_generator as load_siamese

    G, config = load_siamese(METHODS[method], path=path, device=device, dtype=dtype)
    return G, config.tile


@functools.lru_cache(maxsize=4)
def load_translator(method: str, *, device: str = "cpu") -> tuple[torch.nn.Module, int]:
    """(G, tile) for ``method`` from hub.py, cached per process; shared by threads."""
    return load_generator(method, device=device)


def default_overlap(method: str, tile: int, *, norm: str = "tile") -> int:
    """Tile overlap when the caller gives none: 0 for the Siamese GANs and with whole-image
    statistics (tiles get context instead), CYCLEGAN_OVERLAP for CycleGAN's own-statistics tiles."""
    _check_method(method)
    _check_norm(norm)
    return min(CYCLEGAN_OVERLAP, tile // 2) if method in FULLY_CONVOLUTIONAL and norm == "tile" else 0


def default_batch(method: str, device: torch.device | str) -> int:
    """Tiles per batch when the caller gives none: CYCLEGAN_BATCH for CycleGAN's large tiles, else TILE_BATCH."""
    _check_method(method)
    if method not in FULLY_CONVOLUTIONAL:
        return TILE_BATCH
    return CYCLEGAN_BATCH.get(_device_type(device), CYCLEGAN_BATCH["cpu"])


def whole_frame_pixels(method: str, device: torch.device | str, *, norm: str = "tile") -> int:
    """The largest frame (pixels) ``method`` runs in one call on ``device``; 0 = always tiled.
    The Siamese GANs run whole frames only with the whole photo's statistics (``norm="image"``)."""
    _check_method(method)
    _check_norm(norm)
    if method not in FULLY_CONVOLUTIONAL and norm == "tile":
        return 0
    return WHOLE_FRAME_PIXELS.get(_device_type(device), WHOLE_FRAME_PIXELS["cpu"])


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def default_tile(method: str, tile: int, *, norm: str, device: torch.device | str) -> int:
    """The tile side translate_image uses: ``tile`` (the model's) with per-tile statistics, else the
    larger :data:`IMAGE_TILE` for the device (any multiple of the model's tile works then)."""
    _check_method(method)
    _check_norm(norm)
    if norm == "tile" or method in FULLY_CONVOLUTIONAL:
        return tile
    side = IMAGE_TILE.get(_device_type(device), IMAGE_TILE["cpu"])
    return max(tile, side // tile * tile)


def window_batch(batch: int, *, tile: int, window: int) -> int:
    """A batch of ``window``-px windows holding about as many pixels as ``batch`` tiles of ``tile`` px
    (at least 1): keeps the memory of a batch when tiles grow or get context."""
    return max(1, batch * tile * tile // (window * window))


def default_context(G: torch.nn.Module) -> int:
    """Context (px) around each tile for norm="image": G's receptive radius rounded up to a multiple
    of 4, so that every window starts on the grid of G's two stride-2 downsamplings."""
    return -(-int(G.receptive_radius) // 4) * 4


@dataclass(frozen=True)
class TranslationPlan:
    """How :func:`translate_image` runs one method on one device: the whole policy in one object.

    Made by :func:`plan_translation` (the defaults below, each overridable); shared by the app,
    the CLI and the benches. Frozen: derive a variant with ``dataclasses.replace``.
    """

    method: str  # a key of METHODS
    tile: int  # tile side (px) when the frame is tiled
    overlap: int  # feathered overlap (px) between tiles; 0: plain tiles
    batch: int  # windows (tiles with their context) per batch
    context: int  # px of the photo around each tile that G sees (norm="image"); 0: none
    norm: str  # instance-norm statistics, one of NORMS
    whole_frame_pixels: int  # frames up to this many pixels go through G in one call; 0: always tiled
    device: str  # where G runs

    def runs_whole_frame(self, height: int, width: int) -> bool:
        """Whether a height x width frame goes through G in one call."""
        return runs_whole_frame(height, width, whole_frame_pixels=self.whole_frame_pixels)

    def plain_tile(self, height: int, width: int) -> int | None:
        """The plain tile grid whose borders may show in the result; None: a whole frame or overlapping tiles."""
        return None if self.runs_whole_frame(height, width) or self.overlap else self.tile

    def describe(self, height: int, width: int) -> str:
        """How G runs on a height x width frame, for a status line."""
        image_stats = self.norm == "image"
        if self.runs_whole_frame(height, width):
            return "the whole frame at once" + (", the whole photo's statistics" if image_stats else "")
        text = f"{self.tile}-px tiles" + (f", {self.overlap}-px overlap" if self.overlap else "")
        if image_stats:
            text += f" with {self.context} px of context, the whole photo's statistics"
        return text


def plan_translation(
    method: str,
    G: torch.nn.Module,
    model_tile: int,
    *,
    norm: str,
    device: torch.device | str,
    tile: int | None = None,
    overlap: int | None = None,
    batch: int | None = None,
    tile_batch: int | None = None,
    context: int | None = None,
) -> TranslationPlan:
    """The :class:`TranslationPlan` for ``method`` (``G``, trained on ``model_tile``) on ``device``.

    Each setting given is kept; the others are defaults: ``tile`` (:func:`default_tile`; a given
    tile also means tiles, never the whole frame), ``overlap`` (:func:`default_overlap`),
    ``whole_frame_pixels``, ``context`` (:func:`default_context` with ``norm="image"``, else 0).
    ``batch`` (windows per batch) defaults to ``tile_batch`` plain tiles for the Siamese GANs
    (else :func:`default_batch`), which with ``norm="image"``'s larger tiles with context become
    windows holding as many pixels (:func:`window_batch`); CycleGAN: :func:`default_batch`.
    """
    _check_method(method)
    _check_norm(norm)
    forced_tiles = tile is not None
    tile = tile or default_tile(method, model_tile, norm=norm, device=device)
    if context is None and norm == "image":
        context = default_context(G)
    if batch is None:
        small_tiles = method not in FULLY_CONVOLUTIONAL
        batch = tile_batch if small_tiles and tile_batch is not None else default_batch(method, device)
        if small_tiles and norm == "image":
            batch = window_batch(batch, tile=model_tile, window=tile + 2 * context)
    return TranslationPlan(
        method=method,
        tile=tile,
        overlap=default_overlap(method, tile, norm=norm) if overlap is None else overlap,
        batch=batch,
        context=context or 0,
        norm=norm,
        whole_frame_pixels=0 if forced_tiles else whole_frame_pixels(method, device, norm=norm),
        device=str(device),
    )


def thumbnail_stats(
    G: torch.nn.Module,
    image,
    *,
    side: int = THUMBNAIL_SIDE,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> NormStats:
    """G's instance-norm statistics on a thumbnail of ``image`` (PIL RGB or uint8 (H, W, 3)).

    The thumbnail keeps the aspect with its long side at most ``side`` (Lanczos); a smaller
    photo is used as it is. It is then padded as a whole frame is (:func:`pad_frame`), so for a
    photo that runs in one call the statistics are exactly its own.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    thumb = pil if max(pil.size) <= side else fit_longest_side(pil, side)  # Lanczos down
    with torch.inference_mode():
        return G.norm_stats(pad_frame(pil_to_tensor(thumb, device=device, dtype=dtype)))


def runs_whole_frame(height: int, width: int, *, whole_frame_pixels: int) -> bool:
    """Whether :func:`translate_image` sends a height x width frame through G in one call."""
    return height * width <= whole_frame_pixels


def translate_image(
    G: Callable[[torch.Tensor], torch.Tensor],
    image,
    plan: TranslationPlan | None = None,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    whole_frame_pixels: int | None = None,
    batch: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    callback: Callback | None = None,
    norm: str | None = None,
    context: int | None = None,
    autocast: torch.dtype | None = None,
) -> np.ndarray:
    """``image`` (PIL RGB or uint8 (H, W, 3)) through ``G`` -> uint8 (H, W, 3) of the same size.

    How G runs comes from ``plan`` (:func:`plan_translation`: what the app, the CLI and the
    benches use), or, without one, from the keywords ``tile`` (required then), ``overlap`` (0),
    ``whole_frame_pixels`` (0), ``batch`` (16), ``device`` ("cpu"), ``norm`` ("tile") and
    ``context``; giving a plan and any of them is an error.

    Frames of at most ``whole_frame_pixels`` pixels go through G in one call (G must accept any
    size: CycleGAN's generator); the others, tile by tile with :func:`translate_hd` (``tile``,
    ``overlap``, ``batch``). ``callback`` gets one TileProgress(1, 1) for a whole frame.

    ``norm``: ``"tile"``: G as it is, each tile (or the whole frame) normalised with its own
    statistics. ``"image"``: G normalises with :func:`thumbnail_stats` of the whole photo, a
    whole frame and every tile alike, and tiles get ``context`` pixels of context (default
    :func:`default_context`); G must have ``norm_stats`` and ``receptive_radius`` (the shipped
    generators do). ``context`` is 0 by default otherwise. A whole frame is reflect-padded to
    multiples of 4 for G and cropped back.

    ``autocast`` (precision.py; e.g. ``torch.bfloat16``): G runs under torch.autocast in that
    dtype on channels_last input; ``norm="image"``'s statistics are still recorded in ``dtype``.
    """
    layout = dict(tile=tile, overlap=overlap, whole_frame_pixels=whole_frame_pixels, batch=batch, device=device,
                  norm=norm, context=context)  # fmt: skip
    if plan is not None:
        given = [name for name, value in layout.items() if value is not None]
        if given:
            raise TypeError(f"translate_image takes a plan or {', '.join(given)}, not both")
        tile, overlap, whole_frame_pixels, batch = plan.tile, plan.overlap, plan.whole_frame_pixels, plan.batch
        device, norm, context = plan.device, plan.norm, plan.context
    elif tile is None:
        raise TypeError("translate_image needs a plan (translate.plan_translation) or a tile size")
    else:
        overlap = 0 if overlap is None else overlap
        whole_frame_pixels = 0 if whole_frame_pixels is None else whole_frame_pixels
        batch = 16 if batch is None else batch
        device = "cpu" if device is None else device
        norm = "tile" if norm is None else norm
    _check_norm(norm)
    check_autocast(autocast, dtype)
    if norm == "image":
        # a PIL RGB photo is thumbnailed as it is (no full-size array and PIL copies); anything else is checked
        source = image if isinstance(image, Image.Image) and image.mode == "RGB" else as_uint8_rgb(image)
        stats = thumbnail_stats(G, source, device=device, dtype=dtype)
        context = default_context(G) if context is None else context
        G = functools.partial(G, norm_stats=stats)
    G = with_autocast(G, device=device, autocast=autocast)
    if _whole_frame(image, whole_frame_pixels):
        src = _rgb_array(image)
        with torch.inference_mode():
            x = array_to_tensor(src, device=device, dtype=dtype)[None]  # [1, 3, H, W] in [0, 1]
            y = _padded(G, x)
            if not isinstance(y, torch.Tensor) or y.shape != x.shape:
                raise ValueError(f"G must map {list(x.shape)} to the same shape, got {getattr(y, 'shape', y)}")
            if not torch.isfinite(y.sum()):
                raise ValueError("G produced NaN or infinite values")
            out = tensor_to_array(y[0], overwrite=True)  # (H, W, 3) uint8
        if callback is not None:
            callback(TileProgress(1, 1))
        return out
    return translate_hd(
        G,
        image,
        tile=tile,
        overlap=overlap,
        batch=batch,
        device=device,
        dtype=dtype,
        callback=callback,
        context=context or 0,
    )


def pad_frame(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] reflected at the bottom and right (repeatedly; a 1-px side replicated, as
    translate_hd pads) to sides that are multiples of 4 and at least 16: what G needs."""
    h, w = x.shape[-2:]
    size = [max(_MIN_WHOLE_SIDE, v + -v % 4) for v in (h, w)]
    if size == [h, w]:
        return x
    rows, cols = (
        torch.from_numpy(reflect_indices(np.arange(s), v)).to(x.device) for s, v in zip(size, (h, w), strict=True)
    )
    return x.index_select(-2, rows).index_select(-1, cols)


def _padded(G, x: torch.Tensor) -> torch.Tensor:
    # G on x [1, 3, H, W] padded by pad_frame, cropped back
    h, w = x.shape[-2:]
    y = G(pad_frame(x))
    return y[..., :h, :w] if isinstance(y, torch.Tensor) else y


def _rgb_array(image):
    return np.asarray(image) if isinstance(image, Image.Image) and image.mode == "RGB" else image


def _whole_frame(image, whole_frame_pixels: int) -> bool:
    # whether translate_image runs ``image`` in one call (invalid images go on to translate_hd's checks)
    src = _rgb_array(image)
    return (
        isinstance(src, np.ndarray)
        and src.dtype == np.uint8
        and src.ndim == 3
        and src.shape[2] == 3
        and runs_whole_frame(*src.shape[:2], whole_frame_pixels=whole_frame_pixels)
    )


def blend_strength(photo: np.ndarray, painting: np.ndarray, *, strength: float, rows: int = 512) -> np.ndarray:
    """Interpolate uint8 H x W x 3 images in CIELAB: 0 gives ``photo``, 1 gives ``painting``.

    Works in strips of ``rows`` rows, so a 50-megapixel image needs no full float copy.
    """
    if photo.shape != painting.shape:
        raise ValueError(f"shapes differ: {photo.shape} vs {painting.shape}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if strength == 1.0:
        return painting
    out = np.empty_like(photo)
    for top in range(0, photo.shape[0], rows):
        a, b = (array_to_tensor(x[top : top + rows])[None] for x in (photo, painting))  # [1, 3, rows, W]
        lab = torch.lerp(rgb_to_lab(a), rgb_to_lab(b), strength)
        out[top : top + rows] = tensor_to_array(lab_to_rgb(lab)[0], overwrite=True)
    return out
