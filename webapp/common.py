"""What every tab shares: the device and its limits, uploads, output files, Stop, time budget.

Nothing is loaded at import time: weights are resolved on first use (stylegan_lib.hub).

On a ZeroGPU Space (the ``spaces`` package with ``SPACES_ZERO_GPU``) each ``@gpu`` handler runs in
a worker process that ``spaces`` forks and lends a GPU to; the main process serves the page. So
Stop is a file both processes see (:class:`StopFlag`), and the handler's measured job times
travel back with its results to teach the main process's cost model (:func:`gpu`).
"""

from __future__ import annotations

# `spaces` first: on ZeroGPU importing it patches torch so that the main process sees the GPU the
# handlers will get (it must come before anything initialises CUDA).
try:
    import spaces
    from spaces.config import Config as _SpacesConfig
except ImportError:
    spaces = _SpacesConfig = None

import atexit
import contextlib
import functools
import hashlib
import inspect
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr
import torch

from stylegan_lib import hub
from stylegan_lib.images import ImageError, open_image, save_png
from stylegan_lib.precision import fast_autocast, parse_autocast

from .predict import CostModel, Estimate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ZERO_GPU = bool(_SpacesConfig is not None and _SpacesConfig.zero_gpu)  # a ZeroGPU Space


def work_device() -> str:
    """The device jobs run on: CUDA where torch sees a GPU. On ZeroGPU the main process sees it
    through spaces' patch (the GPU each handler gets in its worker), the worker the real one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


DEVICE = work_device()
# The networks' precision (stylegan_lib/precision.py): bfloat16 autocast on a CPU with bfloat16 hardware
# (AMX), where Gatys, the GAN translators and the face search agree with float32 (BENCHMARKS.md, "CPU
# bfloat16"); the environment variable STYLEGAN_LIB_PRECISION=float32 (or bfloat16) overrides it.
_PRECISION = os.environ.get("STYLEGAN_LIB_PRECISION", "auto")
AUTOCAST = fast_autocast(DEVICE) if _PRECISION == "auto" else parse_autocast(_PRECISION)


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
    optimizer: str  # Gatys' default; on the CPU L-BFGS, speckle-free in Adam's time (bench/nst_convergence.py)
    grid_size: int
    grid_steps: int
    compare_side: int  # the comparison tab runs every method at this longest side
    compare_steps: int  # Gatys steps in the comparison tab


_CPU_FLOAT32 = Limits(
    input_pixels=40_000_000, translate_pixels=8_000_000, tile_batch=64, max_size=1024, max_steps=1000,
    max_job_seconds=180, size=256, steps=100, optimizer="lbfgs", grid_size=96, grid_steps=30, compare_side=384,
    compare_steps=60,
)  # fmt: skip
# Where the app runs: the device, and on the CPU its precision (the cost model learns each apart).
PLACE = "cpu:bfloat16" if DEVICE == "cpu" and AUTOCAST is not None else DEVICE
LIMITS_BY_PLACE = {
    "cuda": Limits(
        input_pixels=40_000_000, translate_pixels=64_000_000, tile_batch=1024, max_size=2048, max_steps=2000,
        max_job_seconds=120, size=512, steps=500, optimizer="adam", grid_size=320, grid_steps=200, compare_side=1024,
        compare_steps=300,
    ),
    "cpu": _CPU_FLOAT32,
    # bfloat16 on the CPU buys the same wait a bigger picture (BENCHMARKS.md, "CPU bfloat16"): Gatys runs
    # 1.59x faster, so 320 px instead of 256 (1.56x the pixels); a Van Gogh photo 2.05x (48.1 s -> 23.5 s
    # for 12 MP), so 16 MP instead of 8; the comparison (Siamese 1.39x, CycleGAN 1.54x) 448 px, not 384
    "cpu:bfloat16": replace(_CPU_FLOAT32, translate_pixels=16_000_000, size=320, grid_size=120, compare_side=448),
}  # fmt: skip
LIMITS = LIMITS_BY_PLACE[PLACE]

COSTS = CostModel(PLACE)
OUTPUTS = Path(tempfile.mkdtemp(prefix="stylegan_lib_app_"))
atexit.register(shutil.rmtree, OUTPUTS, ignore_errors=True)
OUTPUT_MAX_AGE_S = 3600
PROGRESS = gr.Progress()  # default of the handlers' progress argument: Gradio injects a tracker
STOP_FLAGS = Path(tempfile.mkdtemp(prefix="stylegan_lib_stop_"))  # made before spaces forks its workers
atexit.register(shutil.rmtree, STOP_FLAGS, ignore_errors=True)


@dataclass(frozen=True)
class _Remote:
    """A handler's value as it leaves a ZeroGPU worker, with the job times measured there."""

    value: object
    observations: tuple[tuple[str, float, float], ...]  # (task, units, seconds) for COSTS.observe
    only_observations: bool = False  # a generator's last message: times measured after its last value


_worker_observations: list[tuple[str, float, float]] | None = None  # set while a ZeroGPU worker runs a job


def _drain() -> tuple[tuple[str, float, float], ...]:
    found = tuple(_worker_observations or ())
    if _worker_observations is not None:
        _worker_observations.clear()
    return found


def _learn(remote: _Remote):
    for observation in remote.observations:
        COSTS.observe(*observation)
    return remote.value


def _check_device() -> None:
    # where the work runs: a job planned for the GPU (limits, sizes) never silently runs on a CPU
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise gr.Error("No GPU is available to this job right now; try again in a minute.")


def gpu(*, duration: int = 60):
    """A handler that needs the GPU: on a ZeroGPU Space ``spaces.GPU(duration=...)`` runs it in a
    worker process with a GPU, and the job times it measures there come back with its results to
    the main process's cost model; elsewhere the handler itself (a no-op decorator)."""

    def decorate(func):
        if not ZERO_GPU:
            return func
        if inspect.isgeneratorfunction(func):

            def in_worker(*args, **kwargs):
                global _worker_observations
                _worker_observations = []
                _check_device()
                for item in func(*args, **kwargs):
                    yield _Remote(item, _drain())
                if _worker_observations:
                    yield _Remote(None, _drain(), only_observations=True)

            remote = spaces.GPU(duration=duration)(in_worker)

            @functools.wraps(func)
            def handler(*args, **kwargs):
                for item in remote(*args, **kwargs):
                    value = _learn(item)
                    if not item.only_observations:
                        yield value

            return handler

        def in_worker(*args, **kwargs):
            global _worker_observations
            _worker_observations = []
            _check_device()
            value = func(*args, **kwargs)
            return _Remote(value, _drain())

        remote = spaces.GPU(duration=duration)(in_worker)

        @functools.wraps(func)
        def handler(*args, **kwargs):
            return _learn(remote(*args, **kwargs))

        return handler

    return decorate


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


def _session_file(request, suffix: str) -> Path | None:
    key = getattr(request, "session_hash", None)
    if not key:
        return None
    return STOP_FLAGS / (hashlib.sha256(str(key).encode()).hexdigest()[:32] + suffix)  # any text -> a safe name


class StopFlag:
    """A stop request for one session's running jobs, seen by every process: a file in STOP_FLAGS.

    A ZeroGPU handler runs in a forked worker while Stop is clicked in the main process, so a
    threading.Event cannot carry it. request_stop writes the session's stop file while one of its
    jobs runs; the file goes when the session's last job ends. ``set`` (streaming's own
    wind-down) stops this job only.
    """

    def __init__(self, request):
        self._local = threading.Event()
        self._stop = _session_file(request, ".stop")

    def set(self) -> None:
        self._local.set()

    def is_set(self) -> bool:
        return self._local.is_set() or (self._stop is not None and self._stop.exists())


def _jobs(stem: str) -> list[Path]:
    return list(STOP_FLAGS.glob(f"{stem}.*.job"))


@contextlib.contextmanager
def stop_event(request: gr.Request | None):
    """A stop flag for this session's job, set by a Stop button (request_stop) from any process."""
    flag = StopFlag(request)
    running = _session_file(request, f".{os.getpid()}-{threading.get_ident()}-{time.time_ns()}.job")
    stem = running.name.split(".", 1)[0] if running is not None else ""
    if running is not None:
        if not _jobs(stem):  # a stop file left by a request that came as the last job ended
            (STOP_FLAGS / f"{stem}.stop").unlink(missing_ok=True)
        running.touch()  # request_stop writes a stop file only while a job of the session runs
    try:
        yield flag
    finally:
        if running is not None:
            running.unlink(missing_ok=True)
            if not _jobs(stem):  # the session's last job: its stop file goes too
                (STOP_FLAGS / f"{stem}.stop").unlink(missing_ok=True)


def request_stop(request: gr.Request = None) -> str:
    stop = _session_file(request, ".stop")
    if stop is not None and _jobs(stop.name.split(".", 1)[0]):
        stop.touch()
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
    seconds = time.perf_counter() - started
    COSTS.observe(task, units, seconds)
    if _worker_observations is not None:  # in a ZeroGPU worker: the main process learns it too (gpu())
        _worker_observations.append((task, float(units), seconds))
