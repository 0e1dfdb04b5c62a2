"""Arbitrary style transfer with Adaptive Instance Normalization (Huang & Belongie, ICCV 2017).

    t = AdaIN(f(c), f(s)) = sigma(f(s)) * (f(c) - mu(f(c))) / sigma(f(c)) + mu(f(s))
    T(c, s, alpha) = g(alpha * t + (1 - alpha) * f(c))

f is the frozen VGG19 up to relu4_1 (the Caffe weights of the NST tab, through
:func:`stylegan_lib.vgg.load_vgg19`, with their own input convention), g the decoder that
mirrors it (nearest or bilinear upsampling, reflection-padded 3x3 convolutions, no normalisation).
Training (``adain_train.py``) minimises ``L_c + style_weight * L_s`` where, as in the authors'
reference code, L_c = MSE(f(g(t)), t) and L_s = sum over relu1_1..relu4_1 of
MSE(mu(phi_i(g(t))), mu(phi_i(s))) + MSE(sigma(...), sigma(...)), with every layer in units of
its mean activation (:data:`FEATURE_SCALES`), as the reference code's normalised VGG has.

Several styles with weights w_k: the paper blends the AdaIN targets, sum_k w_k AdaIN(f(c), f(s_k));
since every term normalises the same content features, that equals one AdaIN with the blended
statistics sum_k w_k mu_k and sum_k w_k sigma_k, which is what :func:`style_statistics` returns.

Sizes: the encoder pools three times, so contents are reflect-padded by a 32-px margin on every
side and then on the bottom/right to a multiple of 8 (at least 16), and the output is cropped back:
any H x W in gives H x W out, with no band along the border (:func:`pad_with_margin`). Above ``max_pixels``
the content runs in overlapping tiles (``tiling.translate_hd``, feathered blending); the AdaIN
statistics of the content then come from a first pass over all tiles (sums of relu4_1 over the
whole image), never per tile, so every tile gets the same normalisation as a one-pass run.

Tensors: images are [N, 3, H, W], RGB, range [0, 1]; features [N, 512, H/8, W/8].
"""

from __future__ import annotations

import collections
import functools
import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpointing import config_from_dict
from .colour import luminance, match_luminance, with_content_colors
from .images import array_to_tensor, fit_size, resize, tensor_to_array
from .precision import check_autocast, with_autocast
from .vgg import VGG19Features, load_vgg19

ENCODER_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
FACTOR = 8  # the encoder's downsampling: three 2x2 poolings before relu4_1
MIN_TILE = 64  # smaller tiles are dominated by VGG's zero-padding border effects
MARGIN = 32  # px of reflection around the content before encoding (see pad_with_margin)


@dataclass
class AdaINConfig:
    width: int = 64  # decoder channels at full resolution (paper: 64; widths w, 2w, 4w mirror VGG's 64-128-256)
    vgg_weights: str = "caffe"  # the encoder (the input the decoder was trained on)
    eps: float = 1e-5  # added to the content variance in AdaIN and to variances in the style loss
    upsample: str = "nearest"  # the decoder's three 2x upsamplings: nearest (the paper's) or bilinear

    def __post_init__(self):
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {list(UPSAMPLING)}, got {self.upsample!r}")

    def to_dict(self) -> dict:
        return {"architecture": "adain-decoder", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> AdaINConfig:
        return config_from_dict(cls, d, architecture="adain-decoder")


# Nearest upsampling copies each feature into a 2x2 block, and the 3x3 convolutions after it can
# print that block as a 2-, 4- and 8-px grid (Odena et al. 2016, "Deconvolution and checkerboard
# artifacts"); bilinear interpolation leaves no block to print. Neither has weights, so a decoder
# trained with one loads with the other and can be fine-tuned with it (adain_train's ``init``).
UPSAMPLING = ("nearest", "bilinear")


def _upsample(mode: str) -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))


def _conv(c_in: int, c_out: int, *, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    return layers + [nn.ReLU()] if relu else layers


class Decoder(nn.Module):
    """relu4_1 features [N, 512, h, w], h, w >= 2 -> image [N, 3, 8h, 8w] (about [0, 1]; not clamped).

    The paper's decoder, VGG19 conv4_1..conv1_1 mirrored: pooling -> upsampling (``config.upsample``).
    """

    def __init__(self, config: AdaINConfig):
        super().__init__()
        self.config = config
        w = config.width
        up = lambda: _upsample(config.upsample)  # noqa: E731
        self.layers = nn.Sequential(
            *_conv(512, 4 * w), up(),  # conv4_1 mirror, 1/8 -> 1/4
            *_conv(4 * w, 4 * w), *_conv(4 * w, 4 * w), *_conv(4 * w, 4 * w),  # conv3_4..3_2
            *_conv(4 * w, 2 * w), up(),  # conv3_1, 1/4 -> 1/2
            *_conv(2 * w, 2 * w), *_conv(2 * w, w), up(),  # conv2_x
            *_conv(w, w), *_conv(w, 3, relu=False),  # conv1_2, conv1_1
        )  # fmt: skip

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


# ----------------------------------------------------------------------------- the operation


def mean_std(features: torch.Tensor, *, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and sqrt(biased variance + eps): [N, C, H, W] -> 2 x [N, C, 1, 1].

    Reduced in float32 at least (bfloat16 sums over a 1080p map lose digits), returned in the input dtype.
    """
    x = features.float() if features.dtype in (torch.float16, torch.bfloat16) else features
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    return mean.to(features.dtype), (var + eps).sqrt().to(features.dtype)


def adain_stats(
    content: torch.Tensor, content_stats: tuple[torch.Tensor, torch.Tensor], style_stats, *, eps: float = 1e-5
) -> torch.Tensor:
    """AdaIN with given statistics: (x - mu_c) / sqrt(var_c + eps) * sigma_s + mu_s."""
    (c_mean, c_std), (s_mean, s_std) = content_stats, style_stats  # c_std: the plain std (eps added here)
    return (content - c_mean) / (c_std.square() + eps).sqrt() * s_std + s_mean


def adain(content: torch.Tensor, style: torch.Tensor, *, eps: float = 1e-5) -> torch.Tensor:
    """Eq. 8: content features [N, C, H, W] renormalised to the per-channel mean/std of style [N, C, h, w]."""
    return adain_stats(content, mean_std(content), mean_std(style), eps=eps)


# Mean activation of each layer of the Caffe VGG19 (0-255 BGR input) over 30 training photos and
# 30 training paintings at 256 px. The paper's reference code uses Gatys et al.'s "normalised" VGG,
# whose activations have mean 1 at every layer; the raw Caffe layers differ by up to 22x (relu1_1
# vs relu4_1), i.e. 500x in the squared losses, which would leave colour (relu1_1) almost unweighted.
# The losses divide each layer by its constant to restore the paper's balance. AdaIN itself is
# scale-equivariant, so inference does not use them.
FEATURE_SCALES = {"relu1_1": 22.6, "relu2_1": 128.3, "relu3_1": 124.9, "relu4_1": 503.9}


def loss_features(encoder: VGG19Features, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """relu1_1..relu4_1 of ``image``, each divided by its FEATURE_SCALES constant (the losses' units)."""
    return {k: v / FEATURE_SCALES[k] for k, v in encoder(image, STYLE_LAYERS).items()}


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_c: MSE between f(g(t)) and the AdaIN target t."""
    return F.mse_loss(features, target)


def style_loss(features: Sequence[torch.Tensor], style_features: Sequence[torch.Tensor], *, eps: float = 1e-5):
    """L_s: sum over layers of MSE of the per-channel means plus MSE of the per-channel stds."""
    total = 0.0
    for f, s in zip(features, style_features, strict=True):
        (fm, fs), (sm, ss) = mean_std(f, eps=eps), mean_std(s, eps=eps)
        total = total + F.mse_loss(fm, sm) + F.mse_loss(fs, ss)
    return total


# ----------------------------------------------------------------------------- sizes


def pad_to_multiple(image: torch.Tensor, multiple: int = FACTOR) -> torch.Tensor:
    """Pad [N, C, H, W] on the bottom/right to multiples of ``multiple``, at least 2 * ``multiple``
    (the decoder's reflection padding needs 2 x 2 features); reflect, or replicate when too small."""
    h, w = image.shape[-2:]
    ph, pw = max(-h % multiple, 2 * multiple - h), max(-w % multiple, 2 * multiple - w)
    if ph == 0 and pw == 0:
        return image
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(image, (0, pw, 0, ph), mode=mode)


def pad_with_margin(image: torch.Tensor, margin: int = MARGIN) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """Reflect-pad [N, C, H, W] by ``margin`` px on every side, then on the bottom/right to a multiple of 8
    (at least 16); returns the padded image and the (rows, cols) slices of the original in it.

    The margin keeps the decoder's output at the image border away from both VGG's zero padding
    and the edge of the padded canvas: without it the last rows of an image whose height is not a
    multiple of 8 (and of some that are) step 1.4-2.5x more than the image's median (issue #27).
    It shrinks to a multiple of 8 below ``margin`` for small images (reflection needs size > pad).
    """
    h, w = image.shape[-2:]
    m = min(margin, h - 1, w - 1) // FACTOR * FACTOR
    padded = F.pad(image, (m, m, m, m), mode="reflect") if m else image
    return pad_to_multiple(padded), (slice(m, m + h), slice(m, m + w))


def encode(encoder: VGG19Features, image: torch.Tensor, *, autocast: torch.dtype | None = None) -> torch.Tensor:
    """f(image): [N, 3, H, W] in [0, 1], H and W multiples of 8 -> relu4_1 [N, 512, H/8, W/8] in image's dtype."""
    return encoder(image, (ENCODER_LAYER,), autocast=autocast)[ENCODER_LAYER]


def decode(decoder: Decoder, target: torch.Tensor, *, autocast: torch.dtype | None = None) -> torch.Tensor:
    """g(target): relu4_1-shaped features -> [N, 3, 8h, 8w] in target's dtype, under ``autocast``."""
    return with_autocast(decoder, device=target.device, autocast=autocast)(target)


def transfer(
    decoder: Decoder,
    encoder: VGG19Features,
    content: torch.Tensor,
    style_stats: tuple[torch.Tensor, torch.Tensor],
    *,
    alpha: float = 1.0,
    content_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    eps: float = 1e-5,
    autocast: torch.dtype | None = None,
) -> torch.Tensor:
    """g(alpha * AdaIN(f(c)) + (1 - alpha) * f(c)) for a batch [N, 3, H, W]; same size out, not clamped.

    ``content_stats``: mean/std of f(c) to normalise with (default: the batch's own, per sample).
    ``autocast`` (precision.py): f and g in that dtype; the statistics and AdaIN in content's.
    """
    padded, (rows, cols) = pad_with_margin(content)
    feats = encode(encoder, padded, autocast=autocast)
    if content_stats is None:
        # over the whole padded canvas: the image's own cells alone differ by ~20 % at 64 px (VGG's
        # features near a border differ) and then saturate the decoder; at 256 px and up both agree
        content_stats = mean_std(feats)
    target = adain_stats(feats, content_stats, style_stats, eps=eps)
    if alpha != 1.0:
        target = alpha * target + (1.0 - alpha) * feats
    return decode(decoder, target, autocast=autocast)[..., rows, cols]


def style_statistics(
    encoder: VGG19Features,
    styles: Sequence[torch.Tensor],
    weights: Sequence[float],
    *,
    autocast: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted blend of the styles' relu4_1 means and stds, each [1, 512, 1, 1]."""
    mean = std = 0.0
    for style, weight in zip(styles, weights, strict=True):
        m, s = mean_std(encode(encoder, pad_to_multiple(style), autocast=autocast))
        mean, std = mean + weight * m, std + weight * s
    return mean, std


# ----------------------------------------------------------------------------- inference


def stylize_adain(
    content: torch.Tensor,
    styles: torch.Tensor | Sequence[torch.Tensor],
    *,
    decoder: Decoder,
    encoder: VGG19Features,
    alpha: float = 1.0,
    weights: Sequence[float] | None = None,
    preserve_colors: bool = False,
    style_size: int | None = 512,
    max_pixels: int = 1920 * 1088,
    tile: int = 512,
    overlap: int = 64,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    autocast: torch.dtype | None = None,
) -> torch.Tensor:
    """Stylise ``content`` [1, 3, H, W] in [0, 1] with one or several ``styles``; returns [1, 3, H, W] in [0, 1].

    ``alpha`` in [0, 1]: style strength (0 gives the decoder's reconstruction of the content).
    ``weights``: one non-negative weight per style (normalised; default equal). ``preserve_colors``:
    luminance-only transfer as in the NST tab (Gatys et al. 2016b): the styles' luminance,
    matched to the content's mean/std, is transferred onto the content's luminance and the
    content's I, Q chroma is put back. ``style_size``: styles are resized to this longest side
    first (None: as given); the statistics depend on the scale. Contents above ``max_pixels``
    run in ``tile``-pixel tiles overlapping by ``overlap`` (8-bit in between, statistics over
    the whole image). ``decoder`` / ``encoder`` must already be on ``device`` in ``dtype``
    (see :func:`load_adain`). ``autocast`` (precision.py): the encoder after conv1_1 and the
    decoder in that dtype (bfloat16 on a CPU with AMX), the statistics in ``dtype``. The result is
    on ``device``, float32.
    """
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    _check(content, styles, alpha=alpha, tile=tile, overlap=overlap)
    check_autocast(autocast, dtype)
    blend = blend_weights(weights, len(styles))
    # resized in float32 (bicubic has no bfloat16 kernel on the CPU), then cast
    styles = [s.to(device=device, dtype=torch.float32) for s in styles]
    key = None if preserve_colors else _style_key(encoder, styles, blend, style_size, dtype, autocast)
    if style_size is not None:
        styles = [resize(s, fit_size(s, style_size)) for s in styles]
    content = content.to(device=device, dtype=dtype)
    styles = [s.to(dtype) for s in styles]
    x = content
    if preserve_colors:
        y = luminance(content)
        x = y.expand(-1, 3, -1, -1)
        styles = [match_luminance(luminance(s), y).expand(-1, 3, -1, -1) for s in styles]
    eps = decoder.config.eps  # as in training
    with torch.inference_mode():
        style_stats = _STYLE_CACHE.get(key) if key is not None else None
        if style_stats is None:
            style_stats = style_statistics(encoder, styles, blend, autocast=autocast)
            if key is not None:
                _STYLE_CACHE.put(key, style_stats)
        if x.shape[-2] * x.shape[-1] <= max_pixels:
            out = transfer(decoder, encoder, x, style_stats, alpha=alpha, eps=eps, autocast=autocast).clamp(0, 1)
        else:
            out = _tiled(decoder, encoder, x, style_stats, alpha=alpha, tile=tile, overlap=overlap, eps=eps,
                         autocast=autocast)  # fmt: skip
        out = out.float()
        if preserve_colors:
            out = with_content_colors(out.mean(1, keepdim=True).expand(-1, 3, -1, -1), content.float(), True)
    return out


class _LRU:
    """A small thread-safe least-recently-used cache (the app serves several users at once)."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


# The styles' relu4_1 statistics, keyed by the styles' pixels: encoding the style is a third of a
# 512-px call on the CPU, and the app restyles the same painting for every photo and slider move.
_STYLE_CACHE = _LRU(16)


def _style_key(encoder, styles: Sequence[torch.Tensor], blend, style_size, dtype, autocast) -> tuple:
    digests = []
    for s in styles:
        data = s.detach().cpu().contiguous().numpy()
        digests.append((tuple(data.shape), hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()))
    return (id(encoder), str(styles[0].device), dtype, autocast, style_size, tuple(blend), tuple(digests))


def tiled_content_statistics(
    encoder: VGG19Features,
    image,
    *,
    tile: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    autocast: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std [1, 512, 1, 1] of relu4_1 over a whole uint8 (H, W, 3) image, from plain tiles.

    The tiles (``tile`` a multiple of 8) cover the image once, so the sums equal the one-pass ones
    except for VGG's zero-padding effects at tile borders and the one-pass run's reflected margin.
    """
    from .tiling import translate_hd

    sums = torch.zeros(3, 512, dtype=torch.float64, device=device)  # count, sum, sum of squares per channel

    def accumulate(tiles: torch.Tensor) -> torch.Tensor:
        f = encode(encoder, tiles, autocast=autocast).double()  # [B, 512, t/8, t/8]
        sums[0] += f.shape[0] * f.shape[2] * f.shape[3]
        sums[1] += f.sum(dim=(0, 2, 3))
        sums[2] += f.square().sum(dim=(0, 2, 3))
        return tiles

    translate_hd(accumulate, image, tile=tile, batch=1, device=device, dtype=dtype)
    mean = sums[1] / sums[0]
    std = (sums[2] / sums[0] - mean.square()).clamp_min(0).sqrt()
    return mean.to(dtype).view(1, -1, 1, 1), std.to(dtype).view(1, -1, 1, 1)


def _tiled(
    decoder, encoder, x, style_stats, *, alpha: float, tile: int, overlap: int, eps: float, autocast
) -> torch.Tensor:
    """Two passes of tiling.translate_hd: relu4_1 statistics over all tiles, then AdaIN + decode per tile."""
    from .tiling import translate_hd

    device, dtype = x.device, x.dtype
    src = tensor_to_array(x[0])  # (H, W, 3) uint8
    step = tile - tile % FACTOR
    content_stats = tiled_content_statistics(encoder, src, tile=step, device=device, dtype=dtype, autocast=autocast)

    def stylize_tiles(tiles: torch.Tensor) -> torch.Tensor:
        out = transfer(decoder, encoder, tiles, style_stats, alpha=alpha, content_stats=content_stats, eps=eps,
                       autocast=autocast)  # fmt: skip
        return out.clamp(0, 1)

    result = translate_hd(stylize_tiles, src, tile=step, overlap=overlap, batch=1, device=device, dtype=dtype)
    return array_to_tensor(result, device=device)[None]  # [1, 3, H, W] float32


def blend_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """``count`` style weights normalised to sum 1 (default: equal); ValueError for negative, non-finite
    or all-zero weights, or another count. Shared with Magenta's style blends."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights needs {count} non-negative numbers with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [w / total for w in weights]


def _check(content, styles, *, alpha: float, tile: int, overlap: int) -> None:
    for what, t in [("content", content)] + [("style", s) for s in styles]:
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[:2] != (1, 3):
            raise ValueError(f"{what} must be a [1, 3, H, W] RGB tensor, got {getattr(t, 'shape', type(t).__name__)}")
    if not styles:
        raise ValueError("at least one style image is needed")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if tile < MIN_TILE or not 0 <= overlap < tile - tile % FACTOR:
        raise ValueError(f"tile must be >= {MIN_TILE} and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")


# ----------------------------------------------------------------------------- loading


def load_decoder(
    name: str = "adain-decoder",
    *,
    path: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Decoder, AdaINConfig]:
    """A shipped decoder (resolved by hub.py; fp16 storage is cast to ``dtype``), frozen, eval mode."""
    from . import hub

    return hub.load_frozen(name, Decoder, AdaINConfig, path=path, device=device, dtype=dtype)


@functools.lru_cache(maxsize=4)
def _cached(path: str | None, device: str, dtype: torch.dtype) -> tuple[Decoder, VGG19Features]:
    decoder, config = load_decoder(path=path, device=device, dtype=dtype)
    return decoder, load_vgg19(config.vgg_weights, device=device, dtype=dtype)


def load_adain(
    *, path: str | None = None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Decoder, VGG19Features]:
    """(decoder, encoder) for :func:`stylize_adain`, cached per process; never mutated, so threads may share."""
    return _cached(None if path is None else str(path), str(torch.device(device)), dtype)
