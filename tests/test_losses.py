"""Losses against independent float64 formulas written with numpy loops/einsum."""

import numpy as np
import pytest
import torch

from stylegan_lib import losses


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (2, 8, 7, 3), (1, 1, 1, 1)])
def test_gram_matrix_matches_definition(shape):
    rng = np.random.default_rng(0)
    f = rng.standard_normal(shape)
    n, c, h, w = shape
    expected = np.zeros((n, c, c))
    for b in range(n):
        for i in range(c):
            for j in range(c):
                expected[b, i, j] = sum(f[b, i, y, x] * f[b, j, y, x] for y in range(h) for x in range(w)) / (h * w)
    got = losses.gram_matrix(torch.from_numpy(f))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_content_and_style_losses_are_layer_averaged_mse():
    rng = np.random.default_rng(1)
    a = [rng.standard_normal((1, 4, 6, 6)), rng.standard_normal((1, 2, 3, 3))]
    b = [rng.standard_normal(x.shape) for x in a]
    expected = np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b, strict=False)])
    t = lambda xs: [torch.from_numpy(x) for x in xs]  # noqa: E731
    assert losses.content_loss(t(a), t(b)).item() == pytest.approx(expected, rel=1e-12)
    assert losses.style_loss(t(a), t(b)).item() == pytest.approx(expected, rel=1e-12)
    assert losses.content_loss(t(a), t(a)).item() == 0.0


def test_tv_loss_is_sum_of_absolute_differences():
    rng = np.random.default_rng(2)
    img = rng.random((2, 3, 5, 7))
    expected = 0.0
    for n in range(2):
        for c in range(3):
            for y in range(5):
                for x in range(7):
                    if y + 1 < 5:
                        expected += abs(img[n, c, y + 1, x] - img[n, c, y, x])
                    if x + 1 < 7:
                        expected += abs(img[n, c, y, x + 1] - img[n, c, y, x])
    assert losses.tv_loss(torch.from_numpy(img)).item() == pytest.approx(expected, rel=1e-12)
    assert losses.tv_loss(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0
