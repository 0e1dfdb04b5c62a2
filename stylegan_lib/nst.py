"""Neural style transfer by optimisation (Gatys, Ecker & Bethge, CVPR 2016).

The image itself is optimised so that its VGG19 features match the content image at
``content_layers`` and its Gram matrices match the style image(s) at ``style_layers``:

    loss = alpha * content_loss + beta * style_loss + tv_weight * TV(image)

Defaults are the source article's (alpha 1e4, beta 1e-2, TV 50, Adam lr 0.02 / beta1 0.99 /
eps 0.1, longest side 512, pixels clipped to [0, 1] after each step, init from content),
with the Caffe VGG19 whose input convention the article's Keras model used. On top:
L-BFGS, noise init, coarse-to-fine scales, luminance-only transfer (colour preservation,
Gatys et al. 2016 "Preserving Color in Neural Artistic Style Transfer"), style scale,
several style images blended by weight, a seed, and early stop through the callback.
``autocast=torch.bfloat16`` runs VGG19 in bfloat16 (precision.py): the Gram matrices, losses
and the optimised image stay float32. On CUDA the whole Adam step (VGG19 forward, losses,
backward, Adam, clip) is captured once in a CUDA graph and replayed (``cuda_graph``, cuda_graphs.py).

Tensors: images are [1, 3, H, W], RGB, range [0, 1].
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from . import losses
from .colour import luminance, match_luminance, with_content_colors
from .cuda_graphs import graphed_step
from .images import fit_shape, fit_size, resize
from .precision import check_autocast
from .vgg import VGG19Features, load_vgg19, min_input_side

# The article's Keras layers block5_conv2 and block{1..5}_conv1 include their ReLU.
CONTENT_LAYERS = ("relu5_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise")
SWEEP_RATIOS = (1e4, 1e5, 1e6, 1e7, 1e8)  # alpha / beta for style_weight_sweep; the article's default is 1e6
# The smallest side (px) of every image VGG19 sees at any scale: relu5_x sits after four 2x2 poolings.
MIN_SIDE = min_input_side((*CONTENT_LAYERS, *STYLE_LAYERS))  # 16


@dataclass
class NSTProgress:
    step: int  # 1-based, counted over all scales
    total_steps: int
    scale: int  # 0-based index of the current scale
    num_scales: int
    size: tuple[int, int]  # (H, W) of the current scale
    loss: float
    content_loss: float  # unweighted
    style_loss: float  # unweighted
    tv_loss: float  # unweighted
    image: torch.Tensor  # [1, 3, H, W] in [0, 1], detached: the result so far


Callback = Callable[[NSTProgress], "bool | None"]  # return True to stop early


class _Stop(Exception):
    pass


def scale_sides(*, size: int, num_scales: int, scale_ratio: float) -> list[int]:
    """The longest side (px) per scale, coarse to fine; the last is ``size``."""
    if size < MIN_SIDE:
        raise ValueError(f"size must be at least {MIN_SIDE} pixels, got {size}")
    if num_scales < 1:
        raise ValueError(f"num_scales must be >= 1, got {num_scales}")
    return [max(MIN_SIDE, round(size / scale_ratio**i)) for i in reversed(range(num_scales))]


def scale_sizes(height: int, width: int, *, size: int, num_scales: int, scale_ratio: float) -> list[tuple[int, int]]:
    """(H, W) per scale, coarse to fine; the last has longest side ``size``, aspect kept."""
    sides = scale_sides(size=size, num_scales=num_scales, scale_ratio=scale_ratio)
    return [fit_shape(height, width, side) for side in sides]


def style_sides(sides: Sequence[int], *, style_scale: float) -> list[int]:
    """The style images' longest side (px) per scale: ``style_scale`` times the content's ``sides``."""
    return [max(MIN_SIDE, round(style_scale * side)) for side in sides]


def check_sides(
    what: str,
    height: int,
    width: int,
    sides: Sequence[int],
    *,
    min_side: int = MIN_SIDE,
    fixes: Sequence[str] = (),
) -> None:
    """Raise a ValueError a user can act on if the image would have a side under ``min_side``.

    ``what`` names the image ("content", "style") of shape [H, W] = ``height``, ``width``;
    ``sides`` are the longest sides it is resized to, one per scale, coarse to fine (as
    :func:`scale_sides`). ``fixes`` are remedies to suggest besides the size and the number
    of scales (e.g. "a larger style scale").
    """
    for scale, side in enumerate(sides):
        h, w = fit_shape(height, width, side)
        if min(h, w) >= min_side:
            continue
        coarse = scale < len(sides) - 1  # a finer scale would do: fewer scales help
        remedies = ", ".join(["a larger size", *(["fewer scales"] if coarse else []), *fixes])
        raise ValueError(
            f"{what.capitalize()} image: its shape ({width}×{height}) is too small or its aspect ratio too extreme: "
            f"at scale {scale + 1}/{len(sides)} (longest side {side} px) it would be {w}×{h} px, and style transfer "
            f"needs at least {min_side} px on each side (VGG19), which at this aspect ratio takes a longest side of "
            f"at least {_side_for(height, width, min_side)} px. Use {remedies}, or crop it to a less extreme "
            "aspect ratio."
        )


def features(
    vgg: VGG19Features, image: torch.Tensor, layers: Sequence[str], *, autocast: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """``vgg(image, layers)``, VGG19 under ``autocast`` when given (:meth:`VGG19Features.forward`); the
    features come back in ``image``'s dtype, so the Gram matrices and losses accumulate in it."""
    return vgg(image, layers) if autocast is None else vgg(image, layers, autocast=autocast)


def _style_targets(
    vgg: VGG19Features,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    layers: Sequence[str],
    autocast: torch.dtype | None,
) -> list[torch.Tensor]:
    # The Gram matrices of a weighted blend of styles: minimising the MSE to the blend is the
    # same as minimising the blend-weighted sum of MSEs to each style's Grams.
    targets = [0.0] * len(layers)
    for style, weight in zip(styles, blend, strict=True):
        feats = features(vgg, style, layers, autocast=autocast)
        for i, name in enumerate(layers):
            targets[i] = targets[i] + weight * losses.gram_matrix(feats[name])
    return targets


def stylize(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    *,
    content_weight: float = 1e4,
    style_weight: float = 1e-2,
    tv_weight: float = 50.0,
    steps: int = 1000,
    optimizer: str = "adam",
    lr: float | None = None,
    size: int = 512,
    num_scales: int = 1,
    scale_ratio: float = math.sqrt(2.0),
    style_scale: float = 1.0,
    style_blend: Sequence[float] | None = None,
    init: str = "content",
    preserve_colors: bool = False,
    content_layers: Sequence[str] = CONTENT_LAYERS,
    style_layers: Sequence[str] = STYLE_LAYERS,
    weights: str = "caffe",
    pooling: str = "max",
    vgg: VGG19Features | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    autocast: torch.dtype | None = None,
    cuda_graph: bool | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Stylise ``content`` [1, 3, H, W] in [0, 1] with ``style`` (one image or several).

    ``steps`` optimiser steps run at each of ``num_scales`` scales (coarse to fine by
    ``scale_ratio``; the finest has longest side ``size``). ``style_scale`` sizes the style
    image relative to the current content size; ``style_blend`` weights several styles.
    ``lr`` defaults to 0.02 for Adam and 1.0 for L-BFGS. ``vgg`` overrides ``weights`` /
    ``pooling``. ``callback`` gets an :class:`NSTProgress` after every step and may return
    True to stop early; the result so far is returned. Returns [1, 3, h, w] in [0, 1].
    ``autocast`` (precision.py; e.g. ``torch.bfloat16``): VGG19 runs under torch.autocast in
    that dtype; Gram matrices, losses, the image and Adam's state stay in ``dtype``.

    ``cuda_graph`` (default: on for a CUDA ``device`` with Adam and one scale): each scale's Adam
    step (VGG19 forward, losses, backward to the image, Adam, the clip to [0, 1]) is captured once
    in a CUDA graph after three warm-up steps and replayed (cuda_graphs.py), which removes the
    launch overhead of VGG19's kernels. It is the eager loop's computation; results differ only
    by floating point (Adam's capturable arithmetic; cuDNN may choose other algorithms). With
    ``num_scales`` > 1, True captures a graph per scale (default off: each capture costs three
    extra steps). L-BFGS always runs eagerly: its line search and convergence tests read values
    on the host and its history grows step by step, so no fixed graph replays it; True with
    L-BFGS or off CUDA is a ValueError. Without a callback the loop never waits for the GPU
    until the end.
    """
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    _check_inputs(content, styles, optimizer=optimizer, init=init, steps=steps, style_scale=style_scale)
    check_autocast(autocast, dtype)
    use_graph = _use_cuda_graph(cuda_graph, device=device, optimizer=optimizer, num_scales=num_scales)
    blend = _normalised_blend(style_blend, len(styles))
    sides = scale_sides(size=size, num_scales=num_scales, scale_ratio=scale_ratio)
    sizes = [fit_size(content, side) for side in sides]  # as scale_sizes
    styles_sides = style_sides(sides, style_scale=style_scale)
    _check_all_sides(content, styles, sides, styles_sides, min_side=min_input_side((*content_layers, *style_layers)))
    if vgg is None:
        vgg = load_vgg19(weights, pooling=pooling, device=device, dtype=dtype)
    content = content.to(device=device, dtype=dtype)
    styles = [s.to(device=device, dtype=dtype) for s in styles]
    generator = torch.Generator(device=content.device).manual_seed(seed)

    reporter = _Reporter(callback, steps * len(sizes), len(sizes), content, preserve_colors)
    result = None  # [1, C, h, w]: RGB, or 3 copies of Y when preserving colours
    for scale, ((h, w), style_side) in enumerate(zip(sizes, styles_sides, strict=True)):
        target = resize(content, (h, w))
        scaled_styles = [resize(s, fit_size(s, style_side)) for s in styles]
        if preserve_colors:
            target_y = luminance(target)
            target = target_y.expand(-1, 3, -1, -1)
            scaled_styles = [match_luminance(luminance(s), target_y).expand(-1, 3, -1, -1) for s in scaled_styles]
        with torch.no_grad():
            feats = features(vgg, target, content_layers, autocast=autocast)
            content_targets = [feats[name] for name in content_layers]
            style_targets = _style_targets(vgg, scaled_styles, blend, style_layers, autocast)
            del feats, scaled_styles

        if result is not None:
            start = resize(result, (h, w))
        elif init == "content":
            start = target
        else:
            start = torch.rand(target.shape, generator=generator, device=target.device, dtype=dtype)
            if preserve_colors:
                start = start[:, :1].expand(-1, 3, -1, -1)
        image = start.detach().clone().contiguous().requires_grad_(True)
        objective = _Objective(vgg, content_layers, style_layers, content_targets, style_targets,
                               content_weight, style_weight, tv_weight, autocast)  # fmt: skip
        report = functools.partial(reporter, image, scale, (h, w))
        run = functools.partial(_run_adam, cuda_graph=use_graph) if optimizer == "adam" else _run_lbfgs
        try:
            run(image, objective, report, steps=steps, lr=lr)
        except _Stop:
            return with_content_colors(image.detach().clamp(0, 1), content, preserve_colors)
        result = image.detach().clamp(0, 1)
    return with_content_colors(result, content, preserve_colors)


def loss_at(
    image: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    vgg: VGG19Features,
    style_side: int,
    content_weight: float = 1e4,
    style_weight: float = 1e-2,
    tv_weight: float = 50.0,
    autocast: torch.dtype | None = None,
) -> float:
    """:func:`stylize`'s objective (default layers) at ``image`` [1, 3, h, w]: ``content`` resized to
    (h, w), one ``style`` at longest side ``style_side``. Judges results of different runs (e.g.
    float32 against bfloat16) by one measure."""
    target = resize(content.to(image.dtype), tuple(image.shape[-2:]))
    with torch.no_grad():
        content_targets = [features(vgg, target, CONTENT_LAYERS, autocast=autocast)[n] for n in CONTENT_LAYERS]
        style_image = resize(style.to(image.dtype), fit_size(style, style_side))
        style_targets = _style_targets(vgg, [style_image], [1.0], STYLE_LAYERS, autocast)
        objective = _Objective(vgg, CONTENT_LAYERS, STYLE_LAYERS, content_targets, style_targets,
                               content_weight, style_weight, tv_weight, autocast)  # fmt: skip
        return objective(image)[0].item()


@dataclass
class _Objective:
    """alpha * content + beta * style + tv_weight * TV of an image, with its parts."""

    vgg: VGG19Features
    content_layers: Sequence[str]
    style_layers: Sequence[str]
    content_targets: list[torch.Tensor]
    style_targets: list[torch.Tensor]
    content_weight: float
    style_weight: float
    tv_weight: float
    autocast: torch.dtype | None = None  # VGG19 only; the losses accumulate in the image's dtype

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        feats = features(self.vgg, image, (*self.content_layers, *self.style_layers), autocast=self.autocast)
        c = losses.content_loss([feats[n] for n in self.content_layers], self.content_targets)
        s = losses.style_loss([losses.gram_matrix(feats[n]) for n in self.style_layers], self.style_targets)
        tv = losses.tv_loss(image)
        loss = self.content_weight * c + self.style_weight * s + self.tv_weight * tv
        return loss, (c.detach(), s.detach(), tv.detach())


@dataclass
class _Reporter:
    """Counts steps over all scales and hands an NSTProgress to the user's callback."""

    callback: Callback | None
    total: int
    num_scales: int
    content: torch.Tensor
    preserve_colors: bool
    step: int = 0

    def __call__(self, image, scale, size, loss, parts) -> None:
        self.step += 1
        if self.callback is None:
            return
        # copies, read now: a CUDA graph's next replay overwrites the image and the loss tensors in place
        current = with_content_colors(image.detach().clamp(0, 1), self.content, self.preserve_colors)
        values = [float(v) for v in (loss.detach(), *parts)]  # one device sync per reported step
        if self.callback(NSTProgress(self.step, self.total, scale, self.num_scales, size, *values, current)):
            raise _Stop


def _use_cuda_graph(cuda_graph: bool | None, *, device: torch.device | str, optimizer: str, num_scales: int) -> bool:
    """Whether :func:`stylize` replays its Adam step as a CUDA graph; ValueError for a True it cannot honour."""
    on_cuda = torch.device(device).type == "cuda"
    if cuda_graph is None:
        return on_cuda and optimizer == "adam" and num_scales == 1
    if cuda_graph and optimizer != "adam":
        raise ValueError(
            f"cuda_graph=True needs optimizer='adam', got {optimizer!r}: L-BFGS's line search reads values on the "
            "host, so its steps cannot be captured in a CUDA graph"
        )
    if cuda_graph and not on_cuda:
        raise ValueError(f"cuda_graph=True needs a CUDA device, got device={str(device)!r}")
    return bool(cuda_graph)


def _adam(image: torch.Tensor, lr: float | None, *, capturable: bool = False) -> torch.optim.Adam:
    """The source article's Adam (lr 0.02, beta1 0.99, eps 0.1) over the image; ``capturable``:
    its step count on the device, as a CUDA graph needs."""
    return torch.optim.Adam([image], lr=0.02 if lr is None else lr, betas=(0.99, 0.999), eps=0.1, capturable=capturable)


def _adam_step(image: torch.Tensor, objective: _Objective, opt: torch.optim.Optimizer) -> Callable[[], tuple]:
    """One Adam step as a function of static tensors, run as it is by the eager loop and captured
    by a CUDA graph: the objective at the image, backward, Adam, the clip to [0, 1] in place.
    Returns the loss and its three parts (unweighted) at the image before the step."""

    def step() -> tuple[torch.Tensor, ...]:
        opt.zero_grad(set_to_none=False)  # one gradient tensor, overwritten: the same numbers as a fresh one
        loss, parts = objective(image)
        loss.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        return loss.detach(), *parts

    return step


def _run_adam(image, objective, report, *, steps: int, lr: float | None, cuda_graph: bool = False) -> None:
    opt = _adam(image, lr, capturable=cuda_graph)
    step = _adam_step(image, objective, opt)
    advance = graphed_step(step, image, opt) if cuda_graph else step
    for _ in range(steps):
        loss, *parts = advance()
        report(loss, parts)


def _run_lbfgs(image, objective, report, *, steps: int, lr: float | None, chunk: int = 20) -> None:
    # L-BFGS cannot clip inside its iterations; clip between chunks of `chunk` iterations.
    opt = torch.optim.LBFGS(
        [image], lr=1.0 if lr is None else lr, max_iter=chunk, history_size=100, tolerance_grad=-1, tolerance_change=-1
    )
    done = 0

    def closure():
        nonlocal done
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(image)
        loss.backward()
        done += 1
        report(loss, parts)
        return loss

    while done < steps:
        opt.param_groups[0]["max_iter"] = min(chunk, steps - done)
        opt.param_groups[0]["max_eval"] = min(chunk, steps - done)
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)


def _normalised_blend(blend: Sequence[float] | None, count: int) -> list[float]:
    if blend is None:
        return [1.0 / count] * count
    if len(blend) != count or any(b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(f"style_blend needs {count} non-negative weights with a positive sum, got {list(blend)}")
    total = float(sum(blend))
    return [b / total for b in blend]


def _side_for(height: int, width: int, min_side: int) -> int:
    # The smallest longest side at which an image of shape [H, W] keeps both sides >= min_side.
    side = max(min_side, math.floor((min_side - 0.5) * max(height, width) / min(height, width)))
    while min(fit_shape(height, width, side)) < min_side:
        side += 1
    return side


def _check_all_sides(content, styles, sides, styles_sides, *, min_side: int) -> None:
    # Every image VGG19 will see, at every scale, before any VGG work: a clear error, not torch's.
    check_sides("content", *content.shape[-2:], sides, min_side=min_side)
    for i, s in enumerate(styles):
        what = "style" if len(styles) == 1 else f"style {i + 1}"
        check_sides(what, *s.shape[-2:], styles_sides, min_side=min_side, fixes=("a larger style scale",))


def _check_inputs(content, styles, *, optimizer: str, init: str, steps: int, style_scale: float) -> None:
    for what, t in [("content", content)] + [("style", s) for s in styles]:
        if t.ndim != 4 or t.shape[:2] != (1, 3):
            raise ValueError(f"{what} must be a [1, 3, H, W] RGB tensor, got shape {tuple(t.shape)}")
    if not styles:
        raise ValueError("at least one style image is needed")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if style_scale <= 0:
        raise ValueError(f"style_scale must be positive, got {style_scale}")


def style_weight_sweep(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    *,
    ratios: Sequence[float] = SWEEP_RATIOS,
    content_weight: float = 1e4,
    **kwargs,
) -> Iterator[tuple[float, torch.Tensor]]:
    """(ratio, result) for each content/style ratio alpha/beta (Gatys et al.'s content/style trade-off figure).

    alpha stays ``content_weight``; beta = alpha / ratio. Other keyword arguments go to
    :func:`stylize`. The article's default, 1e4 / 1e-2, is the ratio 1e6. Results are computed
    lazily, one per iteration, so a caller can show each as it finishes and stop early.
    """
    for ratio in ratios:
        beta = content_weight / ratio
        yield ratio, stylize(content, style, content_weight=content_weight, style_weight=beta, **kwargs)
