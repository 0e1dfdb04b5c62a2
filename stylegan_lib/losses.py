"""Small pure loss functions shared by the methods (Gatys, Ecker & Bethge 2016)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G_cd = sum_ij F_ijc F_ijd / (I * J): [N, C, H, W] -> [N, C, C], normalised by positions."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def content_loss(features: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean squared error per layer, averaged over layers."""
    return torch.stack([F.mse_loss(f, t) for f, t in zip(features, targets, strict=True)]).mean()


def style_loss(grams: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean squared error between Gram matrices per layer, averaged over layers."""
    return torch.stack([F.mse_loss(g, t) for g, t in zip(grams, target_grams, strict=True)]).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: sum of absolute neighbour differences over [N, C, H, W]."""
    dy = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().sum()
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().sum()
    return dx + dy
