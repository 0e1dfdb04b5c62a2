"""Latent-space tools for a noise -> image generator (ProGAN): interpolation, closest-latent search, export.

Works with any ``G(z, *, stage=None) -> [N, 3, R, R]`` in [-1, 1] that has a ``z_dim`` attribute
(:class:`stylegan_lib.progan.Generator`, :class:`stylegan_lib.progan.DCGANGenerator`).

Tensors: latents ``[z_dim]`` or ``[T, z_dim]``; images ``[N, 3, R, R]`` (or ``[3, R, R]``), RGB,
range [0, 1], the library convention.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from .cuda_graphs import graphed_step
from .files import atomic_write
from .images import pil_to_tensor, tensor_to_pil
from .precision import autocast_context, check_autocast
from .progan import sample_latents

# ----------------------------------------------------------------------------- interpolation


def as_vector(v: torch.Tensor, name: str) -> torch.Tensor:
    """A latent [z_dim] or [1, z_dim] -> [z_dim]; ValueError naming ``name`` for another shape or a non-float dtype."""
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 1 or not v.is_floating_point():
        raise ValueError(f"{name} must be a float latent [z_dim] or [1, z_dim], got {v.dtype} {list(v.shape)}")
    return v


def norm_preserving_interpolation(v1: torch.Tensor, v2: torch.Tensor, *, num_steps: int = 150) -> torch.Tensor:
    """The ProGAN article's path: rescale v2 to |v1|, interpolate linearly, renormalise each point to |v1|.

    Returns ``[num_steps, z_dim]``: row 0 is v1, the last row is v2 rescaled to |v1|; every row has
    norm |v1| (computed in float64, returned in v1's dtype).
    """
    v1, v2 = as_vector(v1, "v1"), as_vector(v2, "v2")
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2, got {num_steps}")
    a, b = v1.double(), v2.double()
    norm = a.norm()
    if norm == 0 or b.norm() == 0:
        raise ValueError("v1 and v2 must be non-zero latents")
    b = b * (norm / b.norm())
    t = torch.linspace(0, 1, num_steps, dtype=torch.float64, device=a.device)[:, None]  # [T, 1]
    path = torch.lerp(a, b, t)  # [T, z_dim]
    lengths = path.norm(dim=1, keepdim=True)
    if (lengths < 1e-6 * norm).any():
        raise ValueError("v1 and v2 point in opposite directions: the straight path passes through 0")
    path = path * (norm / lengths)
    path[0], path[-1] = a, b
    return path.to(v1.dtype)


def slerp(v1: torch.Tensor, v2: torch.Tensor, *, num_steps: int = 150) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs): [num_steps, z_dim], v1 first, v2 last."""
    v1, v2 = as_vector(v1, "v1"), as_vector(v2, "v2")
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2, got {num_steps}")
    a, b = v1.double(), v2.double()
    t = torch.linspace(0, 1, num_steps, dtype=torch.float64, device=a.device)[:, None]  # [T, 1]
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.sin() < 1e-6:  # (anti)parallel: the great circle is undefined; fall back to a straight line
        path = torch.lerp(a, b, t)
    else:
        path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / omega.sin()
    path[0], path[-1] = a, b
    return path.to(v1.dtype)


@torch.inference_mode()
def render_frames(G: nn.Module, latents: torch.Tensor, *, batch: int = 32, stage: int | None = None) -> torch.Tensor:
    """[T, z_dim] -> [T, 3, R, R] in [0, 1], rendered ``batch`` latents at a time on G's device."""
    device = next(G.parameters()).device
    frames = [G(z.to(device), stage=stage).add(1).div(2).clamp(0, 1) for z in latents.split(batch)]
    return torch.cat(frames)


# ----------------------------------------------------------------------------- closest latent


@dataclass
class SearchProgress:
    step: int  # optimiser steps taken so far
    steps: int
    loss: float  # the current best candidate's loss
    psnr: float  # the current best candidate's PSNR against the target, dB
    frame: torch.Tensor  # [3, R, R] in [0, 1], the current best candidate's image


@dataclass
class SearchResult:
    latent: torch.Tensor  # [z_dim]
    image: torch.Tensor  # [3, R, R] in [0, 1]
    psnr: float  # dB against the target
    loss: float
    frames: list[torch.Tensor] = field(default_factory=list)  # [3, R, R] each, every frame_every steps
    losses: list[float] = field(default_factory=list)  # per step, the then-best candidate's loss


@dataclass(frozen=True)
class SearchSettings:
    """Settings of :func:`closest_latent` for the shipped face model, as the app, the CLI and the
    model card's figures use them (lr 0.05 and the best 8 of 256 scored starts reach the issue's
    30 dB mean on generated targets in 200 steps; BENCHMARKS.md has the sweeps behind them).
    ``closest_latent``'s own defaults are the ProGAN article's: lr 0.01, one random start."""

    steps: int = 200
    lr: float = 0.05
    restarts: int = 8
    preselect: int = 256  # random latents scored with forward passes; the starts are the best of them


FACE_SEARCH = SearchSettings()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]: 10 log10(1 / MSE); inf when equal."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {list(a.shape)} vs {list(b.shape)}")
    mse = (a.detach().double() - b.detach().double()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def closest_latent(
    G: nn.Module,
    target: torch.Tensor,
    *,
    steps: int = 200,
    lr: float = 0.01,
    restarts: int = 1,
    frame_every: int = 5,
    seed: int = 0,
    init: torch.Tensor | None = None,
    preselect: int = 0,
    callback: Callable[[SearchProgress], bool | None] | None = None,
    cuda_graph: bool | None = None,
    autocast: torch.dtype | None = None,
) -> SearchResult:
    """The latent whose image is closest to ``target`` ([1, 3, R, R] or [3, R, R] in [0, 1]).

    The ProGAN article's objective per candidate z: ``sum |img(z) - target| + | |z| - sqrt(z_dim) |`` where
    img(z) = (G(z) + 1) / 2 clamped to [0, 1], i.e. the L1 sum is taken in the [0, 1] image range.
    ``restarts`` random starts (from ``seed``, or the rows of ``init`` [K, z_dim]) are optimised
    together in one batch with Adam(lr): the loss is summed over candidates, so each gets exactly
    its own gradient, and Adam, being element-wise, moves each as if alone. The candidate with the
    lowest final loss wins.

    ``preselect`` > ``restarts``: draw that many random latents (from ``seed``), score each with
    the same objective in forward passes only, and start from the ``restarts`` best of them.
    Finding the right basin is what limits this non-convex search (from a start near the
    answer 200 steps reach far higher PSNR than from a random one); forward passes cost about a
    third of a search step per latent, so this widens the search cheaply.

    A frame of the current best candidate is kept at steps 0, frame_every, 2 * frame_every, ...,
    ``steps`` (the initial frame included: ``steps // frame_every + 1`` frames). ``losses[i]`` is the
    best candidate's loss after i steps (``steps + 1`` values). ``callback(SearchProgress)`` runs
    after every evaluation; returning True stops the search early. G is frozen (requires_grad
    False) and put in eval mode during the search; both are restored afterwards.

    ``cuda_graph`` (default: on for CUDA): one search step (G forward, backward to z, Adam) is
    captured once in a CUDA graph and replayed, which removes the per-step launch overhead of
    G's many small kernels. It is the eager loop's computation; results differ only by floating
    point (cuDNN may choose other convolution algorithms inside a graph), which 200 steps of this
    non-convex search can amplify into a different latent of similar PSNR. Without a callback
    the loop never waits for the GPU until the end.

    ``autocast`` (precision.py; e.g. ``torch.bfloat16``): G runs under ``torch.autocast`` in that dtype (its
    convolutions on the tensor cores at half the bytes); z, Adam, the objective and the kept
    images stay in G's own dtype. None (the default): G runs in its own dtype. The returned image
    and PSNR are the winning latent rendered in G's own dtype, so a saved latent renders it again.
    """
    if target.ndim == 3:
        target = target[None]
    if target.ndim != 4 or target.shape[:2] != (1, 3):
        raise ValueError(f"target must be an image [1, 3, R, R] or [3, R, R], got {list(target.shape)}")
    if steps < 0 or restarts < 1 or frame_every < 1:
        raise ValueError("steps must be >= 0, restarts and frame_every >= 1")
    param = next(G.parameters())
    target = target.detach().to(device=param.device, dtype=param.dtype)
    z_dim = G.z_dim
    if preselect and (init is not None or preselect < restarts):
        raise ValueError(f"preselect must be >= restarts ({restarts}) and cannot be combined with init")
    check_autocast(autocast, param.dtype)
    if init is None:
        z = sample_latents(max(restarts, preselect), z_dim=z_dim, seed=seed, device=param.device, dtype=param.dtype)
        if preselect:
            z = _best_starts(G, target, z, keep=restarts, autocast=autocast)
    elif init.ndim != 2 or init.shape[1] != z_dim or restarts not in (1, init.shape[0]):
        raise ValueError(f"init must be [restarts, {z_dim}] starting latents, got {list(init.shape)}")
    else:
        z = init.detach().to(device=param.device, dtype=param.dtype).clone()
    use_graph = param.device.type == "cuda" if cuda_graph is None else cuda_graph
    if use_graph and param.device.type != "cuda":
        raise ValueError("cuda_graph=True needs G on a CUDA device")
    z.requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr, capturable=use_graph)

    def evaluate() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # at the current z: (per-candidate loss [K], best loss [], best image [3, R, R], best z [z_dim])
        image = _render(G, z, autocast)  # [K, 3, R, R]
        loss = _objective(image, target, z)  # [K]
        best_loss, best = loss.min(dim=0)
        best = best.view(1)  # index_select copies, and (unlike indexing with a 0-dim tensor) never syncs
        return loss, best_loss.detach(), image.detach().index_select(0, best)[0], z.detach().index_select(0, best)[0]

    def step() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # evaluate at z, then one Adam step; returns the evaluation's best (loss, image, z)
        loss, *best = evaluate()
        optimizer.zero_grad(set_to_none=False)
        loss.sum().backward()
        optimizer.step()
        return tuple(best)

    requires_grad = [p.requires_grad for p in G.parameters()]
    training = G.training
    G.requires_grad_(False).eval()
    frames: list[torch.Tensor] = []
    loss_buf = torch.empty(steps + 1, device=param.device, dtype=param.dtype)  # read once at the end
    try:
        with torch.no_grad():
            image = G(z[:1])
        if image.shape[1:] != target.shape[1:]:
            raise ValueError(
                f"target is {list(target.shape[1:])} but G makes {list(image.shape[1:])}: "
                "use prepare_target(image, resolution=...)"
            )
        advance = graphed_step(step, z, optimizer) if use_graph and steps > 0 else step
        done = steps
        for i in range(steps + 1):
            if i < steps:
                best_loss, best_image, best_z = advance()  # z_i's best; z is now z_{i+1}
            else:
                with torch.no_grad():
                    best_loss, best_image, best_z = evaluate()[1:]
            loss_buf[i] = best_loss
            if i % frame_every == 0:
                frames.append(best_image.clone())
            if callback is not None:
                progress = SearchProgress(i, steps, best_loss.item(), psnr(best_image, target[0]), best_image.clone())
                if callback(progress) is True:
                    done = i
                    break
        best_image, best_z = best_image.clone(), best_z.clone()  # graph outputs are overwritten by a replay
        if autocast is not None:  # the result is the latent's own image: what rendering it again gives
            with torch.no_grad():
                best_image = _render(G, best_z[None], None)[0]
    finally:
        for p, flag in zip(G.parameters(), requires_grad, strict=True):
            p.requires_grad_(flag)
        G.train(training)

    losses = loss_buf[: done + 1].tolist()
    return SearchResult(
        latent=best_z,
        image=best_image,
        psnr=psnr(best_image, target[0]),
        loss=losses[-1],
        frames=frames,
        losses=losses,
    )


@torch.no_grad()
def _best_starts(
    G: nn.Module, target: torch.Tensor, z: torch.Tensor, *, keep: int, batch: int = 64, autocast: torch.dtype | None
) -> torch.Tensor:
    """The ``keep`` rows of ``z`` [N, z_dim] with the lowest search objective against ``target``."""
    training = G.training
    G.eval()
    try:
        losses = torch.cat([_objective(_render(G, c, autocast), target, c) for c in z.split(batch)])  # [N]
    finally:
        G.train(training)
    return z.index_select(0, losses.argsort()[:keep]).clone()


def _render(G: nn.Module, z: torch.Tensor, autocast: torch.dtype | None) -> torch.Tensor:
    """[K, z_dim] -> G's images [K, 3, R, R] in [0, 1], in z's dtype; G under torch.autocast when given."""
    # no cast cache: each weight is cast once per call anyway, and a cache must not outlive a CUDA-graph capture
    with autocast_context(z.device, autocast, cache=False):
        image = G(z)
    return image.to(z.dtype).add(1).div(2).clamp(0, 1)


def _objective(image: torch.Tensor, target: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The ProGAN article's loss per candidate: L1 sum in [0, 1] plus | |z| - sqrt(z_dim) |: [K]."""
    return (image - target).abs().flatten(1).sum(1) + (z.norm(dim=1) - math.sqrt(z.shape[1])).abs()


def prepare_target(
    image: Image.Image, *, resolution: int, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """PIL image -> [1, 3, R, R] in [0, 1]: centre crop to a square, then Lanczos resize to R x R."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"Expected a PIL image, got {type(image).__name__}; use images.open_image() first.")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return pil_to_tensor(square.resize((resolution, resolution), Image.LANCZOS), device=device, dtype=dtype)


# ----------------------------------------------------------------------------- export


def _frames_to_pil(frames: torch.Tensor | Sequence[torch.Tensor]) -> list[Image.Image]:
    if len(frames) == 0:
        raise ValueError("no frames to write")
    return [tensor_to_pil(f) for f in frames]  # each [3, R, R] in [0, 1]


def _target_path(path, suffix: str) -> Path:
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"expected a path ending in {suffix}, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_gif(frames: torch.Tensor | Sequence[torch.Tensor], path: str | os.PathLike, *, fps: float = 25) -> Path:
    """Frames ([T, 3, R, R] or a list of [3, R, R], in [0, 1]) -> looping GIF; returns the path.

    GIF stores durations in 1/100 s, so fps is rounded to that grid; Pillow merges identical
    consecutive frames into one longer frame.
    """
    path = _target_path(path, ".gif")
    images = _frames_to_pil(frames)
    return atomic_write(
        path,
        lambda tmp: images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
        ),
    )


def save_mp4(frames: torch.Tensor | Sequence[torch.Tensor], path: str | os.PathLike, *, fps: float = 25) -> Path:
    """Frames -> H.264 MP4 through imageio + imageio-ffmpeg (optional dependencies); returns the path."""
    missing = [name for name in ("imageio", "imageio_ffmpeg") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            f"MP4 export needs {' and '.join(missing)}: run `pip install imageio imageio-ffmpeg`, or use save_gif."
        )
    import imageio.v2 as imageio

    path = _target_path(path, ".mp4")
    arrays = [np.asarray(img) for img in _frames_to_pil(frames)]  # (H, W, 3) uint8 each
    imageio.mimwrite(path, arrays, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1)
    return path


def save_latent(latent: torch.Tensor, path: str | os.PathLike) -> Path:
    """[z_dim] -> .npy (float32); returns the path written."""
    path = Path(path)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")  # what numpy.save would write anyway
    vector = as_vector(latent, "latent").detach().cpu().float().numpy()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
            np.save(f, vector)

    return atomic_write(path, write)


MAX_LATENT_DIM = 4096  # a latent vector has at most this many values (load_latent, share links)


def load_latent(path: str | os.PathLike, *, z_dim: int | None = None) -> torch.Tensor:
    """A latent saved by save_latent -> [z_dim] float32; checks the shape (and z_dim when given).

    Anything else (a corrupt or pickled file, a zip or .npz archive, an array of another shape
    or more than MAX_LATENT_DIM values, values that are not finite, a zero vector) raises
    ValueError naming the file. Only the header is read before the shape is checked, so a huge
    upload costs no memory.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if magic.startswith(b"PK"):  # np.load would open it as an .npz archive (a zip file)
        raise ValueError(f"{path} is a zip archive (.npz or other), not a .npy latent vector")
    if magic != b"\x93NUMPY":
        what = "is empty" if not magic else "does not start like a .npy file"
        raise ValueError(f"{path} is not a .npy latent vector (it {what})")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, struct/zip errors...
        raise ValueError(f"{path} is not a .npy latent vector ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):  # np.load returns an NpzFile only for archives, refused above
        raise ValueError(f"{path} is an archive of arrays, not a .npy latent vector")
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path} does not hold a latent vector: got {array.dtype} with shape {array.shape}")
    if z_dim is None and array.shape[0] > MAX_LATENT_DIM:  # read into memory below only when latent-sized
        raise ValueError(f"{path} holds {array.shape[0]:,} values; a latent vector has at most {MAX_LATENT_DIM:,}")
    return checked_latent(array, str(path), z_dim=z_dim)


def checked_latent(array: np.ndarray, where: str, *, z_dim: int | None) -> torch.Tensor:
    """A 1-d float array -> [z_dim] float32 tensor, or ValueError (naming ``where``) for another size,
    non-finite values or a zero vector."""
    if z_dim is not None and array.shape[0] != z_dim:
        raise ValueError(f"{where} holds a latent of size {array.shape[0]}, the model expects {z_dim}")
    z = np.array(array, dtype=np.float32)  # read now, into memory
    if not np.isfinite(z).all() or not z.any():
        raise ValueError(f"{where} holds a latent with non-finite values or only zeros")
    return torch.from_numpy(z)
