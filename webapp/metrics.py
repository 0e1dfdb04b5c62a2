"""Quality figures shown beside every result when methods are compared.

* painting share: the project's photo-vs-painting classifier (checkpoints/domain-classifier)
  on 64-pixel tiles of the result; untranslated photos score about 0.07, Van Gogh's
  paintings about 0.90 (BENCHMARKS.md);
* structure: correlation of the edge maps of photo and result (1 = same edges);
* seams: the seam score of a plainly tiled result on its tile grid (1 = invisible).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from PIL import Image

from stylegan_lib.domain import load_domain_classifier, painting_share, structure_preservation
from stylegan_lib.images import fit_longest_side, pil_to_tensor
from stylegan_lib.siamese import SiameseConfig
from stylegan_lib.tiling import seam_score

from .common import WEIGHTS_ERRORS

MEASURE_SIDE = 1024  # figures are taken on copies of at most this longest side


@dataclass(frozen=True)
class Quality:
    painting_share: float | None  # None: the classifier is not available
    structure: float | None  # None: a flat image has no edges
    seams: float | None  # None: not tiled, or too small for a tile border

    def cells(self) -> list[str]:
        return [_fmt(self.painting_share), _fmt(self.structure), _fmt(self.seams)]


HEADER = ["painting share (photos ≈ 0.07, Van Gogh ≈ 0.90)", "structure (1 = same edges)", "seams (1 = invisible)"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@functools.cache
def _classifier():
    return load_domain_classifier()


def measure(photo: Image.Image, result: Image.Image, *, tile: int | None = None) -> Quality:
    """The figures of ``result`` (translated from ``photo``); ``tile``: its plain tile grid, if any."""
    seams = None
    if tile is not None and tile < max(result.size):
        try:
            seams = seam_score(result, tile=tile)
        except ValueError:  # too small for a tile border, or flat
            pass
    small = pil_to_tensor(fit_longest_side(result, MEASURE_SIDE) if max(result.size) > MEASURE_SIDE else result)
    try:
        share = painting_share(_classifier(), small)
    except (*WEIGHTS_ERRORS, ValueError):  # no classifier, or smaller than one 64-px tile
        share = None
    try:
        h, w = small.shape[-2:]
        structure = structure_preservation(pil_to_tensor(photo.resize((w, h), Image.BICUBIC)), small)
    except ValueError:
        structure = None
    return Quality(share, structure, seams)


def table(rows: list[tuple[str, str, Quality]]) -> str:
    """A Markdown table: method, time, then the figures."""
    lines = ["| method | time | " + " | ".join(HEADER) + " |", "| --- " * (2 + len(HEADER)) + "|"]
    lines += [f"| {name} | {seconds} | " + " | ".join(q.cells()) + " |" for name, seconds, q in rows]
    return "\n".join(lines)


REFERENCE_TILE = SiameseConfig.tile  # the shipped Siamese GANs' tile (64): the photo's own seams on that grid


def reference(photo: Image.Image) -> tuple[str, str, Quality]:
    """The table row of the untranslated photo, to read the methods' figures against."""
    return "the photo itself (reference)", "—", measure(photo, photo, tile=REFERENCE_TILE)
