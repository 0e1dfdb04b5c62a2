"""Neural style transfer tab: Gatys, Ecker & Bethge (CVPR 2016) with the Caffe VGG19."""

from __future__ import annotations

import time

import gradio as gr

from stylegan_lib import hub
from stylegan_lib.images import pil_to_tensor, tensor_to_pil
from stylegan_lib.nst import MIN_SIDE, OPTIMIZERS, SWEEP_RATIOS, style_weight_sweep, stylize

from . import examples
from .common import (
    AUTOCAST,
    COSTS,
    DEVICE,
    LIMITS,
    PROGRESS,
    check_budget,
    gpu,
    open_upload,
    request_stop,
    resized_note,
    save,
    stop_event,
    timed,
    vgg,
)
from .layout import example_pairs, image_input, upload_size
from .runners import (
    FAST_LABEL,
    FAST_NOTE,
    MAGENTA_LABEL,
    MAGENTA_NOTE,
    MAGENTA_SHORT_LABEL,
    check_shape,
    fast_stylize,
    magenta_stylize,
    units,
)
from .share import ShareLinks
from .streaming import Finished, stream


def _settings(log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed) -> dict:
    if not 1 <= int(steps) <= LIMITS.max_steps or not MIN_SIDE <= int(size) <= LIMITS.max_size:
        raise gr.Error(f"On {DEVICE} steps must be 1-{LIMITS.max_steps} and size {MIN_SIDE}-{LIMITS.max_size} px.")
    if optimizer not in OPTIMIZERS or not 1 <= int(num_scales) <= 4:
        raise gr.Error(f"The optimiser must be one of {', '.join(OPTIMIZERS)} and scales 1-4.")
    return dict(
        content_weight=10.0**log_alpha,
        style_weight=10.0**log_beta,
        tv_weight=float(tv_weight),
        steps=int(steps),
        size=int(size),
        optimizer=optimizer,
        preserve_colors=bool(preserve_colors),
        num_scales=int(num_scales),
        seed=int(seed),
        device=DEVICE,
        autocast=AUTOCAST,
    )


def estimate_text(content, size, steps, num_scales) -> str:
    """The predicted time of the next run, shown as soon as a content image and settings are set."""
    found = upload_size(content)
    if found is None:
        return ""
    w, h = found
    work = units(h, w, size=int(size), num_scales=int(num_scales), steps=int(steps))
    estimate = COSTS.estimate("nst", work)
    over = estimate.seconds > LIMITS.max_job_seconds
    note = f" — over this machine's {LIMITS.max_job_seconds:.0f} s limit: lower the size or steps" if over else ""
    return f"**Estimate:** {estimate.describe(device=DEVICE)}{note}."


def _status(p, started: float) -> str:
    h, w = p.size
    return (
        f"Step {p.step}/{p.total_steps} · scale {p.scale + 1}/{p.num_scales} ({w}×{h}) · "
        f"loss {p.loss:.3g} (style {p.style_loss:.3g}, content {p.content_loss:.3g}) · "
        f"{time.perf_counter() - started:.1f} s"
    )


@gpu(duration=120)
def run_nst(content, style, log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed,
            request: gr.Request = None, progress=PROGRESS):  # fmt: skip
    """Gatys style transfer; streams previews, then the full-size PNG."""
    content_img, style_img = open_upload(content, "content"), open_upload(style, "style")
    kwargs = _settings(log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed)
    check_shape(content_img, "content", side=kwargs["size"], num_scales=kwargs["num_scales"])
    check_shape(style_img, "style", side=kwargs["size"], num_scales=kwargs["num_scales"])
    work_units = units(
        content_img.height,
        content_img.width,
        size=kwargs["size"],
        num_scales=kwargs["num_scales"],
        steps=kwargs["steps"],
    )
    estimate = check_budget("nst", work_units)
    net, started = vgg(), time.perf_counter()
    c, s = pil_to_tensor(content_img), pil_to_tensor(style_img)
    last = {}  # the last progress the algorithm reported (previews are throttled)

    def work(callback):
        return stylize(c, s, vgg=net, callback=lambda p: last.update(p=p) or callback(p), **kwargs)

    yield None, f"Starting: {estimate.describe(device=DEVICE)}.", None
    with stop_event(request) as stop, timed("nst", work_units):
        for item in stream(work, stop=stop):
            if isinstance(item, Finished):
                break
            progress((item.step, item.total_steps), desc="Optimising")
            yield tensor_to_pil(item.image), _status(item, started), None
    result, p = tensor_to_pil(item.value), last["p"]
    stopped = f" Stopped by request: stopped at step {p.step}/{p.total_steps}." if p.step < p.total_steps else ""
    notes = stopped + resized_note(content_img, "content") + resized_note(style_img, "style")
    done = f"Done: {result.width}×{result.height} in {time.perf_counter() - started:.1f} s on {DEVICE}.{notes}"
    yield result, done, save(result)


@gpu(duration=120)
def run_ratio_grid(content, style, log_alpha, tv_weight, optimizer, preserve_colors, seed,
                   request: gr.Request = None, progress=PROGRESS):  # fmt: skip
    """Gatys et al.'s content/style trade-off figure: one small result per alpha/beta ratio, as each finishes."""
    content_img, style_img = open_upload(content, "content"), open_upload(style, "style")
    check_shape(content_img, "content", side=LIMITS.grid_size)
    check_shape(style_img, "style", side=LIMITS.grid_size)
    c, s = pil_to_tensor(content_img), pil_to_tensor(style_img)
    net, gallery, alpha = vgg(), [], 10.0**log_alpha
    with stop_event(request) as stop:
        sweep = style_weight_sweep(
            c,
            s,
            content_weight=alpha,
            tv_weight=float(tv_weight),
            steps=LIMITS.grid_steps,
            size=LIMITS.grid_size,
            optimizer=optimizer,
            preserve_colors=bool(preserve_colors),
            seed=int(seed),
            device=DEVICE,
            autocast=AUTOCAST,
            vgg=net,
            callback=lambda p: stop.is_set(),
        )
        progress((0, len(SWEEP_RATIOS)), desc="α/β grid")
        for i, (ratio, result) in enumerate(sweep, start=1):
            progress((i, len(SWEEP_RATIOS)), desc=f"α/β = {ratio:.0e} done")
            gallery.append((tensor_to_pil(result), f"α/β = {ratio:.0e} (β = {alpha / ratio:.1e})"))
            yield gallery
            if stop.is_set():
                return


def _fast_panel(stylize, label: str, prefix: str, content, style, strength, size, preserve_colors):
    """A fast method's panel: (result, status, PNG path). ``stylize(content, style, side, strength,
    preserve_colors)`` -> (PIL image, seconds)."""
    content_img, style_img = open_upload(content, "content"), open_upload(style, "style")
    if not 16 <= int(size) <= LIMITS.max_size:
        raise gr.Error(f"On {DEVICE} the size must be 16-{LIMITS.max_size} px.")
    result, seconds = stylize(content_img, style_img, int(size), float(strength), bool(preserve_colors))
    status = f"{label}: {result.width}×{result.height} in {seconds:.2f} s on {DEVICE}, "
    status += f"strength {float(strength):.2f}."
    return result, status, save(result, prefix)


@gpu(duration=30)
def run_fast(content, style, alpha, size, preserve_colors):
    """The fast model on the same content, style and size as the Gatys run, with its time."""

    def stylize(content_img, style_img, side, strength, keep_colors):
        return fast_stylize(content_img, style_img, side=side, alpha=strength, preserve_colors=keep_colors)

    return _fast_panel(stylize, FAST_LABEL, "adain", content, style, alpha, size, preserve_colors)


def _beside(run, model: str, name: str, *args):
    """A fast panel next to another run: problems go to its status line, never a second error toast."""
    reason = hub.availability(model)
    if reason is not None:
        return None, f"{name} not available: {reason}", None
    try:
        return run(*args)
    except gr.Error as exc:  # the other run reports a bad upload itself
        return None, f"{name}: {exc.message}", None


def run_fast_beside(content, style, alpha, size, preserve_colors):
    """The fast result next to a Gatys run."""
    return _beside(run_fast, "adain-decoder", "Fast model", content, style, alpha, size, preserve_colors)


@gpu(duration=30)
def run_magenta(content, style, strength, size, preserve_colors):
    """Magenta on the same content, style and size as the Gatys run, with its time."""

    def stylize(content_img, style_img, side, strength_, keep_colors):
        return magenta_stylize(content_img, style_img, side=side, strength=strength_, preserve_colors=keep_colors)

    return _fast_panel(stylize, MAGENTA_LABEL, "magenta", content, style, strength, size, preserve_colors)


def run_magenta_beside(content, style, strength, size, preserve_colors):
    """Magenta next to a Gatys or AdaIN run."""
    return _beside(run_magenta, "magenta-arbitrary", "Magenta", content, style, strength, size, preserve_colors)


def build(demo: gr.Blocks, share: ShareLinks) -> None:  # noqa: ARG001
    """The tab's layout and events (inside the app's gr.Blocks)."""
    with gr.Row():
        with gr.Column():
            with gr.Row():
                content = image_input("Content", elem_id="nst-content")
                style = image_input("Style", elem_id="nst-style")
            with gr.Row():
                log_alpha = gr.Slider(0, 8, value=4, step=0.5, label="Content weight α (log10)")
                log_beta = gr.Slider(-6, 2, value=-2, step=0.5, label="Style weight β (log10)")
                tv_weight = gr.Slider(0, 200, value=50, step=1, label="Total-variation weight")
            with gr.Row():
                steps = gr.Slider(
                    1, LIMITS.max_steps, value=LIMITS.steps, step=1, label="Steps per scale", elem_id="nst-steps"
                )
                size = gr.Slider(
                    64,
                    LIMITS.max_size,
                    value=LIMITS.size,
                    step=16,
                    label="Output size (longest side, px)",
                    elem_id="nst-size",
                )
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    optimizer = gr.Radio(list(OPTIMIZERS), value=LIMITS.optimizer, label="Optimiser")
                    num_scales = gr.Slider(1, 4, value=1, step=1, label="Scales (coarse to fine)")
                    seed = gr.Number(value=0, precision=0, label="Seed")
            preserve_colors = gr.Checkbox(value=False, label="Keep the content's colours (luminance-only transfer)")
            with gr.Row():
                nst_run = gr.Button("Stylise", variant="primary", elem_id="nst-run")
                nst_stop = gr.Button("Stop", variant="stop", elem_id="nst-stop")
                grid_run = gr.Button("α/β ratio grid", elem_id="nst-grid-run")
            share.button(
                "nst",
                {
                    "content": content,
                    "style": style,
                    "log_alpha": log_alpha,
                    "log_beta": log_beta,
                    "tv": tv_weight,
                    "steps": steps,
                    "size": size,
                    "optimizer": optimizer,
                    "scales": num_scales,
                    "seed": seed,
                    "preserve_colors": preserve_colors,
                },
            )
        with gr.Column():
            nst_output = gr.Image(label="Result", format="png", interactive=False, elem_id="nst-output",
                                  value=examples.file("nst", "result"))  # fmt: skip
            nst_estimate = gr.Markdown(elem_id="nst-estimate")
            nst_status = gr.Markdown(examples.text("nst", "status"), elem_id="nst-status")
            nst_file = gr.File(label="Full-size PNG", interactive=False)
        with gr.Column():
            # The label names the method only, as a longer one wraps over the picture; its training note goes below.
            fast_output = gr.Image(label=FAST_LABEL, format="png", interactive=False,
                                   elem_id="nst-fast-output", value=examples.file("nst", "fast"))  # fmt: skip
            gr.Markdown(f"<small>{FAST_NOTE}</small>", elem_id="nst-fast-note")
            fast_alpha = gr.Slider(0, 1, value=1, step=0.05, label="Fast model's style strength α",
                                   elem_id="nst-fast-alpha")  # fmt: skip
            fast_run = gr.Button("Fast stylise only", elem_id="nst-fast-run")
            fast_status = gr.Markdown(examples.text("nst", "fast_status"), elem_id="nst-fast-status")
            fast_file = gr.File(label="Fast result PNG", interactive=False)
            magenta_output = gr.Image(label=MAGENTA_SHORT_LABEL, format="png",
                                      interactive=False, elem_id="nst-magenta-output",
                                      value=examples.file("nst", "magenta"))  # fmt: skip
            gr.Markdown(f"<small>{MAGENTA_NOTE}</small>", elem_id="nst-magenta-note")
            magenta_status = gr.Markdown(examples.text("nst", "magenta_status"), elem_id="nst-magenta-status")
            magenta_file = gr.File(label="Magenta result PNG", interactive=False)
    grid = gr.Gallery(label="α/β ratio grid (small, fast previews)", columns=5, format="png", elem_id="nst-grid")
    gr.Examples(
        example_pairs(
            ("content_picos_de_europa.jpg", "style_autumn_tree.jpg"),
            ("content_cat_chelsea.png", "style_flow_hexagons.jpg"),
            ("content_coffee_cup.png", "style_safe_landing.jpg"),
        ),
        inputs=[content, style],
        label="Examples (credits in examples/ATTRIBUTION.md)",
    )

    for trigger in (content, size, steps, num_scales):
        trigger.change(estimate_text, [content, size, steps, num_scales], nst_estimate, preprocess=False, queue=False,
                       api_visibility="private")  # fmt: skip
    settings = [log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed]
    nst_run.click(
        run_nst,
        [content, style, *settings],
        [nst_output, nst_status, nst_file],
        api_name="nst",
        preprocess=False,
        concurrency_limit=1 if DEVICE == "cpu" else 2,
        concurrency_id="gatys",
    )
    grid_run.click(
        run_ratio_grid,
        [content, style, log_alpha, tv_weight, optimizer, preserve_colors, seed],
        grid,
        api_name="nst_ratio_grid",
        preprocess=False,
        concurrency_limit=1 if DEVICE == "cpu" else 2,
        concurrency_id="gatys",
    )
    fast = dict(fn=run_fast, inputs=[content, style, fast_alpha, size, preserve_colors],
                outputs=[fast_output, fast_status, fast_file], preprocess=False)  # fmt: skip
    fast_run.click(**fast, api_name="nst_fast")
    beside = {**fast, "fn": run_fast_beside, "api_visibility": "private"}
    nst_run.click(**beside)  # Stylise shows the fast result beside Gatys' too
    fast_alpha.release(**beside)
    magenta = dict(fn=run_magenta, inputs=[content, style, fast_alpha, size, preserve_colors],
                   outputs=[magenta_output, magenta_status, magenta_file], preprocess=False)  # fmt: skip
    fast_run.click(**magenta, api_name="nst_magenta")  # both fast methods, each with its time
    magenta_beside = {**magenta, "fn": run_magenta_beside, "api_visibility": "private"}
    nst_run.click(**magenta_beside)
    fast_alpha.release(**magenta_beside)
    nst_stop.click(request_stop, None, nst_status, queue=False, api_name="nst_stop")
