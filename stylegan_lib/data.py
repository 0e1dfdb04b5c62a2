"""Training crops from folders of images, for the GAN trainers and the domain classifier.

Every image is decoded once (through :func:`stylegan_lib.images.open_image`) and kept in
memory as a uint8 array; :meth:`CropSampler.sample` then draws random square crops (random
image, random position, optional horizontal flip) from one seeded numpy Generator, so two
samplers with the same seed give the same batches and a resumed run can continue the same
stream through :meth:`CropSampler.state_dict` / :meth:`CropSampler.load_state_dict`.

Tensors: crops are [N, 3, crop, crop], RGB, float32, range [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .images import array_to_tensor, fit_longest_side, open_image

__all__ = ["IMAGE_SUFFIXES", "list_images", "CropConfig", "CropSampler"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_images(*dirs: str | os.PathLike) -> list[Path]:
    """All image files (by suffix, case-insensitive) under ``dirs``, recursively, sorted.

    Raises ValueError naming the folder when one is missing or holds no image.
    """
    if not dirs:
        raise ValueError("list_images needs at least one folder")
    found: set[Path] = set()
    for d in dirs:
        folder = Path(d)
        if not folder.is_dir():
            raise ValueError(f"Not a folder: {folder}")
        files = [
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ]
        if not files:
            raise ValueError(f"No images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
        found.update(files)
    return sorted(found)


@dataclass
class CropConfig:
    crop: int = 128  # side of the square crops (2S for the Siamese GAN's Combo)
    max_side: int | None = None  # downscale each image so its longest side is at most this
    flip: bool = True  # random horizontal flips
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.crop, bool) or not isinstance(self.crop, int) or self.crop < 1:
            raise ValueError(f"crop must be a positive int, got {self.crop!r}")
        if self.max_side is not None:
            if isinstance(self.max_side, bool) or not isinstance(self.max_side, int):
                raise ValueError(f"max_side must be an int or None, got {self.max_side!r}")
            if self.max_side < self.crop:
                raise ValueError(f"max_side ({self.max_side}) must be at least crop ({self.crop})")


def _prepare(img: Image.Image, *, crop: int, max_side: int | None) -> np.ndarray:
    """PIL RGB -> (H, W, 3) uint8: longest side <= max_side, then short side >= crop."""
    if max_side is not None and max(img.size) > max_side:
        img = fit_longest_side(img, max_side)
    w, h = img.size
    if min(w, h) < crop:  # upscale so the short side is exactly `crop`
        scale = crop / min(w, h)
        size = (crop, max(crop, round(h * scale))) if w <= h else (max(crop, round(w * scale)), crop)
        img = img.resize(size, Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


class CropSampler:
    """Random square crops from images decoded once into memory.

    ``paths``: image files (e.g. from :func:`list_images`). Images whose longest side exceeds
    ``config.max_side`` are downscaled (Lanczos); images whose short side is below
    ``config.crop`` are upscaled (bicubic) so it equals ``config.crop``.
    """

    def __init__(self, paths: Iterable[str | os.PathLike], config: CropConfig):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("CropSampler needs at least one image path")
        self.config = config
        # A JPEG much larger than max_side is decoded at 1/2, 1/4 or 1/8 scale (never below max_side).
        max_pixels = {} if config.max_side is None else {"max_pixels": config.max_side**2}
        self._images = [
            _prepare(open_image(p, **max_pixels), crop=config.crop, max_side=config.max_side) for p in self.paths
        ]  # each (H, W, 3) uint8
        self._rng = np.random.Generator(np.random.PCG64(config.seed))

    def __len__(self) -> int:
        return len(self._images)

    @property
    def image_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every image as kept in memory (after max_side / upscaling)."""
        return [(a.shape[1], a.shape[0]) for a in self._images]

    def sample(self, batch: int) -> torch.Tensor:
        """[batch, 3, crop, crop] float32 in [0, 1]: random image, random crop, optional flip."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        c = self.config.crop
        out = np.empty((batch, c, c, 3), dtype=np.uint8)
        for i, k in enumerate(self._rng.integers(0, len(self._images), size=batch)):
            a = self._images[k]
            y = int(self._rng.integers(0, a.shape[0] - c + 1))
            x = int(self._rng.integers(0, a.shape[1] - c + 1))
            tile = a[y : y + c, x : x + c]
            if self.config.flip and self._rng.random() < 0.5:
                tile = tile[:, ::-1]
            out[i] = tile
        return array_to_tensor(out).contiguous()  # [B, 3, c, c]

    def state_dict(self) -> dict:
        """The RNG state (plain ints and strings, JSON-safe) and the number of images."""
        return {"rng": self._rng.bit_generator.state, "num_images": len(self._images)}

    def load_state_dict(self, state: dict) -> None:
        if state["num_images"] != len(self._images):
            raise ValueError(
                f"The saved sampler state is for {state['num_images']} images, this sampler has "
                f"{len(self._images)}: resume with the same image folders."
            )
        self._rng.bit_generator.state = state["rng"]
