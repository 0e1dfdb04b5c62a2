"""What every tab shares: the device and its limits, uploads, output files, Stop, time budget.

Nothing is loaded at import time: weights are resolved on first use (stylegan_lib.hub).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch

from stylegan_lib import hub
from stylegan_lib.images import ImageError, open_image, save_png
from stylegan_lib.predict import CostModel, Estimate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Limits:
    """What one request may ask of this machine (a CPU Space is ~50x slower than a GPU)."""

    input_pixels: int  # uploads above are downscaled to this, and the user is told
    translate_pixels: int  # Van Gogh HD: photos above are downscaled to this
    tile_batch: int  # tiles per batch in translate_hd
    max_size: int  # longest side of a style transfer result
    max_steps: int
    max_job_seconds: float  # a job predicted to take longer is refused before it starts (it would hold
    # its queue slot, shared by everyone, that long)
    size: int  # defaults shown in the UI
    steps: int
    grid_size: int
    grid_steps: int
    compare_side: int  # the comparison tab runs every method at this longest side
    compare_steps: int  # Gatys steps in the comparison tab


LIMITS = {
    "cuda": Limits(
        input_pixels=40_000_000, translate_pixels=64_000_000, tile_batch=1024, max_size=2048, max_steps=2000,
        max_job_seconds=120, size=512, steps=500, grid_size=320, grid_steps=200, compare_side=1024,
        compare_steps=300,
    ),
    "cpu": Limits(
        input_pixels=40_000_000, translate_pixels=8_000_000, tile_batch=64, max_size=1024, max_steps=1000,
        max_job_seconds=180, size=256, steps=100, grid_size=96, grid_steps=30, compare_side=384,
        compare_steps=60,
    ),
}[DEVICE]  # fmt: skip

COSTS = CostModel(DEVICE)
OUTPUTS = Path(tempfile.mkdtemp(prefix="stylegan_lib_app_"))
atexit.register(shutil.rmtree, OUTPUTS, ignore_errors=True)
OUTPUT_MAX_AGE_S = 3600
PROGRESS = gr.Progress()  # default of the handlers' progress argument: Gradio injects a tracker
_stop_events: dict[str, threading.Event] = {}  # session hash -> stop request of its running job


def gpu(*, duration: int = 60):
    """``spaces.GPU(duration=...)`` on a ZeroGPU Space (the ``spaces`` package), else a no-op."""
    try:
        import spaces
    except ImportError:
        return lambda func: func
    return spaces.GPU(duration=duration)


def upload_path(upload) -> str | None:
    """The file path of a raw Gradio file payload (handlers take them with preprocess=False)."""
    return upload.get("path") if isinstance(upload, dict) else upload


def open_upload(upload, what: str, *, max_pixels: int = LIMITS.input_pixels):
    """A raw Gradio file payload -> RGB PIL image, or a gr.Error a user can act on."""
    path = upload_path(upload)
    if not path:
        raise gr.Error(f"No {what} image: upload one or pick an example.")
    try:
        return open_image(path, max_pixels=max_pixels)
    except ImageError as exc:
        raise gr.Error(f"{what.capitalize()} image: {exc}") from None


def resized_note(img, what: str) -> str:
    w, h = img.info.get("original_size", img.size)
    return f" The {what} image ({w}×{h}) was downscaled to {img.width}×{img.height}." if (w, h) != img.size else ""


WEIGHTS_ERRORS = (hub.WeightsNotFoundError, hub.WeightsIntegrityError)  # their text says where we looked


def vgg():
    from stylegan_lib.vgg import load_vgg19

    try:
        return load_vgg19("caffe", device=DEVICE)
    except WEIGHTS_ERRORS as exc:
        raise gr.Error(str(exc)) from None


def output_path(prefix: str, suffix: str = "") -> Path:
    """A fresh path in the app's output folder; files older than an hour are removed first."""
    cutoff = time.time() - OUTPUT_MAX_AGE_S
    for old in OUTPUTS.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another request may prune it first
            if old.stat().st_mtime < cutoff:
                old.unlink()
    return OUTPUTS / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}{suffix}"


def save(image, prefix: str = "stylized") -> str:
    return str(save_png(image, output_path(prefix, ".png")))


@contextlib.contextmanager
def stop_event(request: gr.Request | None):
    """A stop flag for this session's job, set by a Stop button (request_stop)."""
    event, key = threading.Event(), getattr(request, "session_hash", None)
    if key:
        _stop_events[key] = event
    try:
        yield event
    finally:
        if key and _stop_events.get(key) is event:
            del _stop_events[key]


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


def check_budget(task: str, units: float) -> Estimate:
    """The prediction for a job, or a gr.Error before it starts when it would run too long."""
    estimate = COSTS.estimate(task, units)
    if estimate.seconds > LIMITS.max_job_seconds:
        raise gr.Error(
            f"This job would take {estimate.describe(device=DEVICE)}; the limit here is "
            f"{LIMITS.max_job_seconds:.0f} s. Use a smaller image, fewer steps or a smaller size, "
            "or run it without a limit with `python -m stylegan_lib` on your own machine."
        )
    return estimate


@contextlib.contextmanager
def timed(task: str, units: float):
    """Time a job and teach the cost model (only when it finishes without an error)."""
    started = time.perf_counter()
    yield
    COSTS.observe(task, units, time.perf_counter() - started)
