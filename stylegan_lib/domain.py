"""Does it look like Van Gogh? A photo-vs-painting classifier and a structure measure.

Two evaluation tools for the translation methods, independent of every translator:

* :class:`DomainClassifier`, a small CNN that maps a ``tile`` x ``tile`` RGB tile to one
  logit (Van Gogh painting = positive, photo = negative), trained on the CycleGAN
  ``vangogh2photo`` crops with random downscaling so it judges brushwork and colour rather
  than resolution; :func:`painting_share` is the share of an image's non-overlapping tiles
  it calls paintings. Read a translator's share against the shares of real held-out photos
  and paintings (reported in ``checkpoints/domain-classifier/README.md``).
* :func:`structure_preservation`, the Pearson correlation between the Sobel edge
  magnitudes of the luminance of a source photo and its translation (1 = same edges).

Tensors: images are [N, 3, H, W], RGB, range [0, 1]; the classifier returns [N] logits.

Its training, evaluation and model card are in :mod:`stylegan_lib.domain_train`; retrain and
re-evaluate the shipped checkpoint (CPU, one thread, a few minutes)::

    python -m stylegan_lib train domain --out checkpoints/domain-classifier
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import hub
from .checkpointing import config_from_dict, save_model
from .colour import luminance
from .tiling import cut_tiles

__all__ = [
    "DomainClassifierConfig",
    "DomainClassifier",
    "tile_logits",
    "painting_share",
    "edge_magnitude",
    "structure_preservation",
    "load_domain_classifier",
    "save_domain_classifier",
]

ARCHITECTURE = "domain-classifier"

# ----------------------------------------------------------------------------- model


@dataclass
class DomainClassifierConfig:
    tile: int = 64  # side of the tiles it is trained and evaluated on
    width: int = 32  # channels of the first convolution; doubled per stage up to 4 * width
    depth: int = 4  # stride-2 3x3 convolutions: a 64-pixel tile ends as 4 x 4 features

    def to_dict(self) -> dict:
        return {"architecture": ARCHITECTURE, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> DomainClassifierConfig:
        return config_from_dict(cls, d, architecture=ARCHITECTURE)


class DomainClassifier(nn.Module):
    """[N, 3, H, W] in [0, 1] -> [N] logits, painting = positive (fully convolutional, mean-pooled)."""

    def __init__(self, config: DomainClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or DomainClassifierConfig()
        layers, ch_in = [], 3
        for i in range(config.depth):
            ch = config.width * min(2**i, 4)
            layers += [nn.Conv2d(ch_in, ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch_in = ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Expected tiles [N, 3, H, W], got {list(x.shape)}")
        h = self.features(x * 2 - 1)  # [N, C, H / 2^depth, W / 2^depth]
        return self.head(h.mean(dim=(2, 3))).squeeze(1)  # [N]


# ----------------------------------------------------------------------------- evaluation


def _as_batches(images) -> list[torch.Tensor]:
    """A [N, 3, H, W] / [3, H, W] tensor or a list of them -> list of [n, 3, h, w] tensors."""
    items = [images] if isinstance(images, torch.Tensor) else list(images)
    if not items:
        raise ValueError("No images given")
    out = []
    for t in items:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"Expected image tensors, got {type(t).__name__}")
        t = t.unsqueeze(0) if t.ndim == 3 else t
        if t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"Expected images [N, 3, H, W] or [3, H, W], got {list(t.shape)}")
        out.append(t)
    return out


def _grid_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """[N, 3, H, W] -> [N * (H // tile) * (W // tile), 3, tile, tile]: non-overlapping, grid centred."""
    _, _, h, w = x.shape
    nh, nw = h // tile, w // tile
    if nh == 0 or nw == 0:
        raise ValueError(f"An image of {w}x{h} is smaller than one {tile}x{tile} tile")
    top, left = (h - nh * tile) // 2, (w - nw * tile) // 2
    return cut_tiles(x[:, :, top : top + nh * tile, left : left + nw * tile], tile)


@torch.inference_mode()
def tile_logits(
    classifier: nn.Module, images, *, tile: int = 64, device: str | torch.device = "cpu", batch: int = 256
) -> torch.Tensor:
    """The classifier's logits [T] for every non-overlapping tile x tile tile of ``images``.

    ``images``: [N, 3, H, W] in [0, 1], or a list of such (or [3, H, W]) tensors of any sizes;
    each image contributes (H // tile) * (W // tile) tiles, the grid centred (the margins left
    over are ignored). ``classifier`` must already be on ``device``.
    """
    logits = []
    for x in _as_batches(images):
        tiles = _grid_tiles(x, tile)  # [T, 3, tile, tile]
        for chunk in tiles.split(batch):
            logits.append(classifier(chunk.to(device=device, dtype=torch.float32)).float().cpu())
    return torch.cat(logits)  # [T]


def painting_share(classifier: nn.Module, images, *, tile: int = 64, device: str | torch.device = "cpu") -> float:
    """Share in [0, 1] of the non-overlapping tiles of ``images`` that ``classifier`` calls
    paintings (logit > 0); see :func:`tile_logits` for the tiling."""
    return float((tile_logits(classifier, images, tile=tile, device=device) > 0).float().mean())


def edge_magnitude(y: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of [N, 1, H, W] -> [N, 1, H - 2, W - 2] (valid region, no padding)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device)
    k = torch.stack([kx, kx.T]).unsqueeze(1)  # [2, 1, 3, 3]: d/dx, d/dy
    g = F.conv2d(y, k)  # [N, 2, H - 2, W - 2]
    return g.pow(2).sum(dim=1, keepdim=True).sqrt()


def _single_image(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    x = x.unsqueeze(0) if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"{name} must be one image [1, 3, H, W] or [3, H, W], got {list(x.shape)}")
    if min(x.shape[-2:]) < 3:
        raise ValueError(f"{name} is too small for a 3x3 Sobel filter: {list(x.shape)}")
    return x


def structure_preservation(source: torch.Tensor, result: torch.Tensor) -> float:
    """Pearson correlation in [-1, 1] of the Sobel edge magnitudes of the luminance of two images.

    ``source``, ``result``: [1, 3, H, W] or [3, H, W] in [0, 1]; ``result`` is resized
    (bilinear, antialiased) to the size of ``source`` when they differ. 1.0 for identical
    images. Raises ValueError when either image has no edges at all (flat).
    """
    source, result = _single_image(source, "source"), _single_image(result, "result")
    if result.shape[-2:] != source.shape[-2:]:
        result = F.interpolate(result.double(), size=source.shape[-2:], mode="bilinear", antialias=True)
    a = edge_magnitude(luminance(source.double())).flatten()  # luma [1, 1, H, W] in float64
    b = edge_magnitude(luminance(result.to(source.device).double())).flatten()
    a, b = a - a.mean(), b - b.mean()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        raise ValueError("structure_preservation is undefined for a flat image (no edges)")
    return float((a @ b) / (na * nb))


# ----------------------------------------------------------------------------- weights


def load_domain_classifier(
    *, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> DomainClassifier:
    """The shipped classifier (``hub.resolve("domain-classifier")``), strict load, eval mode."""
    resolved = hub.resolve("domain-classifier", path=path)
    arch = resolved.config.get("architecture")
    if arch != ARCHITECTURE:
        raise ValueError(f"{resolved.path}: config.json says architecture {arch!r}, expected {ARCHITECTURE!r}")
    model = DomainClassifier(DomainClassifierConfig.from_dict(resolved.config))
    hub.load_model_weights(model, resolved)
    return model.to(device).eval()


def save_domain_classifier(model: DomainClassifier, folder: str | os.PathLike, *, training: dict | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (the model config; ``training`` under "training") to ``folder``."""
    return save_model(folder, model, model.config.to_dict(), training=training)


if __name__ == "__main__":  # the shipped card's retrain command; also `python -m stylegan_lib train domain`
    from .domain_train import main

    main()
