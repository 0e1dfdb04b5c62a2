"""What the training loops share: the run folder's log and clocks, progress, sample grids, EMA.

Every trainer (siamese_train, cyclegan_train, adain_train, progan_train) keeps ``log.csv``
appended across resumes, counts ``elapsed`` training time over all sessions (restored from
the run state) and stops a session cleanly after ``time_limit_s`` of wall time. In a
multi-process run (:mod:`stylegan_lib.distributed`) only rank 0's RunLog writes (``enabled``).
"""

from __future__ import annotations

import copy
import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .files import atomic_write


@dataclass
class TrainProgress:
    step: int
    steps: int
    losses: dict[str, float]


def sample_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    # rows of [n, 3, H, W] -> one [1, 3, rows*H, n*W] image
    return torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2).unsqueeze(0)


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, *, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for parameters; buffers (batch-norm stats) are copied."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batch_norm(G: nn.Module, latents: torch.Tensor, *, batch: int) -> nn.Module:
    """A copy of ``G`` whose batch norms hold the statistics of ``G``'s own activations on ``latents``.

    An EMA of the weights (:func:`update_ema`) does not average the batch-norm statistics with
    them: the running statistics copied from the trained G describe another network, so G_ema
    in eval mode would normalise with the wrong mean and variance. Here ``latents`` go through
    the copy ``batch`` at a time, every batch norm normalising with the batch's statistics as in
    training, and each one's running mean and (unbiased) variance become the exact statistics
    of its inputs over all of ``latents``. Hooks do the normalising, so a SyncBatchNorm copy
    makes no collective call and one rank can run this alone. The copy is returned in eval
    mode; ``G`` is not touched. A G without batch norm is returned as it is.
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules()):
        return G
    G = copy.deepcopy(G).requires_grad_(False).eval()
    sums: dict[nn.Module, list] = {}

    def normalise(m: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        x = inputs[0].float()
        dims = [d for d in range(x.ndim) if d != 1]  # every dim but the channels
        acc = sums.setdefault(m, [0, 0.0, 0.0])
        acc[0] += x.numel() // x.shape[1]
        acc[1] = acc[1] + x.sum(dims, dtype=torch.float64)
        acc[2] = acc[2] + x.double().square().sum(dims)
        y = torch.nn.functional.batch_norm(x, None, None, m.weight, m.bias, training=True, eps=m.eps)
        return y.to(output.dtype)

    hooks = [m.register_forward_hook(normalise) for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        for z in latents.split(batch):
            G(z)
    finally:
        for h in hooks:
            h.remove()
    for m, (n, s1, s2) in sums.items():
        mean = s1 / n
        m.running_mean.copy_(mean)
        m.running_var.copy_((s2 - n * mean.square()) / max(n - 1, 1))
    return G


class RunLog:
    """``out/log.csv`` (header written once, a row flushed per call) and the run's clocks.

    ``elapsed``: training seconds over every session, continuing from the resumed value;
    ``out_of_time()``: this session has run longer than ``time_limit_s`` (None: never).
    ``enabled=False`` (ranks other than 0): no file is opened and :meth:`write` does nothing.
    A run resumed by a trainer that logs other columns (a loss added since) gets its log rewritten
    once under the new header, old rows matched by column name and empty where they had none.
    """

    def __init__(
        self, out: Path, fields: Sequence[str], *, elapsed: float, time_limit_s: float | None, enabled: bool = True
    ):
        self.out, self.fields, self.time_limit_s, self.enabled = Path(out), tuple(fields), time_limit_s, enabled
        self._started = time.monotonic() - elapsed
        self._session_start = time.monotonic()

    def __enter__(self) -> RunLog:
        if not self.enabled:
            return self
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "log.csv"
        new = not path.exists()
        if not new:
            self._adopt_header(path)
        self._file = open(path, "a", newline="")  # closed in __exit__
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(self.fields)
        return self

    def _adopt_header(self, path: Path) -> None:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or tuple(rows[0]) == self.fields:
            return
        records = [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.fields)
                writer.writerows([record.get(name, "") for name in self.fields] for record in records)

        atomic_write(path, write)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._file.close()

    def write(self, row: Sequence) -> None:
        if not self.enabled:
            return
        self._writer.writerow(row)
        self._file.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def out_of_time(self) -> bool:
        return self.time_limit_s is not None and time.monotonic() - self._session_start > self.time_limit_s

    def sample_path(self, step: int) -> Path:
        return self.out / "samples" / f"step_{step:06d}.png"
