"""Load test: many concurrent gradio_client clients on loopback against the app's queue.

Each client is its own Gradio session and submits its jobs one after another; all clients
start together. The jobs mix the endpoints (a ProGAN face, a tiny Van Gogh HD, a 1-step
Gatys NST), and every result is checked against its own inputs, so a job answered with
another job's result counts as lost:

* /progan_sample: the returned latent (.npy) is ``progan.sample_latents`` of the job's seed;
* /vangogh at strength 0 gives the job's own (unique) noise photo back, pixel for pixel;
* /nst after one step is still the job's own noise photo (much closer to it than to others'),
  at the job's own size.

Latency is submit -> result, queue wait included. Prints a Markdown table (BENCHMARKS.md):

    python bench/load.py                       # starts `python app.py` on a free loopback port
    python bench/load.py --url http://127.0.0.1:7860/ --clients 48 --jobs 2

The app's queue takes at most 64 waiting jobs (app.QUEUE_SIZE); with more clients than that,
the extra submissions are refused with "queue full" and reported as errors.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/load.py` from anywhere: the checks use stylegan_lib
    sys.path.insert(0, str(REPO))
KINDS = ("progan_sample", "vangogh", "nst")
COMBO = "Siamese GAN, Combo-trained"  # the Van Gogh tab's label (webapp.vangogh_tab.LABELS["siamese"])
NST = dict(log_alpha=4, log_beta=-2, tv_weight=50, steps=1, size=64, optimizer="adam",
           preserve_colors=False, num_scales=1, seed=0)  # fmt: skip


@dataclass
class Job:
    client: int
    index: int  # global job number: picks the kind, the seed and the photo
    kind: str
    seed: int
    photo: Path | None = None
    submitted: float = 0.0
    seconds: float | None = None  # submit -> result
    error: str | None = None  # an exception, or a result that does not match the inputs


@dataclass
class Report:
    jobs: list[Job]
    clients: int
    wall: float
    device: str = field(default_factory=lambda: f"{platform.machine()}, {os.cpu_count()} CPUs")

    @property
    def failed(self) -> list[Job]:
        return [j for j in self.jobs if j.error or j.seconds is None]

    def percentiles(self, kind: str | None = None) -> dict[str, float]:
        times = sorted(j.seconds for j in self.jobs if j.seconds is not None and kind in (None, j.kind))
        if not times:
            return {}
        return {
            "n": len(times),
            "p50": percentile(times, 50),
            "p90": percentile(times, 90),
            "p99": percentile(times, 99),
            "max": times[-1],
            "mean": statistics.fmean(times),
        }

    def markdown(self) -> str:
        lines = [
            f"Load: {self.clients} concurrent gradio_client clients, {len(self.jobs)} jobs, "
            f"{len(self.failed)} failed or lost, {self.wall:.1f} s wall "
            f"({len(self.jobs) / self.wall:.2f} jobs/s) on {self.device}. Latency = submit to result, queue included.",
            "",
            "| endpoint | jobs | ok | p50 (s) | p90 (s) | p99 (s) | max (s) | mean (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for kind in (*KINDS, None):
            p = self.percentiles(kind)
            total = sum(1 for j in self.jobs if kind in (None, j.kind))
            if not total:
                continue
            ok = total - sum(1 for j in self.failed if kind in (None, j.kind))
            name = f"/{kind}" if kind else "**all**"
            cells = [f"{p[k]:.2f}" for k in ("p50", "p90", "p99", "max", "mean")] if p else ["–"] * 5
            lines.append(f"| {name} | {total} | {ok} | " + " | ".join(cells) + " |")
        errors = sorted({j.error for j in self.failed if j.error})
        if errors:
            lines += ["", "Errors: " + "; ".join(e[:200] for e in errors[:5])]
        return "\n".join(lines)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of an already sorted list."""
    return float(np.percentile(np.asarray(sorted_values), q))


# ----------------------------------------------------------------------------- jobs


def noise_photo(index: int, folder: Path) -> Path:
    """A photo only this job has: seeded noise, its size varying with the job."""
    rng = np.random.default_rng(1000 + index)
    w, h = 48 + 8 * (index % 5), 32 + 4 * (index % 3)
    path = folder / f"job{index:04d}.png"
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _path(value) -> str:
    return value["path"] if isinstance(value, dict) else value


def _diff(a: Image.Image, b: Image.Image) -> float:
    b = b.convert("RGB").resize(a.size, Image.BICUBIC)
    return float(np.abs(np.asarray(a.convert("RGB"), np.float64) - np.asarray(b, np.float64)).mean())


def run_job(client, job: Job, style: Path, z_dim: int) -> None:
    """Submit ``job`` with ``client``, wait for it, check the result against the job's inputs."""
    from gradio_client import handle_file

    job.submitted = time.perf_counter()
    if job.kind == "progan_sample":
        face, npy = client.submit(job.seed, api_name="/progan_sample").result()
        job.seconds = time.perf_counter() - job.submitted
        from stylegan_lib.progan import sample_latents

        expected = sample_latents(1, z_dim=z_dim, seed=job.seed)[0].numpy()
        got = np.load(_path(npy), allow_pickle=False)
        if f"latent-seed{job.seed}-" not in Path(_path(npy)).name or not np.array_equal(got, expected):
            job.error = f"/progan_sample seed {job.seed}: the latent is not this seed's"
        elif Image.open(_path(face)).size != (256, 256):
            job.error = f"/progan_sample seed {job.seed}: the face is not 256×256"
    elif job.kind == "vangogh":
        _, status, download = client.submit(handle_file(str(job.photo)), COMBO, 0.0, 0, api_name="/vangogh").result()
        job.seconds = time.perf_counter() - job.submitted
        mine, got = Image.open(job.photo), Image.open(_path(download))
        if got.size != mine.size or _diff(got, mine) > 1.0:  # strength 0: the photo back
            job.error = f"/vangogh job {job.index}: the result is not this job's photo ({status})"
    else:
        _, status, download = client.submit(
            handle_file(str(job.photo)), handle_file(str(style)), *NST.values(), api_name="/nst"
        ).result()
        job.seconds = time.perf_counter() - job.submitted
        mine, got = Image.open(job.photo), Image.open(_path(download))
        w, h = mine.size
        expected = (64, max(1, round(h * 64 / w)))
        others = [noise_photo(job.index + k, job.photo.parent) for k in (1, 2)]
        if got.size != expected or not status.startswith("Done"):
            job.error = f"/nst job {job.index}: {got.size} instead of {expected} ({status})"
        elif not _diff(got, mine) < 0.5 * min(_diff(got, Image.open(o)) for o in others):
            job.error = f"/nst job {job.index}: the result does not look like this job's photo"


def run_load(url: str, *, clients: int, jobs_per_client: int, timeout: float, kinds: Sequence[str] = KINDS) -> Report:
    """``clients`` sessions at once, each running ``jobs_per_client`` jobs in turn; all within ``timeout`` s."""
    from gradio_client import Client

    z_dim = 512
    config = REPO / "checkpoints" / "progan-faces" / "config.json"
    if config.is_file():
        import json

        z_dim = json.loads(config.read_text())["z_dim"]
    folder = Path(tempfile.mkdtemp(prefix="stylegan_lib_load_"))
    style = folder / "style.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(style)
    jobs = []
    for c in range(clients):
        for j in range(jobs_per_client):
            index = c * jobs_per_client + j
            kind = kinds[(c + j) % len(kinds)]  # every wave mixes the endpoints
            job = Job(client=c, index=index, kind=kind, seed=10_000 + index)
            if kind != "progan_sample":
                job.photo = noise_photo(index, folder)
                for k in (1, 2):
                    noise_photo(index + k, folder)
            jobs.append(job)

    sessions: list = [None] * clients
    errors: list[str] = []

    def connect(c: int) -> None:
        try:
            sessions[c] = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - reported per job
            errors.append(f"client {c} could not connect: {exc}")

    threads = [threading.Thread(target=connect, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    start = threading.Barrier(clients)

    def worker(c: int) -> None:
        mine = [j for j in jobs if j.client == c]
        try:
            start.wait(timeout)
        except threading.BrokenBarrierError:
            pass
        for job in mine:
            if sessions[c] is None:
                job.error = errors[0] if errors else "no client"
                continue
            try:
                run_job(sessions[c], job, style, z_dim)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
                job.error = f"{type(exc).__name__}: {exc}"

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    deadline = began + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    wall = time.perf_counter() - began
    for job in jobs:
        if job.seconds is None and job.error is None:
            job.error = f"no result within the {timeout:.0f} s limit (lost)"
    for session in sessions:
        if session is not None:
            try:
                session.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
    return Report(jobs, clients, wall)


# ----------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free loopback port; returns (process, url) once it answers."""
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", PYTHONUNBUFFERED="1")
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url + "config", timeout=2).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"app.py did not start: {log.read_text()[-3000:]}") from None
            time.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app; default: start `python app.py` on a free port")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per client, run one after another")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--warmup", type=int, default=1, help="jobs of each kind run first, not counted")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")

    proc = None
    if args.url:
        url = args.url if args.url.endswith("/") else args.url + "/"
    else:
        proc, url = start_server(Path(tempfile.gettempdir()) / "stylegan_lib_load_app.log")
    try:
        if args.warmup:  # load the weights once, so the table measures the queue, not first use
            run_load(url, clients=1, jobs_per_client=args.warmup * len(kinds), timeout=args.timeout, kinds=kinds)
        report = run_load(url, clients=args.clients, jobs_per_client=args.jobs, timeout=args.timeout, kinds=kinds)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    print(report.markdown())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
