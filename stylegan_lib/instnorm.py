"""Instance norm with statistics taken from elsewhere: whole-image statistics for tiled generators.

Instance norm normalises every feature map with its own mean and variance. A generator run
tile by tile therefore normalises each tile with the statistics of that tile alone: flat tiles
(sky) are stretched to the contrast of busy ones and neighbouring tiles get different colours,
which is where most of a tiled translation's seams come from. *Thumbnail instance
normalisation* (Chen et al., "Towards Ultra-Resolution Neural Style Transfer via Thumbnail
Instance Normalization", AAAI 2022, arXiv:2103.11784) records the statistics once, on a
downscaled copy of the whole image, and normalises every tile with them: all tiles then share
one normalisation, as they would in one pass over the whole frame. It is also a simple form of
the Siamese GAN article's "future work", conditioning G on the content of the whole image.

The generators here (Siamese GAN, CycleGAN) are ``nn.Sequential`` stacks of convolutions,
instance norms, activations, resampling and :class:`ResidualBlock` s; :func:`run` executes such
a stack either normally, recording every instance norm's statistics (:func:`record`), or with
recorded statistics (``stats=``). Nothing is stored in the modules, so one G can serve many
threads with different statistics at once.

Tensors: activations [N, C, H, W]; statistics per instance norm layer, mean and variance
[N or 1, C, 1, 1] (biased variance, as ``nn.InstanceNorm2d``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    """x + body(x): the residual block of the ResNet generators (the body's layers are theirs)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass(frozen=True)
class NormStats:
    """Recorded instance-norm statistics of one stack, in layer order."""

    means: tuple[torch.Tensor, ...]  # [N or 1, C, 1, 1] per instance norm layer
    variances: tuple[torch.Tensor, ...]  # [N or 1, C, 1, 1], biased

    def __len__(self) -> int:
        return len(self.means)


def _instance_norms(net: nn.Module) -> list[nn.InstanceNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]


def _check_stack(net: nn.Sequential) -> None:
    for layer in net:
        if isinstance(layer, ResidualBlock):
            _check_stack(layer.body)
        elif isinstance(layer, nn.InstanceNorm2d):
            if layer.track_running_stats:
                raise ValueError("instnorm.run needs instance norms without running statistics")
        elif any(isinstance(m, (nn.InstanceNorm2d, ResidualBlock)) for m in layer.modules()):
            raise ValueError(f"instnorm.run cannot look inside {type(layer).__name__}: flatten it into the stack")


def _normalize(layer: nn.InstanceNorm2d, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    # (x - mean) / sqrt(var + eps) * weight + bias as one multiply-add: x * scale + shift
    scale = torch.rsqrt(var + layer.eps)  # [N or 1, C, 1, 1]
    if layer.affine:
        scale = scale * layer.weight[None, :, None, None]
    shift = -mean * scale
    if layer.affine:
        shift = shift + layer.bias[None, :, None, None]
    return torch.addcmul(shift, x, scale)


def _walk(net: nn.Sequential, x: torch.Tensor, stats: NormStats | None, out: list, pos: list[int]) -> torch.Tensor:
    for layer in net:
        if isinstance(layer, ResidualBlock):
            x = x + _walk(layer.body, x, stats, out, pos)
        elif isinstance(layer, nn.InstanceNorm2d):
            if stats is None:
                var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)  # [N, C, 1, 1]
                out.append((mean, var))
            else:
                mean, var = stats.means[pos[0]], stats.variances[pos[0]]
                pos[0] += 1
            x = _normalize(layer, x, mean, var)
        else:
            x = layer(x)
    return x


def run(net: nn.Sequential, x: torch.Tensor, *, stats: NormStats | None = None) -> torch.Tensor:
    """``net(x)``, its instance norms using ``stats`` (recorded by :func:`record`) when given.

    Without ``stats`` this is ``net(x)`` (to rounding). With them, every instance norm layer
    normalises with its recorded mean and variance instead of the input's own; recorded
    statistics of one image ([1, C, 1, 1]) apply to a batch of tiles of that image.
    """
    _check_stack(net)
    if stats is not None and len(stats) != len(_instance_norms(net)):
        raise ValueError(f"stats hold {len(stats)} layers, the network has {len(_instance_norms(net))} instance norms")
    return _walk(net, x, stats, [], [0])


def record(net: nn.Sequential, x: torch.Tensor) -> NormStats:
    """Run ``net`` on ``x`` (e.g. a thumbnail of the whole image) and return its instance-norm statistics."""
    _check_stack(net)
    recorded: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        _walk(net, x, None, recorded, [0])
    return NormStats(tuple(m for m, _ in recorded), tuple(v for _, v in recorded))


def _layers(net: nn.Sequential):
    for layer in net:
        if isinstance(layer, ResidualBlock):  # x + body(x): body reaches at least as far as x
            yield from _layers(layer.body)
        else:
            yield layer


def _pair(v) -> int:
    return v[0] if isinstance(v, tuple) else int(v)


def _back(layer: nn.Module, lo: int, hi: int) -> tuple[int, int]:
    """The input index interval that output indices [lo, hi] of ``layer`` depend on (one axis)."""
    if isinstance(layer, (nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.ConstantPad2d)):
        return lo - layer.padding[0], hi - layer.padding[0]
    if isinstance(layer, nn.ConvTranspose2d):
        k, t, p, d = (_pair(v) for v in (layer.kernel_size, layer.stride, layer.padding, layer.dilation))
        return -(-(lo + p - d * (k - 1)) // t), (hi + p) // t
    if isinstance(layer, nn.Conv2d):
        k, t, p, d = (_pair(v) for v in (layer.kernel_size, layer.stride, layer.padding, layer.dilation))
        return t * lo - p, t * hi - p + d * (k - 1)
    if isinstance(layer, nn.Upsample):
        f = int(_pair(layer.scale_factor))
        extra = 0 if layer.mode == "nearest" else 1
        return lo // f - extra, hi // f + extra
    return lo, hi  # pointwise layers and instance norm with fixed statistics


def receptive_radius(net: nn.Sequential) -> int:
    """How many input pixels on each side one output pixel of ``net`` depends on.

    ``net`` maps an image to one of the same size (its strides and upsamplings cancel). The
    interval of input pixels each output pixel depends on is followed back through every layer
    (padding, convolution, transposed convolution, upsampling), for each output position modulo
    the network's total stride. With statistics shared by all tiles, a tile computed with at least
    this much context around it equals the same pixels of one pass over the whole frame.
    """
    layers = list(_layers(net))
    period = 1
    for layer in layers:
        if isinstance(layer, nn.Conv2d):  # (nn.ConvTranspose2d is no nn.Conv2d)
            period *= _pair(layer.stride)
    worst = 0
    for p in range(1000 * period, 1001 * period):  # far from the borders: no reflection
        lo = hi = p
        for layer in reversed(layers):
            lo, hi = _back(layer, lo, hi)
        worst = max(worst, p - lo, hi - p)
    return worst
