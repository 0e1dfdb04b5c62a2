"""The app on ZeroGPU, with the real `spaces` package (requirements-dev.txt), in subprocesses.

tests/zerogpu_world.py runs each world and says which stand-ins a CPU machine needs (torch's CUDA
build strings, the GPU scheduler): the device and limits the app picks, a Stop click reaching a
handler that `spaces` runs in its forked worker, the worker's job times reaching the main
process's cost model, and a worker without a GPU refusing to run a GPU job on the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("spaces")
pytestmark = [pytest.mark.app, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "tests" / "zerogpu_world.py"
HANDLERS = 10  # the app's @gpu handlers today: nst 3, vangogh 2, progan 4, compare 1 (more may come)


def run_world(mode: str, tmp_path: Path, *, zero_gpu: bool, hide_spaces: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPACES_", "ZERO"))}
    env.update(HOME=str(tmp_path), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")  # spaces writes under ~/.zerogpu
    if zero_gpu:  # what a ZeroGPU Space sets (the URL is never reached: the scheduler is stood in for)
        env.update(SPACES_ZERO_GPU="true", SPACES_ZERO_DEVICE_API_URL="http://127.0.0.1:9/")
    args = [sys.executable, str(WORLD), mode]
    if hide_spaces:  # a machine without the package: importing it fails
        code = ("import sys; sys.modules['spaces'] = None; sys.argv = " + repr([str(WORLD), mode]) +
                "; import runpy; runpy.run_path(sys.argv[0], run_name='__main__')")  # fmt: skip
        args = [sys.executable, "-c", code]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (rc {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_zerogpu_space_picks_cuda_and_its_limits(tmp_path):
    from webapp.common import LIMITS  # noqa: F401  (this process: no ZeroGPU)

    found = run_world("device", tmp_path, zero_gpu=True)
    assert found["zero_gpu"] and found["device"] == "cuda" and found["max_size"] == 2048
    # every @gpu handler went through spaces.GPU (and is the wrapper that brings job times back)
    assert found["spaces_gpu_handlers"] == found["wrapped_handlers"] >= HANDLERS
    assert found["run_nst_is_generator"]  # Gradio still streams it


def test_without_zerogpu_the_cpu_world_is_unchanged(tmp_path):
    with_package = run_world("device", tmp_path, zero_gpu=False)
    without_package = run_world("device", tmp_path, zero_gpu=False, hide_spaces=True)
    for found in (with_package, without_package):
        assert found["device"] == "cpu" and found["max_size"] == 1024 and not found["zero_gpu"]
        assert found["spaces_gpu_handlers"] == found["wrapped_handlers"] == 0


def test_stop_reaches_the_worker_and_the_job_time_comes_back(tmp_path):
    found = run_world("stop", tmp_path, zero_gpu=True)
    assert found["job_pids"] and found["main_pid"] not in found["job_pids"]  # ran in spaces' worker
    assert found["regular_pid"] != found["main_pid"]
    last = found["last"]
    # another session's Stop (after 3 values) did nothing; this session's (after 6) stopped it
    assert last["done"] and last["stopped"] and 6 <= last["step"] <= 8, last
    assert found["seconds"] < 10  # 400 steps would take 20 s
    assert found["nst_observed"] == 1 and found["adain_observed"] == 1  # learnt in the main process
    assert found["nst_rate"] != pytest.approx(0.030)  # moved off the H100 prior by the job's own time
    assert found["flags_left"] == []  # no stop file outlives its job


def test_a_worker_without_a_gpu_refuses_the_job(tmp_path):
    found = run_world("no-gpu", tmp_path, zero_gpu=True)
    assert found["refused"] and "No GPU" in found["refused"]
