"""stylegan_lib: the Gradio app (a Hugging Face Space).

Tabs: Van Gogh HD (Siamese GAN by tiles, CycleGAN beside it), Neural style transfer
(Gatys, VGG19), ProGAN latent explorer. Handlers first, then the layout, events last.
Nothing is loaded at import time: weights are resolved on first use (stylegan_lib.hub).

Run: ``python app.py`` (serves on 127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
override). Uploads are decoded by stylegan_lib.images (events use preprocess=False), so a
bad file gets our message instead of a decoder traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from stylegan_lib import hub, latent, progan
from stylegan_lib.images import ImageError, fit_longest_side, open_image, pil_to_tensor, save_png, tensor_to_pil
from stylegan_lib.nst import OPTIMIZERS, SWEEP_RATIOS, style_weight_sweep, stylize
from stylegan_lib.streaming import Finished, stream
from stylegan_lib.tiling import seam_score, translate_hd
from stylegan_lib.translate import blend_strength, load_translator

EXAMPLES = Path(__file__).resolve().parent / "examples"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Limits:
    """What one request may ask of this machine (a CPU Space is ~50x slower than a GPU)."""

    input_pixels: int  # uploads above are downscaled to this, and the user is told
    translate_pixels: int  # Van Gogh HD: photos above are downscaled to this
    tile_batch: int  # tiles per batch in translate_hd
    max_size: int  # longest side of a style transfer result
    max_steps: int
    size: int  # defaults shown in the UI
    steps: int
    grid_size: int
    grid_steps: int


LIMITS = {
    "cuda": Limits(
        input_pixels=40_000_000,
        translate_pixels=64_000_000,
        tile_batch=1024,
        max_size=2048,
        max_steps=2000,
        size=512,
        steps=500,
        grid_size=320,
        grid_steps=200,
    ),
    "cpu": Limits(
        input_pixels=40_000_000,
        translate_pixels=16_000_000,
        tile_batch=64,
        max_size=1024,
        max_steps=1000,
        size=256,
        steps=100,
        grid_size=96,
        grid_steps=30,
    ),
}[DEVICE]

OUTPUTS = Path(tempfile.mkdtemp(prefix="stylegan_lib_app_"))
atexit.register(shutil.rmtree, OUTPUTS, ignore_errors=True)
PROGRESS = gr.Progress()  # default of the handlers' progress argument: Gradio injects a tracker
_stop_events: dict[str, threading.Event] = {}  # session hash -> stop request of its running job


# ----------------------------------------------------------------------------- helpers


def _open_upload(upload, what: str, *, max_pixels: int = LIMITS.input_pixels):
    """A raw Gradio file payload -> RGB PIL image, or a gr.Error a user can act on."""
    path = upload.get("path") if isinstance(upload, dict) else upload
    if not path:
        raise gr.Error(f"No {what} image: upload one or pick an example.")
    try:
        return open_image(path, max_pixels=max_pixels)
    except ImageError as exc:
        raise gr.Error(f"{what.capitalize()} image: {exc}") from None


def _resized_note(img, what: str) -> str:
    w, h = img.info.get("original_size", img.size)
    return f" The {what} image ({w}×{h}) was downscaled to {img.width}×{img.height}." if (w, h) != img.size else ""


def _vgg():
    from stylegan_lib.vgg import load_vgg19

    try:
        return load_vgg19("caffe", device=DEVICE)
    except (hub.WeightsNotFoundError, hub.WeightsIntegrityError) as exc:
        raise gr.Error(str(exc)) from None


def _output(prefix: str, suffix: str = "") -> Path:
    """A fresh path in the app's output folder; files older than an hour are removed first."""
    cutoff = time.time() - 3600
    for old in OUTPUTS.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another request may prune it first
            if old.stat().st_mtime < cutoff:
                old.unlink()
    return OUTPUTS / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}{suffix}"


def _save(image) -> str:
    return str(save_png(image, _output("stylized", ".png")))


@contextlib.contextmanager
def _stop_event(request: gr.Request | None):
    """A stop flag for this session's job, set by the Stop button (request_stop)."""
    event, key = threading.Event(), getattr(request, "session_hash", None)
    if key:
        _stop_events[key] = event
    try:
        yield event
    finally:
        if key and _stop_events.get(key) is event:
            del _stop_events[key]


def _nst_kwargs(log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed) -> dict:
    if not 1 <= int(steps) <= LIMITS.max_steps or not 16 <= int(size) <= LIMITS.max_size:
        raise gr.Error(f"On {DEVICE} steps must be 1-{LIMITS.max_steps} and size 16-{LIMITS.max_size} px.")
    if optimizer not in OPTIMIZERS or not 1 <= int(num_scales) <= 4:
        raise gr.Error(f"The optimiser must be one of {', '.join(OPTIMIZERS)} and scales 1-4.")
    return dict(
        content_weight=10.0**log_alpha, style_weight=10.0**log_beta, tv_weight=float(tv_weight),
        steps=int(steps), size=int(size), optimizer=optimizer, preserve_colors=bool(preserve_colors),
        num_scales=int(num_scales), seed=int(seed), device=DEVICE,
    )  # fmt: skip


def _status(p, started: float) -> str:
    h, w = p.size
    return (
        f"Step {p.step}/{p.total_steps} · scale {p.scale + 1}/{p.num_scales} ({w}×{h}) · "
        f"loss {p.loss:.3g} (style {p.style_loss:.3g}, content {p.content_loss:.3g}) · "
        f"{time.perf_counter() - started:.1f} s"
    )


# ----------------------------------------------------------------------------- handlers


def run_nst(content, style, log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed,
            request: gr.Request = None, progress=PROGRESS):  # fmt: skip
    """Gatys style transfer; streams previews, then the full-size PNG."""
    content_img, style_img = _open_upload(content, "content"), _open_upload(style, "style")
    kwargs = _nst_kwargs(log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed)
    vgg, started = _vgg(), time.perf_counter()
    c, s = pil_to_tensor(content_img), pil_to_tensor(style_img)
    last = {}  # the last progress the algorithm reported (previews are throttled)

    def work(callback):
        return stylize(c, s, vgg=vgg, callback=lambda p: last.update(p=p) or callback(p), **kwargs)

    with _stop_event(request) as stop:
        for item in stream(work, stop=stop):
            if isinstance(item, Finished):
                break
            progress((item.step, item.total_steps), desc="Optimising")
            yield tensor_to_pil(item.image), _status(item, started), None
    result, p = tensor_to_pil(item.value), last["p"]
    stopped = f" Stopped by request: stopped at step {p.step}/{p.total_steps}." if p.step < p.total_steps else ""
    notes = stopped + _resized_note(content_img, "content") + _resized_note(style_img, "style")
    done = f"Done: {result.width}×{result.height} in {time.perf_counter() - started:.1f} s on {DEVICE}.{notes}"
    yield result, done, _save(result)


def run_ratio_grid(content, style, log_alpha, tv_weight, optimizer, preserve_colors, seed,
                   request: gr.Request = None, progress=PROGRESS):  # fmt: skip
    """Seed 001's figure: one small result per alpha/beta ratio, streamed as each finishes."""
    c = pil_to_tensor(_open_upload(content, "content"))
    s = pil_to_tensor(_open_upload(style, "style"))
    vgg, gallery, alpha = _vgg(), [], 10.0**log_alpha
    with _stop_event(request) as stop:
        sweep = style_weight_sweep(c, s, content_weight=alpha, tv_weight=float(tv_weight), steps=LIMITS.grid_steps,
                                   size=LIMITS.grid_size, optimizer=optimizer, preserve_colors=bool(preserve_colors),
                                   seed=int(seed), device=DEVICE, vgg=vgg,
                                   callback=lambda p: stop.is_set())  # fmt: skip
        progress((0, len(SWEEP_RATIOS)), desc="α/β grid")
        for i, (ratio, result) in enumerate(sweep, start=1):
            progress((i, len(SWEEP_RATIOS)), desc=f"α/β = {ratio:.0e} done")
            gallery.append((tensor_to_pil(result), f"α/β = {ratio:.0e} (β = {alpha / ratio:.1e})"))
            yield gallery
            if stop.is_set():
                return


def request_stop(request: gr.Request = None) -> str:
    event = _stop_events.get(request.session_hash) if request is not None else None
    if event is not None:
        event.set()
    return "Stopping after the current step…"


def availability_notice(*names: str) -> str:
    """Markdown for a tab: which of its models are missing and how to get them."""
    missing = [(name, hub.availability(name)) for name in names]
    lines = [f"**{name}: not available.** {reason}" for name, reason in missing if reason]
    return "\n\n".join(lines) if lines else "Models ready: " + ", ".join(names) + "."


VANGOGH_METHODS = {
    "Siamese GAN, Combo-trained (seed 000)": "siamese",
    "Siamese GAN, naive tiles (baseline)": "siamese-naive",
}
PREVIEW_SIDE = 2048  # the before/after view; the download is full size


def _translator(method: str):
    try:
        return load_translator(VANGOGH_METHODS[method], device=DEVICE)
    except KeyError:
        raise gr.Error(f"Unknown method {method!r}; choose one of: {', '.join(VANGOGH_METHODS)}") from None
    except (hub.WeightsNotFoundError, hub.WeightsIntegrityError) as exc:
        raise gr.Error(str(exc)) from None


def run_vangogh(photo, method, strength, overlap, progress=PROGRESS):
    """Van Gogh HD: the photo at full resolution, tile by tile; before/after, seam score, PNG."""
    img = _open_upload(photo, "photo", max_pixels=LIMITS.translate_pixels)
    G, tile = _translator(method)
    overlap = min(int(overlap), tile // 2)
    started = time.perf_counter()
    painted = translate_hd(G, img, tile=tile, overlap=overlap, batch=LIMITS.tile_batch, device=DEVICE,
                           callback=lambda p: progress((p.done, p.total), desc="Painting tiles") and None)  # fmt: skip
    seconds = time.perf_counter() - started
    seams = _seams(img, painted, tile=tile) if overlap == 0 else "seam score n/a with overlap"
    painted = blend_strength(np.asarray(img), painted, strength=float(strength))
    result = Image.fromarray(painted)
    status = (f"{img.width}×{img.height} in {seconds:.1f} s on {DEVICE} · {tile}-px tiles"
              f"{f', {overlap}-px overlap' if overlap else ''} · {seams} · strength {float(strength):.2f}."
              f"{_resized_note(img, 'photo')}")  # fmt: skip
    return (_preview(img), _preview(result)), status, _save(result)


def _seams(photo, painted, *, tile: int) -> str:
    """The seam score of the result beside the photo's own on the same grid (about 1.0)."""
    try:
        return f"seam score {seam_score(painted, tile=tile):.3f} (the photo itself: {seam_score(photo, tile=tile):.3f})"
    except ValueError as exc:  # too small for a tile border, or flat
        return f"seam score n/a ({exc})"


def _preview(img):
    return img if max(img.size) <= PREVIEW_SIDE else fit_longest_side(img, PREVIEW_SIDE)


FACE_DISPLAY = 256  # faces are shown upscaled (Lanczos); downloads keep the model's resolution
MAX_INTERPOLATION_STEPS = 300


def _progan():
    try:
        return _load_progan(device=DEVICE)
    except (hub.WeightsNotFoundError, hub.WeightsIntegrityError) as exc:
        raise gr.Error(str(exc)) from None


_load_progan = functools.lru_cache(maxsize=2)(progan.load_generator)


def _face(image: torch.Tensor):
    # [3, R, R] in [0, 1] -> a PIL face upscaled for display
    return tensor_to_pil(image).resize((FACE_DISPLAY, FACE_DISPLAY), Image.LANCZOS)


def _latent(seed, z_dim: int) -> torch.Tensor:
    return progan.sample_latents(1, z_dim=z_dim, seed=int(seed), device=DEVICE)[0]


def run_progan_sample(seed):
    """The face of latent seed ``seed`` and its latent vector (.npy)."""
    G, config = _progan()
    z = _latent(seed, config.z_dim)
    face = progan.generate(G, z[None])[0]
    return _face(face), str(latent.save_latent(z.cpu(), _output(f"latent-seed{int(seed)}", ".npy")))


def run_progan_interpolate(seed_a, seed_b, num_steps, method, fps):
    """Seed 003's norm-preserving interpolation (or slerp) between two seeds, as a GIF (and MP4)."""
    G, config = _progan()
    if not 2 <= int(num_steps) <= MAX_INTERPOLATION_STEPS:
        raise gr.Error(f"Steps must be 2-{MAX_INTERPOLATION_STEPS}.")
    path = latent.norm_preserving_interpolation if method.startswith("norm") else latent.slerp
    latents = path(_latent(seed_a, config.z_dim), _latent(seed_b, config.z_dim), num_steps=int(num_steps))
    frames = [_face(f) for f in latent.render_frames(G, latents.to(DEVICE))]
    stem = _output(f"interpolation-{int(seed_a)}-{int(seed_b)}")
    frames[0].save(gif := stem.with_suffix(".gif"), save_all=True, append_images=frames[1:],
                   duration=round(1000 / float(fps)), loop=0)  # fmt: skip
    files = [str(gif)]
    with contextlib.suppress(RuntimeError):  # MP4 needs imageio-ffmpeg; the GIF is always there
        files.append(str(latent.save_mp4(torch.stack([pil_to_tensor(f)[0] for f in frames]), stem, fps=float(fps))))
    return str(gif), files


def run_progan_project(target, target_seed, use_upload, steps, restarts, lr, progress=PROGRESS):
    """Closest-latent search (seed 003): live convergence, then result beside target, PSNR, GIF, .npy."""
    G, config = _progan()
    if use_upload:
        photo = _open_upload(target, "target")
        goal = latent.prepare_target(photo, resolution=config.img_resolution, device=DEVICE)
    else:
        goal = progan.generate(G, _latent(target_seed, config.z_dim)[None])
    if not 1 <= int(steps) <= 2000 or not 1 <= int(restarts) <= 64:
        raise gr.Error("Steps must be 1-2000 and restarts 1-64.")
    started = time.perf_counter()

    def work(callback):
        return latent.closest_latent(G, goal, steps=int(steps), restarts=int(restarts), lr=float(lr), callback=callback)

    for item in stream(work):
        if isinstance(item, Finished):
            break
        progress((item.step, item.steps), desc="Searching")
        yield _pair(goal[0], item.frame), f"Step {item.step}/{item.steps} · PSNR {item.psnr:.2f} dB", None, None
    found = item.value
    stem = _output("search")
    frames = [_pair(goal[0], f) for f in found.frames]
    frames[0].save(gif := stem.with_suffix(".gif"), save_all=True, append_images=frames[1:], duration=80, loop=0)
    npy = latent.save_latent(found.latent.cpu(), stem.with_suffix(".npy"))
    status = (f"PSNR {found.psnr:.2f} dB after {int(steps)} steps × {int(restarts)} starts in "
              f"{time.perf_counter() - started:.1f} s on {DEVICE} (left: target, right: result).")  # fmt: skip
    yield _pair(goal[0], found.image), status, str(gif), str(npy)


def _pair(left: torch.Tensor, right: torch.Tensor):
    return _face(torch.cat([left.to(right.device), right], dim=-1)).resize((2 * FACE_DISPLAY, FACE_DISPLAY))


# ----------------------------------------------------------------------------- layout


def _examples(pairs):
    return [
        [str(EXAMPLES / a), str(EXAMPLES / b)]
        for a, b in pairs
        if (EXAMPLES / a).is_file() and (EXAMPLES / b).is_file()
    ]


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="stylegan_lib — Van Gogh HD, style transfer, ProGAN", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# stylegan_lib\nTurn photos into paintings at full resolution, run Gatys style transfer, "
            f"explore a progressive GAN. Running on **{DEVICE}**."
        )
        with gr.Tab("Van Gogh HD", id="vangogh"):
            vg_notice = gr.Markdown()
            with gr.Row():
                with gr.Column():
                    vg_input = gr.Image(
                        label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"]
                    )
                    vg_method = gr.Radio(list(VANGOGH_METHODS), value=next(iter(VANGOGH_METHODS)), label="Model")
                    with gr.Row():
                        vg_strength = gr.Slider(0, 1, value=1, step=0.05, label="Style strength (blend in CIELAB)")
                        vg_overlap = gr.Slider(
                            0, 32, value=0, step=2, label="Tile overlap, px (0 = the seed's plain tiles)"
                        )
                    vg_run = gr.Button("Paint it", variant="primary")
                with gr.Column():
                    vg_output = gr.ImageSlider(label="Before / after", format="jpeg", interactive=False)
                    vg_status = gr.Markdown()
                    vg_file = gr.File(label="Full-size PNG", interactive=False)
            gr.Examples(
                [
                    [str(EXAMPLES / name)]
                    for name in ("content_aitzgorri_mountains.jpg", "content_picos_de_europa.jpg")
                    if (EXAMPLES / name).is_file()
                ],  # fmt: skip
                inputs=[vg_input],
                label="Examples (credits in examples/ATTRIBUTION.md)",
            )

        with gr.Tab("Neural style transfer", id="nst"):
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        content = gr.Image(
                            label="Content", type="filepath", image_mode=None, sources=["upload", "clipboard"]
                        )
                        style = gr.Image(
                            label="Style", type="filepath", image_mode=None, sources=["upload", "clipboard"]
                        )
                    with gr.Row():
                        log_alpha = gr.Slider(0, 8, value=4, step=0.5, label="Content weight α (log10)")
                        log_beta = gr.Slider(-6, 2, value=-2, step=0.5, label="Style weight β (log10)")
                        tv_weight = gr.Slider(0, 200, value=50, step=1, label="Total-variation weight")
                    with gr.Row():
                        steps = gr.Slider(1, LIMITS.max_steps, value=LIMITS.steps, step=1, label="Steps per scale")
                        size = gr.Slider(
                            64, LIMITS.max_size, value=LIMITS.size, step=16, label="Output size (longest side, px)"
                        )
                    with gr.Accordion("More settings", open=False):
                        with gr.Row():
                            optimizer = gr.Radio(["adam", "lbfgs"], value="adam", label="Optimiser")
                            num_scales = gr.Slider(1, 4, value=1, step=1, label="Scales (coarse to fine)")
                            seed = gr.Number(value=0, precision=0, label="Seed")
                    preserve_colors = gr.Checkbox(
                        value=False, label="Keep the content's colours (luminance-only transfer)"
                    )
                    with gr.Row():
                        nst_run = gr.Button("Stylise", variant="primary")
                        nst_stop = gr.Button("Stop", variant="stop")
                        grid_run = gr.Button("α/β ratio grid")
                with gr.Column():
                    nst_output = gr.Image(label="Result", format="png", interactive=False)
                    nst_status = gr.Markdown()
                    nst_file = gr.File(label="Full-size PNG", interactive=False)
            grid = gr.Gallery(label="α/β ratio grid (small, fast previews)", columns=5, format="png")
            gr.Examples(
                _examples(
                    [
                        ("content_picos_de_europa.jpg", "style_autumn_tree.jpg"),
                        ("content_cat_chelsea.png", "style_flow_hexagons.jpg"),
                        ("content_coffee_cup.png", "style_safe_landing.jpg"),
                    ]
                ),  # fmt: skip
                inputs=[content, style],
                label="Examples (credits in examples/ATTRIBUTION.md)",
            )

        with gr.Tab("ProGAN", id="progan"):
            pg_notice = gr.Markdown()
            with gr.Row():
                with gr.Column():
                    gr.Markdown("### Random face")
                    pg_seed = gr.Number(value=0, precision=0, label="Latent seed")
                    pg_run = gr.Button("Generate face", variant="primary")
                    pg_output = gr.Image(label="Face", format="png", interactive=False)
                    pg_latent = gr.File(label="Latent vector (.npy)", interactive=False)
                with gr.Column():
                    gr.Markdown("### Interpolation")
                    with gr.Row():
                        pi_a = gr.Number(value=0, precision=0, label="From seed")
                        pi_b = gr.Number(value=1, precision=0, label="To seed")
                    with gr.Row():
                        pi_steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, value=150, step=1, label="Frames")
                        pi_fps = gr.Slider(5, 60, value=25, step=1, label="Frames per second")
                    pi_method = gr.Radio(["norm-preserving (seed 003)", "slerp"], value="norm-preserving (seed 003)",
                                         label="Path")  # fmt: skip
                    pi_run = gr.Button("Animate", variant="primary")
                    pi_output = gr.Image(label="Animation", interactive=False)
                    pi_files = gr.File(label="GIF / MP4", file_count="multiple", interactive=False)
            gr.Markdown("### Closest latent: which face of the model is nearest to a target?")
            with gr.Row():
                with gr.Column():
                    pp_use_upload = gr.Checkbox(value=False, label="Use an uploaded photo (else the face of a seed)")
                    pp_target = gr.Image(label="Target photo (centre-cropped)", type="filepath", image_mode=None)
                    pp_seed = gr.Number(value=7, precision=0, label="Target seed")
                    with gr.Row():
                        pp_steps = gr.Slider(10, 2000, value=200, step=10, label="Steps")
                        pp_restarts = gr.Slider(1, 64, value=8, step=1, label="Random starts (one batch)")
                        pp_lr = gr.Slider(0.001, 0.2, value=0.05, step=0.001, label="Adam learning rate")
                    pp_run = gr.Button("Search", variant="primary")
                with gr.Column():
                    pp_output = gr.Image(label="Target | result", format="png", interactive=False)
                    pp_status = gr.Markdown()
                    pp_gif = gr.File(label="Convergence GIF", interactive=False)
                    pp_npy = gr.File(label="Latent vector (.npy)", interactive=False)

        # ------------------------------------------------------------------ events
        demo.load(
            lambda: availability_notice("siamese-vangogh", "siamese-vangogh-naive"),
            None,
            vg_notice,
            queue=False,
            api_visibility="private",
        )
        demo.load(lambda: availability_notice("progan-faces"), None, pg_notice, queue=False, api_visibility="private")
        vg_run.click(run_vangogh, [vg_input, vg_method, vg_strength, vg_overlap], [vg_output, vg_status, vg_file],
                     api_name="vangogh", preprocess=False, concurrency_limit=1 if DEVICE == "cpu" else 2)  # fmt: skip
        pg_run.click(run_progan_sample, [pg_seed], [pg_output, pg_latent], api_name="progan_sample", preprocess=False)
        pi_run.click(run_progan_interpolate, [pi_a, pi_b, pi_steps, pi_method, pi_fps], [pi_output, pi_files],
                     api_name="progan_interpolate", preprocess=False)  # fmt: skip
        pp_run.click(run_progan_project, [pp_target, pp_seed, pp_use_upload, pp_steps, pp_restarts, pp_lr],
                     [pp_output, pp_status, pp_gif, pp_npy], api_name="progan_project", preprocess=False)  # fmt: skip
        nst_settings = [log_alpha, log_beta, tv_weight, steps, size, optimizer, preserve_colors, num_scales, seed]
        nst_run.click(
            run_nst, [content, style, *nst_settings], [nst_output, nst_status, nst_file],
            api_name="nst", preprocess=False, concurrency_limit=1 if DEVICE == "cpu" else 2,
        )  # fmt: skip
        grid_run.click(
            run_ratio_grid, [content, style, log_alpha, tv_weight, optimizer, preserve_colors, seed], grid,
            api_name="nst_ratio_grid", preprocess=False, concurrency_limit=1,
        )  # fmt: skip
        nst_stop.click(request_stop, None, nst_status, queue=False, api_name="nst_stop")
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.queue(max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        theme=gr.themes.Soft(),
    )
