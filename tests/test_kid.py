"""Kernel distance (KID): the estimator against a float64 double loop, its behaviour, VGG features."""

from __future__ import annotations

import itertools

import pytest
import torch

from stylegan_lib.kid import feature_scale, kernel_distance, mmd2_unbiased, polynomial_kernel, vgg_features


def _reference_mmd2(x: list[list[float]], y: list[list[float]]) -> float:
    """The unbiased MMD^2 with the cubic kernel, written out as sums over pairs (Python floats)."""
    d = len(x[0])

    def k(a, b):
        return (sum(p * q for p, q in zip(a, b, strict=True)) / d + 1) ** 3

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    kxy = sum(k(a, b) for a in x for b in y) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd2_matches_the_pairwise_sums():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=gen, dtype=torch.float64), torch.randn(6, 5, generator=gen).double() + 0.3
    assert float(mmd2_unbiased(x, y)) == pytest.approx(_reference_mmd2(x.tolist(), y.tolist()), rel=1e-12)
    assert polynomial_kernel(x, y).shape == (7, 6)


def test_kernel_distance_separates_distributions():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 16, generator=gen), torch.randn(400, 16, generator=gen)
    shifted = torch.randn(400, 16, generator=gen) * 1.5 + 0.5
    same, same_std = kernel_distance(a, b, subsets=20, subset_size=200)
    apart, _ = kernel_distance(a, shifted, subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: zero within its noise for one distribution
    assert apart > 100 * max(abs(same), 1e-4)


def test_kernel_distance_is_reproducible_and_checks_sizes():
    x, y = torch.randn(30, 4), torch.randn(20, 4)
    assert kernel_distance(x, y, subsets=5, seed=3) == kernel_distance(x, y, subsets=5, seed=3)
    with pytest.raises(ValueError, match=r"subset_size must be in \[2, 20\]"):
        kernel_distance(x, y, subset_size=25)
    with pytest.raises(ValueError, match="at least 2 samples"):
        mmd2_unbiased(x[:1], y)


def test_vgg_features_of_real_images(vgg, content_photo, style_painting):
    from stylegan_lib.images import pil_to_tensor

    images = torch.cat([pil_to_tensor(im.resize((64, 64))) for im in (content_photo, style_painting)])
    features = vgg_features(vgg, images, side=64, batch=1)
    assert features.shape == (2, 512) and features.dtype == torch.float64
    assert (features >= 0).all() and not torch.allclose(features[0], features[1])  # ReLU means, distinct images


def test_feature_scale_brings_features_to_order_one():
    x = torch.randn(200, 64, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 300 + 100
    y = x / feature_scale(x)
    assert float((y * y).sum(dim=1).mean() / 64) == pytest.approx(1.0, rel=1e-12)
