"""Van Gogh HD tab: a photo at full resolution through the shipped GANs (Siamese GAN, CycleGAN)."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from stylegan_lib import translate
from stylegan_lib.images import fit_longest_side
from stylegan_lib.tiling import seam_score

from . import examples, metrics
from .common import (
    COSTS,
    DEVICE,
    LIMITS,
    PROGRESS,
    availability_notice,
    check_budget,
    gpu,
    open_upload,
    resized_note,
    save,
)
from .layout import example_pairs, image_input, upload_size
from .predict import format_megapixels, format_seconds
from .runners import LABELS, METHODS, cost_task, missing, paint
from .share import ShareLinks

NORMS = {  # UI label -> translate norm
    "Whole photo (seamless tiles)": "image",
    "Each tile its own (plain tiles)": "tile",
}
DEFAULT_NORM = next(iter(NORMS))
PREVIEW_SIDE = 2048  # the before/after view; the download is full size


def _choice(value: str, labels: dict[str, str], names, what: str) -> str:
    # a name from its UI label or the name itself (API callers may send either)
    if value in labels:
        return labels[value]
    if value in names:
        return value
    raise gr.Error(f"Unknown {what} {value!r}; choose one of: {', '.join(labels)}")


def method_key(value: str) -> str:
    """A method from its UI label or its name."""
    return _choice(value, METHODS, translate.METHODS, "method")


def norm_key(value: str) -> str:
    """A norm (translate.NORMS) from its UI label or its name."""
    return _choice(value, NORMS, translate.NORMS, "normalisation")


def estimate_text(photo, method: str | None = None, norm: str = "image") -> str:
    """What the next run will cost, shown as soon as a photo is chosen."""
    size = upload_size(photo)
    if size is None:
        return ""
    w, h = size
    scale = min(1.0, (LIMITS.translate_pixels / (w * h)) ** 0.5)
    megapixels = w * h * scale * scale / 1e6
    keys = [method_key(method)] if method else list(METHODS.values())
    task = lambda k: cost_task(k, norm_key(norm))  # noqa: E731
    parts = [f"{LABELS.get(k, k)}: {COSTS.estimate(task(k), megapixels).describe(device=DEVICE)}" for k in keys]
    note = f" (downscaled from {w}×{h} to the {LIMITS.translate_pixels / 1e6:.0f} MP cap)" if scale < 1 else ""
    return f"**Estimate for {format_megapixels(megapixels)}{note}:** " + "; ".join(parts)


@gpu(duration=60)
def run_vangogh(photo, method, strength, overlap, norm=DEFAULT_NORM, progress=PROGRESS):
    """Van Gogh HD: the photo at full resolution, tile by tile; before/after, seam score, PNG."""
    img = open_upload(photo, "photo", max_pixels=LIMITS.translate_pixels)
    key, norm = method_key(method), norm_key(norm)
    check_budget(cost_task(key, norm), img.width * img.height / 1e6)
    done = paint(img, key, overlap=int(overlap), norm=norm, progress=progress)
    seams = _seams(img, done.image, tile=done.seam_tile) if done.seam_tile else "no plain tile borders"
    result = Image.fromarray(blend(img, done.image, strength))
    status = (
        f"{img.width}×{img.height} in {done.seconds:.1f} s on {DEVICE} · {done.layout} · {seams} · "
        f"strength {float(strength):.2f}.{resized_note(img, 'photo')}"
    )
    return (preview(img), preview(result)), status, save(result, "vangogh")


@gpu(duration=120)
def run_vangogh_compare(photo, strength, overlap, norm=DEFAULT_NORM, progress=PROGRESS):
    """Every method on the same photo, side by side, with time and quality figures."""
    img = open_upload(photo, "photo", max_pixels=LIMITS.translate_pixels)
    megapixels, norm = img.width * img.height / 1e6, norm_key(norm)
    total = sum(COSTS.estimate(cost_task(key, norm), megapixels).seconds for key in METHODS.values())
    if total > LIMITS.max_job_seconds:
        raise gr.Error(
            f"Comparing every method on this {format_megapixels(megapixels)} photo would take about "
            f"{format_seconds(total)} on {DEVICE}; the limit is {LIMITS.max_job_seconds:.0f} s. "
            "Upload a smaller photo or run one method."
        )
    gallery, rows = [(preview(img), "photo")], [metrics.reference(img)]
    for label, key in METHODS.items():
        if missing(key):
            rows.append((label, "weights not found", metrics.Quality(None, None, None)))
            yield gallery, metrics.table(rows)
            continue
        done = paint(img, key, overlap=int(overlap), norm=norm, progress=progress)
        quality = metrics.measure(img, done.image, tile=done.seam_tile)
        gallery.append((preview(Image.fromarray(blend(img, done.image, strength))), f"{label} · {done.seconds:.1f} s"))
        rows.append((label, f"{done.seconds:.1f} s", quality))
        yield gallery, metrics.table(rows)


def blend(img: Image.Image, painted: Image.Image, strength) -> np.ndarray:
    return translate.blend_strength(np.asarray(img), np.asarray(painted), strength=float(strength))


def _seams(photo, painted, *, tile: int) -> str:
    """The seam score of the result beside the photo's own on the same grid (about 1.0)."""
    if tile >= max(photo.size):
        return "one tile, no seams"
    try:
        return f"seam score {seam_score(painted, tile=tile):.3f} (the photo itself: {seam_score(photo, tile=tile):.3f})"
    except ValueError as exc:  # too small for a tile border, or flat
        return f"seam score n/a ({exc})"


def preview(img):
    return img if max(img.size) <= PREVIEW_SIDE else fit_longest_side(img, PREVIEW_SIDE)


def build(demo: gr.Blocks, share: ShareLinks) -> None:
    notice = gr.Markdown()
    with gr.Row():
        with gr.Column():
            photo = image_input("Photo", elem_id="vangogh-photo")
            estimate = gr.Markdown(elem_id="vangogh-estimate")
            method = gr.Radio(list(METHODS), value=next(iter(METHODS)), label="Model", elem_id="vangogh-method")
            norm = gr.Radio(
                list(NORMS),
                value=DEFAULT_NORM,
                label="Normalisation statistics",
                info="Whole photo: every tile normalised like the whole frame and computed with context, "
                "so no tile borders show. Each tile its own: plain tiles, as the Siamese GAN was trained (compare "
                "Combo-trained against naive-tiles seams).",
                elem_id="vangogh-norm",
            )
            with gr.Row():
                strength = gr.Slider(0, 1, value=1, step=0.05, label="Style strength (blend in CIELAB)")
                overlap = gr.Slider(0, 32, value=0, step=2, label="Tile overlap, px (0 = plain tiles)")
            with gr.Row():
                run = gr.Button("Paint it", variant="primary", elem_id="vangogh-run")
                compare = gr.Button("Compare all models", elem_id="vangogh-compare")
            share.button(
                "vangogh", {"photo": photo, "method": method, "strength": strength, "overlap": overlap, "norm": norm}
            )
        with gr.Column():
            output = gr.ImageSlider(label="Before / after", format="jpeg", interactive=False, elem_id="vangogh-output",
                                    value=examples.pair("vangogh", "before", "after"))  # fmt: skip
            status = gr.Markdown(examples.text("vangogh", "status"), elem_id="vangogh-status")
            file = gr.File(label="Full-size PNG", interactive=False)
    compared = gr.Gallery(label="All models on the same photo", columns=4, format="jpeg", elem_id="vangogh-gallery",
                          value=examples.gallery("vangogh"))  # fmt: skip
    table = gr.Markdown(examples.text("vangogh", "table"), elem_id="vangogh-table")
    gr.Examples(
        example_pairs(("content_aitzgorri_mountains.jpg",), ("content_picos_de_europa.jpg",)),
        inputs=[photo],
        label="Examples (credits in examples/ATTRIBUTION.md)",
    )

    models = [translate.METHODS[key] for key in METHODS.values()]
    demo.load(lambda: availability_notice(*models), None, notice, queue=False, api_visibility="private")
    for trigger in (photo, method, norm):
        trigger.change(
            estimate_text, [photo, method, norm], estimate, preprocess=False, queue=False, api_visibility="private"
        )
    limit = 1 if DEVICE == "cpu" else 2
    run.click(
        run_vangogh,
        [photo, method, strength, overlap, norm],
        [output, status, file],
        api_name="vangogh",
        preprocess=False,
        concurrency_limit=limit,
        concurrency_id="gan",
    )
    compare.click(
        run_vangogh_compare,
        [photo, strength, overlap, norm],
        [compared, table],
        api_name="vangogh_compare",
        preprocess=False,
        concurrency_limit=limit,
        concurrency_id="gan",
    )
