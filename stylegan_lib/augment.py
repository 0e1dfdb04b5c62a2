"""Differentiable augmentation of D's inputs for GANs trained on few images.

Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN Training"
(NeurIPS 2020, arXiv:2006.10738): the same random transform family is applied to real and to
generated images every time D sees them, in the D step and in the G step, and G's gradient flows
back through it. D then cannot memorise the few real images, and because the transforms are
applied to both sides, G is not pushed to make augmented-looking images.

Policies (names as in the paper; ``policy`` is a tuple of them, applied in this order):

- ``"color"``: per image, brightness ``+ U(-0.5, 0.5)``, saturation ``x 2 U(0, 1)`` about the
  per-pixel channel mean, contrast ``x U(0.5, 1.5)`` about the image mean;
- ``"translation"``: per image, an integer shift of up to 1/8 of the side in x and in y, the
  uncovered border filled with 0 (grey in [-1, 1]);
- ``"cutout"``: per image, a square of half the side set to 0, its centre anywhere in the image
  (so it may be clipped at the border).

Tensors: ``x`` is float ``[B, C, H, W]`` in [-1, 1]. Randomness comes from a CPU
``torch.Generator`` so that a run on any device is reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; ``""`` -> ``()`` (no augmentation)."""
    names = tuple(filter(None, (p.strip() for p in policy.split(","))))
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}: choose from {', '.join(POLICIES)}, comma-separated")
    return names


def _uniform(n: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=generator).to(device=like.device, dtype=like.dtype)  # [n, 1, 1, 1]


def color(x: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_uniform(n, generator, x) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)  # [n, 1, H, W]
    x = (x - mean) * (_uniform(n, generator, x) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # [n, 1, 1, 1]
    return (x - mean) * (_uniform(n, generator, x) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, *, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator)  # output (i, j) reads input (i - dy, j - dx)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator)
    rows = (torch.arange(h).view(1, h, 1) + sy - dy).to(x.device)  # [n, H, 1] into the padded image
    cols = (torch.arange(w).view(1, 1, w) + sx - dx).to(x.device)  # [n, 1, W]
    padded = F.pad(x, (sx, sx, sy, sy)).permute(0, 2, 3, 1)  # [n, H + 2sy, W + 2sx, C]
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # [n, C, H, W]


def cutout(x: torch.Tensor, *, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), generator=generator) - ch // 2  # centre anywhere, clipped at the border
    left = torch.randint(0, w, (n, 1, 1), generator=generator) - cw // 2
    i, j = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    hole = (i >= top) & (i < top + ch) & (j >= left) & (j < left + cw)  # [n, H, W]
    return x * (~hole).unsqueeze(1).to(device=x.device, dtype=x.dtype)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, *, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply ``policy`` (see :func:`parse_policy`) to a batch ``[B, C, H, W]``; differentiable in ``x``."""
    for name in policy:
        x = _FUNCTIONS[name](x, generator=generator)
    return x
