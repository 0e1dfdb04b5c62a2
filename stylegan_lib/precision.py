"""Reduced-precision inference: the ``autocast`` keyword, meaning the same in every algorithm.

Every inference function that runs a network (Gatys ``nst.stylize``, ``translate.translate_image``
and ``tiling.translate_hd``, ``latent.closest_latent``) takes ``autocast: torch.dtype | None``:

* ``None`` (the library's default): the network runs in its own dtype (float32 as shipped), the
  reference result.
* ``torch.bfloat16`` (or ``torch.float16`` on CUDA): the network runs under
  ``torch.autocast(device.type, dtype=autocast)``: its convolutions and matrix products take
  bfloat16 inputs (AMX tiles on recent Xeon CPUs, tensor cores on CUDA) with float32
  accumulation inside each product. Activations are channels_last, the layout oneDNN's and
  cuDNN's bfloat16 convolutions are fastest in. Everything the algorithm itself accumulates or
  optimises stays in the caller's ``dtype``: losses and Gram matrices, the optimised image or
  latent, Adam's state, instance-norm statistics recorded for tiles, and every returned
  image. The weights are never converted (autocast casts them per call), so one cached float32
  model serves both precisions.

Whether a method's reduced-precision result holds is measured per method against float32
(tests/test_precision.py, BENCHMARKS.md "CPU bfloat16"). The app picks :func:`fast_autocast`
for its device; the CLI takes ``--autocast {none,bfloat16,float16}`` (:data:`AUTOCAST_NAMES`).

Training has the same split. Every trainer's ``bf16`` option (siamese_train, cyclegan_train,
adain_train, progan_train; off by default) means :func:`training_autocast`: the forward passes
and losses of each step, and the sample grids, run under bfloat16 autocast on the run's device
(CUDA, or a CPU with AMX), with every network the step runs, trainable or frozen, channels_last
(:func:`training_channels_last`; CUDA uses that layout in float32 too). Weights, gradients,
optimiser moments, G_ema, history pools, the run state and what ships stay float32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import torch

AUTOCAST_NAMES: dict[str, torch.dtype | None] = {"none": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_autocast(autocast: torch.dtype | None, dtype: torch.dtype = torch.float32) -> None:
    """Raise ValueError unless ``autocast`` is None or a float dtype narrower than ``dtype``."""
    if autocast is None:
        return
    if not isinstance(autocast, torch.dtype) or not autocast.is_floating_point or autocast.itemsize >= dtype.itemsize:
        raise ValueError(f"autocast must be None or a float dtype narrower than {dtype}, got {autocast!r}")


def autocast_context(device: torch.device | str, autocast: torch.dtype | None, *, cache: bool = True):
    """``torch.autocast`` for ``device``'s type in ``autocast``; a no-op context for None.

    ``cache=False`` casts the weights afresh on every call (needed inside CUDA-graph captures).
    """
    if autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=autocast, cache_enabled=cache)


def to_channels_last(x: torch.Tensor, autocast: torch.dtype | None) -> torch.Tensor:
    """``x`` [N, C, H, W] in channels_last under reduced precision (the fast layout there), else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if autocast is not None and x.ndim == 4 else x


def with_autocast(fn: Callable[..., torch.Tensor], *, device: torch.device | str, autocast: torch.dtype | None):
    """``fn`` (a generator network: [N, C, H, W] -> [N, C, H, W]) run under ``autocast``.

    The input goes in channels_last; the output comes back in the input's dtype (still
    channels_last, which the (H, W, 3) conversions after it prefer). None returns ``fn`` itself.
    """
    if autocast is None:
        return fn

    @functools.wraps(fn)
    def run(x: torch.Tensor, **kwargs) -> torch.Tensor:
        with autocast_context(device, autocast):
            y = fn(to_channels_last(x, autocast), **kwargs)
        return y.to(x.dtype) if isinstance(y, torch.Tensor) else y  # kept channels_last: HWC-friendly

    return run


def training_autocast(device: torch.device | str, bf16: bool) -> torch.dtype | None:
    """The autocast dtype of a trainer's ``bf16`` option on ``device``: bfloat16, or None when off.
    ValueError on a device other than CUDA or the CPU (no bfloat16 autocast to rely on there)."""
    if not bf16:
        return None
    if torch.device(device).type not in ("cuda", "cpu"):
        raise ValueError(f"bf16 autocast is for CUDA or CPU devices, got device={str(device)!r}")
    return torch.bfloat16


def training_channels_last(device: torch.device | str, autocast: torch.dtype | None) -> bool:
    """Whether a trainer keeps its networks (and the frozen VGG19) channels_last: under reduced
    precision, the layout oneDNN's and cuDNN's bfloat16 convolutions are fastest in, and on CUDA."""
    return autocast is not None or torch.device(device).type == "cuda"


def has_fast_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 products in hardware faster than float32: a CPU with
    AMX tiles or AVX512-BF16 (oneDNN's bfloat16 kernels; without them bfloat16 is emulated and
    slower), or a CUDA device with bfloat16 support (Ampere and later)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        probes = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        return any(probe is not None and probe() for probe in probes)
    return False


def fast_autocast(device: torch.device | str) -> torch.dtype | None:
    """The reduced precision the app uses by default on ``device``: bfloat16 on a CPU with
    bfloat16 hardware (:func:`has_fast_bfloat16`), else None (float32). CUDA stays float32 until
    bfloat16 is measured against it there."""
    return torch.bfloat16 if torch.device(device).type == "cpu" and has_fast_bfloat16(device) else None


def parse_autocast(name: str) -> torch.dtype | None:
    """A CLI/UI name ('none', 'float32', 'bfloat16', 'float16') -> the ``autocast`` value."""
    key = {"float32": "none"}.get(name.strip().lower(), name.strip().lower())
    if key not in AUTOCAST_NAMES:
        raise ValueError(f"unknown precision {name!r}; choose one of float32, {', '.join(AUTOCAST_NAMES)}")
    return AUTOCAST_NAMES[key]
