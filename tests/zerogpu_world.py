"""The app under the real `spaces` package (PyPI, pinned in requirements-dev.txt), run as a
subprocess by tests/test_zerogpu.py: ``python tests/zerogpu_world.py MODE``; prints one JSON line.

With ``SPACES_ZERO_GPU=true`` (a ZeroGPU Space) `spaces` patches torch at import and runs every
``@spaces.GPU`` handler in a worker process it forks, using its own code (spaces.zero.wrappers).
Two things of a real ZeroGPU Space cannot exist on this CPU machine and get stand-ins, nothing else:

* torch's CUDA build: `spaces` reads ``torch.version.cuda``, ``torch._C._cuda_init`` and
  ``torch.cuda._is_in_bad_fork`` at import, which the CPU wheel lacks or defines as lambdas
  (which cannot be pickled to its probe process). They are set to a CUDA build's values.
* the GPU scheduler (an HTTP API on the Space) and the GPU itself: ``client.schedule`` answers
  with a GPU lent at once, ``release``/``allow`` do nothing, and the worker's GPU set-up
  (``spaces.zero.torch.unpatch/init/move``) is skipped, so the worker keeps seeing the patched
  CUDA; with ``MODE=no-gpu`` the worker unpatches torch as spaces does, and finds no GPU.

MODE: ``device`` (import the app, report its device and limits), ``stop`` (a Stop click in this
process reaches a handler running in the worker; the worker's job time reaches this process's
cost model), ``no-gpu`` (a handler whose worker has no GPU refuses to run on the CPU).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _never() -> bool:
    return False


def _nothing(*args, **kwargs) -> None:
    return None


def cuda_build_stand_in() -> None:
    import torch

    torch.version.cuda = "12.8"
    torch._C._cuda_init = _nothing
    torch.cuda._is_in_bad_fork = _never


def scheduler_stand_in(*, keep_patched_cuda: bool) -> None:
    import spaces.zero.client as client
    import spaces.zero.torch as zero_torch

    client.schedule = lambda **kwargs: SimpleNamespace(allowToken="token", nvidiaIndex=0, nvidiaUUID="GPU-0",
                                                       idle=True)  # fmt: skip
    client.release = _nothing
    client.allow = _nothing
    client.duration_warning = _nothing
    client.get_duration_seconds = lambda *args, **kwargs: 60
    zero_torch.init = _nothing
    zero_torch.move = _nothing
    zero_torch.size = lambda: 0
    if keep_patched_cuda:
        zero_torch.unpatch = _nothing


def main(mode: str) -> dict:
    if os.environ.get("SPACES_ZERO_GPU"):
        cuda_build_stand_in()
    if mode == "device":
        import app  # noqa: F401  (imports spaces first, as on the Space)
        from webapp import common, nst_tab

        wrapped = 0
        if common.ZERO_GPU:
            from spaces.zero.decorator import decorated_cache

            wrapped = len(decorated_cache) // 2  # each entry twice: the task and its wrapper
        import inspect

        from webapp import compare_tab, progan_tab, vangogh_tab

        handlers = [f for module in (nst_tab, vangogh_tab, progan_tab, compare_tab) for name, f in vars(module).items()
                    if name.startswith("run_") and inspect.isfunction(f) and hasattr(f, "__wrapped__")]  # fmt: skip
        return {"device": common.DEVICE, "max_size": common.LIMITS.max_size, "zero_gpu": common.ZERO_GPU,
                "spaces_gpu_handlers": wrapped, "wrapped_handlers": len(handlers),
                "run_nst_is_generator": inspect.isgeneratorfunction(nst_tab.run_nst)}  # fmt: skip

    import gradio as gr

    from webapp import common

    scheduler_stand_in(keep_patched_cuda=mode != "no-gpu")
    common.COSTS.min_seconds = 0.0  # learn from short jobs too

    @common.gpu(duration=10)
    def job(request: gr.Request = None):
        step, stopped = 0, False
        with common.stop_event(request) as stop, common.timed("nst", 2.0):
            for step in range(400):  # 20 s unless stopped
                if stop.is_set():
                    stopped = True
                    break
                yield {"pid": os.getpid(), "step": step}
                time.sleep(0.05)
        yield {"pid": os.getpid(), "step": step, "stopped": stopped, "done": True}

    @common.gpu(duration=10)
    def regular(megapixels: float):
        with common.timed("adain", megapixels):
            time.sleep(0.05)
        return os.getpid()

    if mode == "no-gpu":
        try:
            regular(1.0)
        except gr.Error as exc:
            return {"refused": exc.message}
        return {"refused": None}

    request = gr.Request(session_hash="session-one")
    other = gr.Request(session_hash="session-two")
    items, started = [], time.monotonic()
    for item in job(request):
        items.append(item)
        if len(items) == 3:
            common.request_stop(other)  # another visitor's Stop: not this job's
        if len(items) == 6:
            common.request_stop(request)
    worker_pid = regular(0.5)
    return {
        "main_pid": os.getpid(),
        "job_pids": sorted({item["pid"] for item in items}),
        "regular_pid": worker_pid,
        "last": items[-1],
        "seconds": time.monotonic() - started,
        "nst_observed": common.COSTS.estimate("nst", 1.0).observed,
        "nst_rate": common.COSTS.estimate("nst", 1.0).seconds_per_unit,
        "adain_observed": common.COSTS.estimate("adain", 1.0).observed,
        "flags_left": sorted(p.name for p in common.STOP_FLAGS.iterdir()),
    }


if __name__ == "__main__":
    result = main(sys.argv[1])
    import multiprocessing

    for child in multiprocessing.active_children():  # spaces' idle workers wait for the next job
        child.kill()
        child.join(5)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # spaces' threads that wait on those workers would hold the interpreter
