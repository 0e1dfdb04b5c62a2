"""Kernel distance between two sets of images (KID, Bińkowski et al. 2018, "Demystifying MMD GANs").

The squared maximum mean discrepancy between the two sets' feature distributions under the
cubic polynomial kernel k(x, y) = (x·y / d + 1)^3, estimated without bias and averaged over
random subsets (mean and standard deviation reported). 0 means indistinguishable features;
unlike FID it has an unbiased estimator, so small sample sets (hundreds) are fair.

Features: not Inception (no such weights here) but the project's Caffe VGG19, an ImageNet
network independent of every model it judges: the spatial mean of ``relu5_1`` of images
resized to ``side`` pixels (512 numbers per image), divided by :func:`feature_scale` of the
reference set so that they are of order 1, as the kernel assumes.

Tensors: features [N, d]; images [N, 3, H, W] RGB in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .vgg import VGG19Features


def feature_scale(reference: torch.Tensor) -> float:
    """The constant that brings ``reference`` [N, d] features to x·x / d ≈ 1 on average.

    The cubic kernel assumes features of order 1 (Inception's are); VGG19 activations of Caffe
    0-255 inputs are hundreds of times larger, which would make (x·y / d + 1)^3 a cubic of the
    raw scale. Divide every compared set by the same constant, taken from the reference set.
    """
    return float(reference.double().pow(2).sum(dim=1).mean().div(reference.shape[1]).sqrt())


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # [m, d], [n, d] -> [m, n]
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between the samples ``x`` [m, d] and ``y`` [n, d] (m, n >= 2)."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"each set needs at least 2 samples, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * kxy.mean()


def kernel_distance(
    real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 50, subset_size: int | None = None, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over ``subsets`` random subsets of ``subset_size`` of each set.

    ``subset_size`` defaults to the smaller set's size (then the subsets differ only in order
    when the sets are equal in size, and the std is 0). Computed in float64.
    """
    size = min(len(real), len(fake)) if subset_size is None else subset_size
    if not 2 <= size <= min(len(real), len(fake)):
        raise ValueError(f"subset_size must be in [2, {min(len(real), len(fake))}], got {size}")
    real, fake = real.double(), fake.double()
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        i = torch.randperm(len(real), generator=gen)[:size]
        j = torch.randperm(len(fake), generator=gen)[:size]
        values.append(float(mmd2_unbiased(real[i], fake[j])))
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
    return mean, std


@torch.no_grad()
def vgg_features(
    vgg: VGG19Features,
    images: torch.Tensor,
    *,
    side: int = 128,
    layer: str = "relu5_1",
    batch: int = 64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """[N, C] spatial means of ``layer`` for ``images`` [N, 3, H, W] in [0, 1], resized to side x side."""
    out = []
    for chunk in images.split(batch):
        x = F.interpolate(chunk.to(device=device, dtype=torch.float32), size=(side, side), mode="bilinear",
                          antialias=True, align_corners=False)  # fmt: skip
        out.append(vgg(x, [layer])[layer].mean(dim=(2, 3)).double().cpu())
    return torch.cat(out)
