"""Fit / time prediction shown before a long run: work units x measured seconds per unit.

A job's work is counted in units proportional to its cost:

* GAN translation (``siamese``, ``cyclegan``) and AdaIN: megapixels of the input;
* Gatys NST (``nst``): megapixel-steps, summed over the coarse-to-fine scales.

Each device starts from seconds-per-unit figures whose origin ``PRIOR_SOURCES`` states: measured
with ``bench/`` on this project's 2-core CPU or on an H100 (BENCHMARKS.md), or, where no H100
measurement exists, the issues' H100 target, which the UI calls "a target, not measured". Each
device then learns from the jobs it runs: every finished job updates its task's figure with an
exponential moving average, so the estimate tracks this machine under its load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

# Seconds per unit: CPU figures measured on this project's machine; CUDA figures measured on one
# H100 in float32 as the app runs (BENCHMARKS.md, "GPU results", 2026-11-24) where a row exists,
# else the target. PRIOR_SOURCES says which, in the words the UI shows.
MEASURED_CPU = "measured on the project's 2-core CPU (BENCHMARKS.md)"
MEASURED_H100 = "measured on an H100 (BENCHMARKS.md)"
H100_TARGET = "an H100 target, not measured"
PRIORS: dict[str, dict[str, float]] = {
    "cpu": {  # 2-core development machine, torch 2.13 CPU
        "siamese": 6.0,  # 12 MP photo in 70 s
        "siamese-naive": 14.0,  # 12 MP in 166 s (3.5 s/MP when the machine is quiet)
        "cyclegan": 15.0,  # 12 MP photo in 90 s, 10-18 s/MP at 1600 x 1200 (tiled 512-px)
        "siamese:image": 13.0,  # whole-photo statistics: 512-px tiles with 48 px of context, 2 MP+ frames
        "siamese-naive:image": 13.0,
        "cyclegan:image": 18.0,  # 512-px tiles with 64 px of context above 1 MP
        "adain": 8.0,
        "nst": 12.5,  # 0.2 s per Adam step at 128 x 128
    },
    "cuda": {
        "siamese": 0.056,  # measured: 3840 x 2160 (8.3 MP), 64-px tiles, float32 model time 0.39-0.46 s
        "siamese-naive": 0.056,  # the same network as "siamese": its measurement
        "cyclegan": 0.016,  # measured: 3840 x 2160 whole frame, eager float32 112-130 ms
        "cyclegan:image": 0.016,  # on CUDA a frame up to 16.6 MP runs whole: the same measurement
        "siamese:image": 0.012,  # target: 3840 x 2160 in 100 ms (whole-photo statistics not measured)
        "siamese-naive:image": 0.012,  # target, as above
        "adain": 0.016,  # measured: 512 x 512 in 4.1 ms in bfloat16 (the app runs float32: a lower bound)
        "nst": 0.030,  # measured: 500 Adam steps at 512 x 512 in 3.93 s, float32 (the target was 2 s)
    },
}
PRIOR_SOURCES: dict[str, dict[str, str]] = {
    "cpu": dict.fromkeys(PRIORS["cpu"], MEASURED_CPU),
    "cuda": {
        **dict.fromkeys(PRIORS["cuda"], MEASURED_H100),
        "siamese:image": H100_TARGET,
        "siamese-naive:image": H100_TARGET,
        "adain": "measured on an H100 in bfloat16 (BENCHMARKS.md; this app runs float32)",
    },
}
# The same CPU with the networks under bfloat16 autocast (precision.py; the app's CPU default where the
# CPU has AMX): float32's figure divided by the float32 / bfloat16 time ratio measured back to back on
# 2026-12-06 (BENCHMARKS.md, "CPU bfloat16 autocast"): Gatys 1.59x (128 x 80, 20 steps), Siamese 1.39x
# and CycleGAN 1.54x (three 0.5 MP photos, whole-photo statistics, the app's default; the Siamese figure
# stands for both Siamese models and both statistics); AdaIN 2.91x (512 x 512, the style's statistics
# cached, 2026-12-07).
CPU_BF16_RATIO = {"nst": 1.59, "siamese": 1.39, "cyclegan": 1.54, "adain": 2.91}
MEASURED_CPU_BF16 = "measured on the project's 2-core CPU in bfloat16 (BENCHMARKS.md)"
PRIORS["cpu:bfloat16"] = {
    task: round(rate / CPU_BF16_RATIO.get(task.split(":")[0].removesuffix("-naive"), 1.0), 2)
    for task, rate in PRIORS["cpu"].items()
}
PRIOR_SOURCES["cpu:bfloat16"] = {
    task: MEASURED_CPU_BF16 if task.split(":")[0].removesuffix("-naive") in CPU_BF16_RATIO else MEASURED_CPU
    for task in PRIORS["cpu"]
}


@dataclass(frozen=True)
class Estimate:
    task: str
    units: float  # megapixels, or megapixel-steps for "nst"
    seconds_per_unit: float
    observed: int  # how many finished jobs shaped seconds_per_unit (0 = the prior)
    source: str = ""  # where the prior comes from (PRIOR_SOURCES), shown while observed == 0

    @property
    def seconds(self) -> float:
        return self.units * self.seconds_per_unit

    def describe(self, *, device: str) -> str:
        unit = "MP·step" if self.task == "nst" else "MP"
        if self.observed:
            basis = f"{self.observed} recent job{'s' if self.observed > 1 else ''} on this server"
        else:
            basis = self.source or "a prior figure"
        return (
            f"about {format_seconds(self.seconds)} on {device} "
            f"({self.units:.3g} {unit} × {self.seconds_per_unit:.3g} s/{unit}, from {basis})"
        )


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def format_megapixels(megapixels: float) -> str:
    """'12.2 MP'; below 1 MP two significant digits ('0.0061 MP'), so a small photo never reads '0.0 MP'."""
    return f"{megapixels:.1f} MP" if megapixels >= 1 else f"{megapixels:.2g} MP"


@dataclass
class CostModel:
    """Seconds per unit per task for one device, updated from finished jobs (thread-safe)."""

    device: str
    smoothing: float = 0.3  # weight of the newest job in the moving average
    min_seconds: float = 5.0  # shorter jobs are mostly fixed overhead (loading, encoding): not learnt from
    _rates: dict[str, float] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        if self.device not in PRIORS:
            raise ValueError(f"no cost figures for device {self.device!r}; known: {', '.join(PRIORS)}")
        self._rates = dict(PRIORS[self.device])

    def estimate(self, task: str, units: float) -> Estimate:
        if task not in self._rates:
            raise KeyError(f"unknown task {task!r}; known: {', '.join(sorted(self._rates))}")
        if units < 0:
            raise ValueError(f"units must be >= 0, got {units}")
        with self._lock:
            return Estimate(task, float(units), self._rates[task], self._counts.get(task, 0),
                            PRIOR_SOURCES[self.device].get(task, ""))  # fmt: skip

    def observe(self, task: str, units: float, seconds: float) -> None:
        """Fold a finished job into the task's figure (jobs under ``min_seconds`` are ignored).

        The figure moves from the prior towards what this machine measures, never jumping to
        one job's rate, so a first job slowed by loading weights does not dominate.
        """
        if task not in self._rates or units <= 0 or seconds < self.min_seconds:
            return
        rate = seconds / units
        with self._lock:
            self._rates[task] = (1 - self.smoothing) * self._rates[task] + self.smoothing * rate
            self._counts[task] = self._counts.get(task, 0) + 1


def nst_units(sizes: list[tuple[int, int]], *, steps: int) -> float:
    """Megapixel-steps of a coarse-to-fine Gatys run over ``sizes`` (h, w), ``steps`` per scale."""
    return sum(h * w for h, w in sizes) * steps / 1e6
