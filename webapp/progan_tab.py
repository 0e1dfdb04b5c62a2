"""Faces tab: ProGAN (Karras et al. 2018) or its DCGAN baseline (Radford et al. 2016): faces from latent
seeds, norm-preserving interpolation, closest-latent search. Every handler takes the model's hub.py name."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from stylegan_lib import latent, progan
from stylegan_lib.images import pil_to_tensor, tensor_to_pil

from . import examples
from .common import (
    AUTOCAST,
    DEVICE,
    PROGRESS,
    WEIGHTS_ERRORS,
    availability_notice,
    gpu,
    open_upload,
    output_path,
    upload_path,
)
from .share import ShareLinks
from .streaming import Finished, stream

FACE_DISPLAY = 256  # faces are shown upscaled (Lanczos); downloads keep the model's resolution
MAX_INTERPOLATION_STEPS = 300
SEARCH = latent.FACE_SEARCH  # the sliders' starting values, as the CLI's defaults and the model card's figures
PRESELECT = SEARCH.preselect  # random latents scored (forward only) before the search; its starts are the best of them
MAX_PRESELECT = 2048
# the choice of model, as (label, hub.py name); a latent belongs to one model (their z sizes differ)
MODELS = [
    ("ProGAN: progressive growing (Karras et al. 2018)", "progan-faces"),
    ("DCGAN: the baseline without growing (Radford et al. 2016)", "dcgan-faces"),
]
DEFAULT_MODEL = "progan-faces"


def _progan(model: str):
    try:
        return load_progan(model=model, device=DEVICE)
    except (*WEIGHTS_ERRORS, ValueError) as exc:  # ValueError: an unknown model, or weights of another one
        raise gr.Error(str(exc)) from None


load_progan = functools.lru_cache(maxsize=4)(progan.load_generator)


def _face(image: torch.Tensor):
    # [3, R, R] in [0, 1] -> a PIL face upscaled for display
    return tensor_to_pil(image).resize((FACE_DISPLAY, FACE_DISPLAY), Image.LANCZOS)


def _latent(seed, z_dim: int) -> torch.Tensor:
    return progan.sample_latents(1, z_dim=z_dim, seed=int(seed), device=DEVICE)[0]


@gpu(duration=30)
def run_progan_sample(seed, model=DEFAULT_MODEL):
    """The face of latent seed ``seed`` and its latent vector (.npy)."""
    G, config = _progan(model)
    z = _latent(seed, config.z_dim)
    face = progan.generate(G, z[None])[0]
    return _face(face), str(latent.save_latent(z.cpu(), output_path(f"latent-seed{int(seed)}", ".npy")))


def _uploaded_latent(upload, z_dim: int, what: str = "latent vector") -> torch.Tensor | None:
    """A raw Gradio file payload of a .npy latent -> [z_dim] on DEVICE; None when nothing was uploaded."""
    path = upload_path(upload)
    if not path:
        return None
    name = (upload.get("orig_name") if isinstance(upload, dict) else None) or Path(path).name
    try:
        return latent.load_latent(path, z_dim=z_dim).to(DEVICE)
    except ValueError as exc:
        raise gr.Error(f"{what.capitalize()}: {str(exc).replace(str(path), name)}") from None


@gpu(duration=30)
def run_progan_render(upload, model=DEFAULT_MODEL):
    """The face of a saved latent vector (.npy, e.g. a search result): a shared result, reproduced."""
    G, config = _progan(model)
    z = _uploaded_latent(upload, config.z_dim)
    if z is None:
        raise gr.Error("No latent vector: upload a .npy file (the search and the faces offer one to download).")
    return _face(progan.generate(G, z[None])[0])


@gpu(duration=60)
def run_progan_interpolate(seed_a, seed_b, num_steps, method, fps, latent_a=None, latent_b=None,
                           model=DEFAULT_MODEL):  # fmt: skip
    """Norm-preserving interpolation (or slerp) between two seeds, as a GIF (and MP4).

    An uploaded .npy latent (``latent_a`` / ``latent_b``, e.g. a search result) replaces its seed.
    """
    G, config = _progan(model)
    if not 2 <= int(num_steps) <= MAX_INTERPOLATION_STEPS:
        raise gr.Error(f"Steps must be 2-{MAX_INTERPOLATION_STEPS}.")
    path = latent.norm_preserving_interpolation if method.startswith("norm") else latent.slerp
    ends, names = [], []  # each end: an uploaded latent, else its seed's
    for seed, upload, what in ((seed_a, latent_a, "'from' latent"), (seed_b, latent_b, "'to' latent")):
        z = _uploaded_latent(upload, config.z_dim, what)
        ends.append(_latent(seed, config.z_dim) if z is None else z)
        names.append(f"seed{int(seed)}" if z is None else "latent")
    a, b = ends
    try:
        latents = path(a, b, num_steps=int(num_steps))
    except ValueError as exc:  # opposite latents: the straight path passes through 0
        raise gr.Error(str(exc)) from None
    frames = [_face(f) for f in latent.render_frames(G, latents.to(DEVICE))]
    stem = output_path(f"interpolation-{names[0]}-{names[1]}")  # the file says what it shows
    frames[0].save(gif := stem.with_suffix(".gif"), save_all=True, append_images=frames[1:],
                   duration=round(1000 / float(fps)), loop=0)  # fmt: skip
    files = [str(gif)]
    with contextlib.suppress(RuntimeError):  # MP4 needs imageio-ffmpeg (requirements.txt); the GIF is always there
        mp4 = latent.save_mp4(torch.stack([pil_to_tensor(f)[0] for f in frames]), stem.with_suffix(".mp4"),
                              fps=float(fps))  # fmt: skip
        files.append(str(mp4))
    return str(gif), files


@gpu(duration=120)
def run_progan_project(target, target_seed, use_upload, steps, restarts, lr, preselect=PRESELECT,
                       model=DEFAULT_MODEL, progress=PROGRESS):  # fmt: skip
    """Closest-latent search: live convergence, then result beside target, PSNR, GIF, .npy."""
    G, config = _progan(model)
    if use_upload:
        photo = open_upload(target, "target")
        goal = latent.prepare_target(photo, resolution=config.img_resolution, device=DEVICE)
    else:
        goal = progan.generate(G, _latent(target_seed, config.z_dim)[None])
    if not 1 <= int(steps) <= 2000 or not 1 <= int(restarts) <= 64 or not 0 <= int(preselect) <= MAX_PRESELECT:
        raise gr.Error(f"Steps must be 1-2000, restarts 1-64 and scored candidates 0-{MAX_PRESELECT}.")
    preselect = max(int(preselect), int(restarts)) if int(preselect) else 0
    started = time.perf_counter()

    def work(callback):
        return latent.closest_latent(G, goal, steps=int(steps), restarts=int(restarts), lr=float(lr),
                                     preselect=preselect, callback=callback, autocast=AUTOCAST)  # fmt: skip

    for item in stream(work):
        if isinstance(item, Finished):
            break
        progress((item.step, item.steps), desc="Searching")
        yield _pair(goal[0], item.frame), f"Step {item.step}/{item.steps} · PSNR {item.psnr:.2f} dB", None, None
    found = item.value
    stem = output_path("search")
    frames = [_pair(goal[0], f) for f in found.frames]
    frames[0].save(gif := stem.with_suffix(".gif"), save_all=True, append_images=frames[1:], duration=80, loop=0)
    npy = latent.save_latent(found.latent.cpu(), stem.with_suffix(".npy"))
    picked = f" (the best of {preselect} scored latents)" if preselect else ""
    status = (f"PSNR {found.psnr:.2f} dB after {int(steps)} steps × {int(restarts)} starts{picked} in "
              f"{time.perf_counter() - started:.1f} s on {DEVICE} (left: target, right: result).")  # fmt: skip
    yield _pair(goal[0], found.image), status, str(gif), str(npy)


def _keep_result(npy) -> str:
    # the search's .npy (a raw file payload) -> the path for the "render a saved latent" input
    if not (path := upload_path(npy)):
        raise gr.Error("No search result yet: run a search first.")
    return path


def _pair(left: torch.Tensor, right: torch.Tensor):
    return _face(torch.cat([left.to(right.device), right], dim=-1)).resize((2 * FACE_DISPLAY, FACE_DISPLAY))


def build(demo: gr.Blocks, share: ShareLinks) -> None:
    pg_notice = gr.Markdown()
    pg_model = gr.Radio(MODELS, value=DEFAULT_MODEL, label="Model",
                        info="Both draw 64×64 faces, trained on the same CelebA faces on a CPU for about the same "
                        "compute; here the DCGAN's faces are the closer to real ones (the model cards measure it). "
                        "A latent vector (.npy) belongs to the model that made it.",
                        elem_id="progan-model")  # fmt: skip
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Random face")
            pg_seed = gr.Number(value=0, precision=0, label="Random seed (picks the latent vector)",
                                elem_id="progan-seed")  # fmt: skip
            pg_run = gr.Button("Generate face", variant="primary", elem_id="progan-run")
            pg_output = gr.Image(label="Face", format="png", interactive=False, elem_id="progan-face",
                                 value=examples.file("progan", "face"))  # fmt: skip
            pg_latent = gr.File(label="Latent vector (.npy)", interactive=False)
            pl_upload = gr.File(label="Or render a saved latent vector (.npy), e.g. a search result",
                                file_types=[".npy"], elem_id="progan-latent-upload")  # fmt: skip
            pl_run = gr.Button("Render latent", elem_id="progan-render")
        with gr.Column():
            gr.Markdown("### Interpolation")
            with gr.Row():
                pi_a = gr.Number(value=0, precision=0, label="From seed")
                pi_b = gr.Number(value=1, precision=0, label="To seed")
            with gr.Row():
                pi_steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, value=150, step=1, label="Frames")
                pi_fps = gr.Slider(5, 60, value=25, step=1, label="Frames per second")
            pi_method = gr.Radio(["norm-preserving", "slerp"], value="norm-preserving", label="Path",
                                 info="norm-preserving: a straight line, each point rescaled to the start's norm; "
                                 "slerp: along the sphere")  # fmt: skip
            with gr.Accordion("From / to a saved latent (.npy) instead of a seed", open=False) as pi_saved:
                with gr.Row():
                    pi_latent_a = gr.File(label="From latent", file_types=[".npy"], elem_id="progan-from-latent")
                    pi_latent_b = gr.File(label="To latent", file_types=[".npy"], elem_id="progan-to-latent")
            pi_run = gr.Button("Animate", variant="primary", elem_id="progan-animate")
            pi_output = gr.Image(label="Animation", interactive=False, elem_id="progan-animation",
                                 value=examples.file("progan", "interpolation"))  # fmt: skip
            pi_files = gr.File(label="GIF / MP4", file_count="multiple", interactive=False)
    gr.Markdown("### Closest latent: which face of the model is nearest to a target?")
    with gr.Row():
        with gr.Column():
            pp_use_upload = gr.Checkbox(value=False, label="Use an uploaded photo (else the face of a seed)")
            pp_target = gr.Image(label="Target photo (centre-cropped)", type="filepath", image_mode=None)
            pp_seed = gr.Number(value=7, precision=0, label="Target seed")
            with gr.Row():
                pp_steps = gr.Slider(10, 2000, value=SEARCH.steps, step=10, label="Steps",
                                     elem_id="progan-search-steps")  # fmt: skip
                pp_restarts = gr.Slider(1, 64, value=SEARCH.restarts, step=1, label="Starts",
                                        elem_id="progan-restarts")  # fmt: skip
                pp_lr = gr.Slider(0.001, 0.2, value=SEARCH.lr, step=0.001, label="Adam lr")
            pp_preselect = gr.Slider(
                0, MAX_PRESELECT, value=PRESELECT, step=16,
                label="Random latents scored first (0 = off)",
                info="The starts are the best of them; all starts are optimised together in one batch.",
                elem_id="progan-preselect",
            )  # fmt: skip
            pp_run = gr.Button("Search", variant="primary", elem_id="progan-search")
        with gr.Column():
            pp_output = gr.Image(
                label="Target | result",
                format="png",
                interactive=False,
                elem_id="progan-search-output",
                value=examples.file("progan", "search"),
            )
            pp_status = gr.Markdown(examples.text("progan", "search_status"))
            pp_gif = gr.File(label="Convergence GIF", interactive=False)
            pp_npy = gr.File(label="Latent vector (.npy)", interactive=False, elem_id="progan-search-latent")
            pp_keep = gr.Button("Render this result above (a share link then carries it)", size="sm",
                                elem_id="progan-keep-result")  # fmt: skip
    share.button("progan", {
        "seed": pg_seed, "latent": pl_upload, "from": pi_a, "to": pi_b, "frames": pi_steps, "fps": pi_fps,
        "path": pi_method, "from_latent": pi_latent_a, "to_latent": pi_latent_b,
        "target_seed": pp_seed, "search_steps": pp_steps, "restarts": pp_restarts, "lr": pp_lr,
        "preselect": pp_preselect, "model": pg_model,
    })  # fmt: skip

    demo.load(availability_notice, pg_model, pg_notice, queue=False, api_visibility="private")
    pg_model.change(availability_notice, pg_model, pg_notice, queue=False, api_visibility="private")
    pg_run.click(run_progan_sample, [pg_seed, pg_model], [pg_output, pg_latent], api_name="progan_sample",
                 preprocess=False)  # fmt: skip
    pl_run.click(run_progan_render, [pl_upload, pg_model], [pg_output], api_name="progan_render", preprocess=False)
    # the search's latent becomes the "render a saved latent" input, which share links carry
    pp_keep.click(_keep_result, [pp_npy], [pl_upload], queue=False, preprocess=False, api_visibility="private").then(
        run_progan_render, [pl_upload, pg_model], [pg_output], preprocess=False, api_visibility="private"
    )  # fmt: skip
    for saved in (pi_latent_a, pi_latent_b):  # a latent end, uploaded or from a link, is never hidden
        saved.change(lambda a, b: gr.Accordion(open=True) if a or b else gr.update(), [pi_latent_a, pi_latent_b],
                     pi_saved, queue=False, preprocess=False, api_visibility="private")  # fmt: skip
    pi_run.click(run_progan_interpolate,
                 [pi_a, pi_b, pi_steps, pi_method, pi_fps, pi_latent_a, pi_latent_b, pg_model],
                 [pi_output, pi_files], api_name="progan_interpolate", preprocess=False)  # fmt: skip
    pp_run.click(run_progan_project,
                 [pp_target, pp_seed, pp_use_upload, pp_steps, pp_restarts, pp_lr, pp_preselect, pg_model],
                 [pp_output, pp_status, pp_gif, pp_npy], api_name="progan_project", preprocess=False)  # fmt: skip
