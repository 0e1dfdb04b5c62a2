"""16 concurrent gradio_client clients against the real server's queue (bench/load.py, small).

Asserts no errors and no lost jobs: every job returns, within a generous overall limit, a
result that matches its own inputs (seed, photo). Latency percentiles are printed (run with
-s to see them), never asserted: this machine's load is not the test's business.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

CLIENTS = 16
TIME_LIMIT_S = 600  # the whole run; jobs still unanswered then count as lost

_spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parents[1] / "bench" / "load.py")
load = sys.modules.setdefault("bench_load", importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(load)


@pytest.mark.app
@pytest.mark.slow
@pytest.mark.timeout(TIME_LIMIT_S + 120)
def test_sixteen_concurrent_clients(app_server, app_process):
    report = load.run_load(app_server, clients=CLIENTS, jobs_per_client=1, timeout=TIME_LIMIT_S)
    print("\n" + report.markdown())
    assert len(report.jobs) == CLIENTS and {j.client for j in report.jobs} == set(range(CLIENTS))
    assert {j.kind for j in report.jobs} == set(load.KINDS)  # every endpoint of the mix was under load
    assert not report.failed, "\n".join(f"job {j.index} ({j.kind}): {j.error}" for j in report.failed)
    assert all(j.seconds is not None and j.seconds > 0 for j in report.jobs)  # every job was answered
    assert app_process.poll() is None


def test_percentiles():
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert load.percentile([5.0], 99) == 5.0
    jobs = [load.Job(client=0, index=i, kind="nst", seed=i, seconds=float(i + 1)) for i in range(10)]
    p = load.Report(jobs, clients=1, wall=10.0).percentiles()
    assert p["n"] == 10 and p["p50"] == 5.5 and p["max"] == 10.0 and p["p90"] == pytest.approx(9.1)
