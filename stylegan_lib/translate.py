"""Full-resolution photo translation with the shipped GAN generators (Van Gogh HD tab, CLI).

One entry point over the methods: load a generator through hub.py (cached per process),
translate tile by tile (:func:`stylegan_lib.tiling.translate_hd`), and optionally blend
the result with the photo in CIELAB for a style-strength control.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .images import lab_to_rgb, rgb_to_lab

# method -> checkpoint name in hub.REGISTRY
METHODS = {
    "siamese": "siamese-vangogh",  # Combo-trained (seed 000)
    "siamese-naive": "siamese-vangogh-naive",  # trained on single tiles: the seams baseline
}


@functools.lru_cache(maxsize=4)
def load_translator(method: str, *, device: str = "cpu") -> tuple[torch.nn.Module, int]:
    """(G, tile) for ``method``; G maps [B, 3, t, t] in [0, 1] to the same. Shared by threads."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    from .siamese import load_generator

    G, config = load_generator(METHODS[method], device=device)
    return G, config.tile


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
        a, b = (torch.from_numpy(x[top : top + rows]).permute(2, 0, 1)[None].float() / 255 for x in (photo, painting))
        lab = torch.lerp(rgb_to_lab(a), rgb_to_lab(b), strength)
        strip = lab_to_rgb(lab).clamp(0, 1).mul(255).round().byte()[0].permute(1, 2, 0)
        out[top : top + rows] = strip.numpy()
    return out
