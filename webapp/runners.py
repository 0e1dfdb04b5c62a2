"""The runs that several tabs share, so that no tab imports another.

* Gatys style transfer: :func:`check_shape` (the library's size rule as a gr.Error) and
  :func:`units` (its cost-model work);
* the fast feed-forward stylizers beside it: :func:`fast_stylize` (AdaIN, Huang & Belongie
  2017) and :func:`magenta_stylize` (Magenta arbitrary stylization, Ghiasi et al. 2017);
* the GAN translators (Siamese GAN, CycleGAN): :func:`paint` at full resolution, their UI
  labels and cost-model tasks.

The NST, Van Gogh HD and comparison tabs import these; each tab keeps its own handlers and layout.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import gradio as gr
from PIL import Image

from stylegan_lib import hub, translate
from stylegan_lib.images import fit_longest_side, pil_to_tensor, tensor_to_pil
from stylegan_lib.nst import check_sides, scale_sides, scale_sizes

from .common import AUTOCAST, DEVICE, LIMITS, WEIGHTS_ERRORS, check_budget, timed
from .predict import nst_units

# ----------------------------------------------------------------------------- Gatys style transfer

SCALE_RATIO = math.sqrt(2.0)  # stylize()'s default: each scale is √2 smaller than the next


def check_shape(img: Image.Image, what: str, *, side: int, num_scales: int = 1) -> None:
    """Refuse (gr.Error) an image whose short side would fall under the library's MIN_SIDE at some scale.

    ``side`` is the run's longest side, ``num_scales`` its coarse-to-fine scales; the rule and
    the message are stylize()'s own (stylegan_lib.nst.check_sides).
    """
    # One scale is just ``side``, which may be under MIN_SIDE (/compare runs at the photo's own size): refused here.
    sides = [side] if num_scales == 1 else scale_sides(size=side, num_scales=num_scales, scale_ratio=SCALE_RATIO)
    try:
        check_sides(what, img.height, img.width, sides)
    except ValueError as exc:
        raise gr.Error(str(exc)) from None


def units(height: int, width: int, *, size: int, num_scales: int, steps: int) -> float:
    """Megapixel-steps of a run (the cost model's unit for Gatys)."""
    sizes = scale_sizes(height, width, size=size, num_scales=num_scales, scale_ratio=SCALE_RATIO)
    return nst_units(sizes, steps=steps)


# ----------------------------------------------------------------------------- fast stylizers

FAST_LABEL = "AdaIN fast (Huang & Belongie 2017)"
# The shipped decoder (v3) had 4,000 GPU steps at 256 px and 5,225 CPU steps at 128 px (the paper: 160k at 256 px).
FAST_NOTE = "about 4 % of the paper's training (v3): see checkpoints/adain-decoder/README.md"


def fast_stylize(content: Image.Image, style: Image.Image, *, side: int, alpha: float, preserve_colors: bool):
    """(result, seconds): the fast feed-forward model at longest side ``side`` (as Gatys' size)."""
    from stylegan_lib.adain import load_adain, stylize_adain

    if not 0.0 <= float(alpha) <= 1.0:
        raise gr.Error(f"The fast model's style strength must be in [0, 1], got {alpha}.")
    try:
        decoder, encoder = load_adain(device=DEVICE)
    except WEIGHTS_ERRORS as exc:
        raise gr.Error(str(exc)) from None
    content = fit_longest_side(content, int(side))
    megapixels = content.width * content.height / 1e6
    check_budget("adain", megapixels)
    started = time.perf_counter()
    with timed("adain", megapixels):
        result = stylize_adain(pil_to_tensor(content), [pil_to_tensor(style)], decoder=decoder, encoder=encoder,
                               alpha=float(alpha), preserve_colors=bool(preserve_colors), style_size=int(side),
                               device=DEVICE, autocast=AUTOCAST)  # fmt: skip
    return tensor_to_pil(result), time.perf_counter() - started


MAGENTA_LABEL = "Magenta arbitrary stylization (Ghiasi et al. 2017)"
MAGENTA_SHORT_LABEL = "Magenta (Ghiasi et al. 2017)"  # fits one line on the picture in the NST tab
MAGENTA_NOTE = "Magenta's TFLite model, converted: see checkpoints/magenta-arbitrary/README.md"


def magenta_stylize(content: Image.Image, style: Image.Image, *, side: int, strength: float, preserve_colors: bool):
    """(result, seconds): Magenta's arbitrary stylization at longest side ``side`` (as Gatys' size)."""
    import torch

    from stylegan_lib.magenta import load_magenta, stylize_magenta

    if not 0.0 <= float(strength) <= 1.0:
        raise gr.Error(f"Magenta's style strength must be in [0, 1], got {strength}.")
    dtype = torch.bfloat16 if DEVICE == "cpu" else torch.float32  # AMX: 2x faster, < 1/255 on average
    try:
        model = load_magenta(device=DEVICE, dtype=dtype)
    except WEIGHTS_ERRORS as exc:
        raise gr.Error(str(exc)) from None
    content = fit_longest_side(content, int(side))
    check_shape(content, "content", side=int(side))  # a photo too thin to stylise is refused, saying why
    if min(style.size) < 2:  # the predictor sees the style's centre square at 256 px: any style has one
        style = style.resize((max(2, style.width), max(2, style.height)), Image.NEAREST)
    check_budget("adain", content.width * content.height / 1e6)  # Magenta costs less than AdaIN: an upper bound
    started = time.perf_counter()
    result = stylize_magenta(pil_to_tensor(content), [pil_to_tensor(style)], model=model, strength=float(strength),
                             preserve_colors=bool(preserve_colors), device=DEVICE, dtype=dtype)  # fmt: skip
    return tensor_to_pil(result), time.perf_counter() - started


# ----------------------------------------------------------------------------- GAN translators

LABELS = {
    "siamese": "Siamese GAN, Combo-trained",
    "siamese-naive": "Siamese GAN, naive tiles (baseline)",
    "cyclegan": "CycleGAN",
}
METHODS = {LABELS.get(key, key): key for key in translate.METHODS}  # UI label -> translate method


def missing(method: str) -> bool:
    """Whether the weights of ``method`` cannot be found (comparisons skip it and say so)."""
    return hub.availability(translate.METHODS[method]) is not None


def cost_task(method: str, norm: str) -> str:
    """The cost model's task: whole-photo statistics cost more (tiles are computed with context)."""
    return method if norm == "tile" else f"{method}:image"


@dataclass
class Painted:
    method: str
    image: Image.Image  # full strength, the photo's size
    seconds: float
    layout: str  # how G ran, for the status line
    seam_tile: int | None  # the plain tile grid whose borders may show; None: whole frame or overlapped


def paint(img: Image.Image, method: str, *, overlap: int, norm: str = "image", progress=None) -> Painted:
    """``img`` through ``method``: plain or overlapped tiles, or (CycleGAN) the whole frame when it fits.

    ``norm`` (translate.NORMS): "image" normalises every tile with the whole photo's statistics
    and computes it with context (seamless); "tile" is the Siamese GAN's plain tiling. ``overlap``
    applies to the Siamese GANs; CycleGAN's own-statistics tiles always overlap (translate.py).
    The model time is what the cost model learns.
    """
    try:
        G, tile = translate.load_translator(method, device=DEVICE)
    except WEIGHTS_ERRORS as exc:
        raise gr.Error(str(exc)) from None
    # CycleGAN's large tiles: its own overlap rule (translate.py); the Siamese GANs: the user's
    own_overlap = None if method in translate.FULLY_CONVOLUTIONAL else int(overlap)
    plan = translate.plan_translation(method, G, tile, norm=norm, device=DEVICE, overlap=own_overlap,
                                      tile_batch=LIMITS.tile_batch)  # fmt: skip
    plan = replace(plan, overlap=min(plan.overlap, plan.tile // 2))
    megapixels = img.width * img.height / 1e6
    started = time.perf_counter()

    def report(p):  # translate_hd's callback; returning None never stops it
        progress((p.done, p.total), desc=LABELS.get(method, method))

    with timed(cost_task(method, norm), megapixels):
        # autocast: bfloat16 on a CPU with AMX (common.py)
        callback = report if progress is not None else None
        array = translate.translate_image(G, img, plan, callback=callback, autocast=AUTOCAST)
    layout, seam_tile = plan.describe(img.height, img.width), plan.plain_tile(img.height, img.width)
    return Painted(method, Image.fromarray(array), time.perf_counter() - started, layout, seam_tile)
