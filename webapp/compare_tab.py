"""Comparison tab: one photo through every method, side by side, with time and quality figures.

Every method runs on the same copy of the photo (longest side LIMITS.compare_side), so
times and figures compare like with like. The GANs need only the photo; Gatys NST (and the
fast feed-forward model, when shipped) also take a style image.
"""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from stylegan_lib import hub, translate
from stylegan_lib.images import fit_longest_side, pil_to_tensor, tensor_to_pil
from stylegan_lib.nst import stylize

from . import examples, metrics, runners
from .common import AUTOCAST, COSTS, DEVICE, LIMITS, PROGRESS, gpu, open_upload, timed, vgg
from .layout import example_pairs, image_input
from .predict import format_seconds
from .share import ShareLinks

STYLE_METHODS = {  # these also need a style image
    "gatys": "Gatys style transfer",
    "adain": runners.FAST_LABEL,
    "magenta": runners.MAGENTA_LABEL,
}
# method -> cost-model task (Magenta: AdaIN's figures, an upper bound); the GANs: runners.cost_task
TASKS = {"gatys": "nst", "adain": "adain", "magenta": "adain"}
GAN_NORM = "image"  # the GANs run with the whole photo's statistics, as the Van Gogh tab's default
WEIGHTS = {"gatys": "vgg19-caffe", "adain": "adain-decoder", "magenta": "magenta-arbitrary"}  # GANs: translate


def methods() -> dict[str, str]:
    """Method name -> label of every method this install can run (names go in share links)."""
    return {**{key: label for label, key in runners.METHODS.items()}, **STYLE_METHODS}


def _gatys(photo: Image.Image, style: Image.Image, *, steps: int, seed: int) -> Image.Image:
    side = max(photo.size)
    work = runners.units(photo.height, photo.width, size=side, num_scales=1, steps=steps)
    with timed("nst", work):
        result = stylize(pil_to_tensor(photo), pil_to_tensor(style), vgg=vgg(), steps=steps, size=side, seed=seed,
                         optimizer=LIMITS.optimizer, device=DEVICE, autocast=AUTOCAST)  # fmt: skip
    return tensor_to_pil(result)


def _task(method: str) -> str:
    return TASKS.get(method) or runners.cost_task(method, GAN_NORM)


def _units(method: str, photo: Image.Image, steps: int) -> float:
    if method == "gatys":
        return runners.units(photo.height, photo.width, size=max(photo.size), num_scales=1, steps=steps)
    return photo.width * photo.height / 1e6


@gpu(duration=180)
def run_compare(photo, style, chosen, steps, seed, progress=PROGRESS):
    """Each chosen method on the same photo; yields the gallery and the table as results arrive."""
    available = methods()
    unknown = [name for name in chosen or [] if name not in available]
    if unknown or not chosen:
        raise gr.Error(
            f"Choose one or more of: {', '.join(available)} (got {', '.join(map(str, chosen or [])) or 'none'})."
        )
    img = open_upload(photo, "photo")
    if max(img.size) > LIMITS.compare_side:
        img = fit_longest_side(img, LIMITS.compare_side)
    style_img = open_upload(style, "style") if any(name in STYLE_METHODS for name in chosen) else None
    steps, seed = int(steps), int(seed)
    if "gatys" in chosen:
        runners.check_shape(img, "photo", side=max(img.size))
        runners.check_shape(style_img, "style", side=max(img.size))
    if not 1 <= steps <= LIMITS.max_steps:
        raise gr.Error(f"Steps must be 1-{LIMITS.max_steps} on {DEVICE}.")
    total = sum(COSTS.estimate(_task(name), _units(name, img, steps)).seconds for name in chosen)
    if total > LIMITS.max_job_seconds:
        raise gr.Error(f"These methods would take about {format_seconds(total)} together on {DEVICE}; the limit "
                       f"is {LIMITS.max_job_seconds:.0f} s. Choose fewer methods or fewer Gatys steps.")  # fmt: skip
    gallery, rows = [(img, f"photo {img.width}×{img.height}")], [metrics.reference(img)]
    for i, name in enumerate(chosen):
        label = available[name]
        progress((i, len(chosen)), desc=label)
        if hub.availability(WEIGHTS.get(name) or translate.METHODS[name]) is not None:
            rows.append((label, "weights not found", metrics.Quality(None, None, None)))
            yield gallery, metrics.table(rows)
            continue
        started = time.perf_counter()
        if name == "gatys":
            result, tile = _gatys(img, style_img, steps=steps, seed=seed), None
        elif name == "adain":
            result, _ = runners.fast_stylize(img, style_img, side=max(img.size), alpha=1.0, preserve_colors=False)
            tile = None
        elif name == "magenta":
            result, _ = runners.magenta_stylize(img, style_img, side=max(img.size), strength=1.0, preserve_colors=False)
            tile = None
        else:
            done = runners.paint(img, name, overlap=0, norm=GAN_NORM)
            result, tile = done.image, done.seam_tile
        seconds = time.perf_counter() - started
        gallery.append((result, f"{label} · {seconds:.1f} s"))
        rows.append((label, f"{seconds:.1f} s", metrics.measure(img, result, tile=tile)))
        yield gallery, metrics.table(rows)


def build(demo: gr.Blocks, share: ShareLinks) -> None:  # noqa: ARG001
    """The tab's layout and events."""
    choices = [(label, name) for name, label in methods().items()]
    with gr.Row():
        with gr.Column():
            with gr.Row():
                photo = image_input("Photo", elem_id="compare-photo")
                style = image_input("Style (for style transfer)", elem_id="compare-style")
            chosen = gr.CheckboxGroup(
                choices, value=[name for _, name in choices], label="Methods", elem_id="compare-methods"
            )
            with gr.Row():
                steps = gr.Slider(1, LIMITS.max_steps, value=LIMITS.compare_steps, step=1, label="Gatys steps",
                                  elem_id="compare-steps")  # fmt: skip
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="compare-seed")
            run = gr.Button("Compare", variant="primary", elem_id="compare-run")
            share.button("compare", {"photo": photo, "style": style, "methods": chosen, "steps": steps, "seed": seed})
        with gr.Column():
            gallery = gr.Gallery(label=f"Side by side (longest side {LIMITS.compare_side} px)", columns=3,
                                 format="png", elem_id="compare-gallery",
                                 value=examples.gallery("compare"))  # fmt: skip
            table = gr.Markdown(examples.text("compare", "table"), elem_id="compare-table")
    gr.Examples(
        example_pairs(
            ("content_picos_de_europa.jpg", "style_autumn_tree.jpg"),
            ("content_aitzgorri_mountains.jpg", "style_safe_landing.jpg"),
        ),
        inputs=[photo, style],
        label="Examples (credits in examples/ATTRIBUTION.md)",
    )
    run.click(run_compare, [photo, style, chosen, steps, seed], [gallery, table], api_name="compare",
              preprocess=False, concurrency_limit=1 if DEVICE == "cpu" else 2, concurrency_id="gan")  # fmt: skip
