"""What the training loops share: the run folder's state and log, clocks, progress, sample grids, EMA,
the antialiased view a discriminator gets of smaller crops.

Every trainer (siamese_train, cyclegan_train, adain_train, progan_train) keeps its loop explicit
and leaves the bookkeeping around it to this module:

* :class:`RunSettings`: the fields every trainer's config shares (seed, device, ``bf16``, how
  often to log, sample and checkpoint, the session's time limit), defined and described once;
* :func:`restore_run` / :func:`save_run`: the run state (``train_state.*``: the named parts,
  i.e. modules, optimisers, samplers, RNGs, plus the torch RNG and the trainer's counters) and
  what ships (``model.safetensors`` + ``config.json``, training info apart), so that a resumed
  run continues bit for bit;
* :class:`RunLog`: ``log.csv`` appended across resumes, ``elapsed`` training time over all
  sessions, and the decisions of each step: log / sample / checkpoint now (:meth:`RunLog.due`),
  stop at the callback's word (:meth:`RunLog.report`) or after ``time_limit_s`` of this
  session's wall time (:meth:`RunLog.out_of_time`), the last checkpoint (:meth:`RunLog.finish`).

In a multi-process run (:mod:`stylegan_lib.distributed`) only rank 0 writes files; the stop
decisions are rank 0's, taken by every rank alike.
"""

from __future__ import annotations

import copy
import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpointing
from .distributed import World
from .files import atomic_write


@dataclass(kw_only=True)
class RunSettings:
    """The settings every trainer's config takes besides its data, model and recipe (keyword-only:
    they follow the trainer's own fields): seeding, device and precision, and how often to log,
    sample and checkpoint, in steps, and when to stop this session."""

    seed: int = 0
    device: str = "cpu"
    bf16: bool = False  # bfloat16 autocast (CUDA, or a CPU with AMX), channels_last networks (precision.py)
    log_every: int = 50  # steps between log rows (and callbacks)
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 500  # steps between checkpoints
    keep_snapshots: bool = False  # also keep each checkpoint's shipped model in snapshots/ (to pick a step later)
    time_limit_s: float | None = None  # stop (with a checkpoint) after this many seconds


@dataclass
class TrainProgress:
    step: int
    steps: int
    losses: dict[str, float]


def sample_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    # rows of [n, 3, H, W] -> one [1, 3, rows*H, n*W] image
    return torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2).unsqueeze(0)


def discriminator_view(x: torch.Tensor, *, size: int) -> torch.Tensor:
    """Square crops [N, 3, H, H] as a discriminator at ``size`` x ``size`` sees them: resized with an
    antialiasing filter (at half size a triangle filter, which cancels a 2-px checkerboard and
    leaves about a third of a 4-px one), so texture finer than G's upsampling lattice earns no
    reward; unchanged at their own size. Computed in float32 (the CPU has no bfloat16 antialiased
    resize), returned in ``x``'s dtype."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True).to(x.dtype)


def check_d_scale(d_scale: float) -> None:
    """A trainer's ``d_scale`` (the fraction of a crop's side its discriminators see): in (0, 1]."""
    if not 0.0 < d_scale <= 1.0:
        raise ValueError(f"d_scale must be in (0, 1], got {d_scale}")


def check_ema_beta(beta: float | None) -> None:
    """A trainer's ``ema_beta``: None (no G_ema) or in (0, 1)."""
    if beta is not None and not 0.0 < beta < 1.0:
        raise ValueError(f"ema_beta must be in (0, 1) or None, got {beta}")


def ema_copy(G: nn.Module, *, beta: float | None, saved: Mapping[str, Any] | None) -> nn.Module | None:
    """G_ema for a trainer's ``ema_beta`` (None: None): a frozen eval-mode copy of ``G``, loaded with
    ``saved`` (a resumed run's G_ema) when there is one; a run begun without G_ema and resumed with
    ``ema_beta`` starts it from G."""
    if beta is None:
        return None
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    if saved is not None:
        G_ema.load_state_dict(saved)
    return G_ema


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


# ----------------------------------------------------------------------------- the run state


def _state_of(part: Any) -> Any:
    if isinstance(part, torch.Generator):
        return part.get_state()
    if isinstance(part, (list, tuple)):
        return [p.state_dict() for p in part]
    return part.state_dict()


def _load_into(part: Any, state: Any) -> None:
    if isinstance(part, torch.Generator):
        part.set_state(state)
    elif isinstance(part, (list, tuple)):
        for p, s in zip(part, state, strict=True):
            p.load_state_dict(s)
    else:
        part.load_state_dict(state)


def save_run(
    out: Path,
    parts: Mapping[str, Any],
    *,
    counters: Mapping[str, Any],
    shipped: nn.Module,
    model: dict,
    training: dict,
    snapshot: str | None = None,
) -> None:
    """Write a checkpoint of the run in ``out`` (rank 0's job).

    ``train_state.*``: the state of each of ``parts`` (name -> module, optimiser, crop sampler,
    history pool: its ``state_dict()``; a ``torch.Generator``: its ``get_state()``; a list: each
    item's; None: a part this run does not have, left out), the torch RNG (``"torch_rng"``) and
    ``counters`` (step, elapsed seconds, the train config: whatever the trainer restores).
    ``model.safetensors`` + ``config.json``: ``shipped`` with ``model`` (its config's ``to_dict()``)
    and ``training`` (what the run says of itself) under ``"training"``. ``snapshot``: also write
    that pair to ``out/snapshots/<snapshot>/``, which later checkpoints leave alone (the trainers
    name it by the step, ``RunSettings.keep_snapshots``), so that a step can be picked afterwards.
    """
    state = {name: _state_of(part) for name, part in parts.items() if part is not None}
    checkpointing.save_state(out, {**state, "torch_rng": torch.get_rng_state(), **counters})
    checkpointing.save_model(out, shipped, model, training=training)
    if snapshot is not None:
        checkpointing.save_model(out / "snapshots" / snapshot, shipped, model, training=training)


def snapshot_name(step: int) -> str:
    """The folder under ``snapshots/`` of a step's model (``RunSettings.keep_snapshots``)."""
    return f"step_{step:06d}"


def restore_run(out: Path, state: Mapping[str, Any], parts: Mapping[str, Any], *, model: dict) -> None:
    """Load a run state saved by :func:`save_run` into ``parts`` (as there; None parts are skipped)
    and the torch RNG. ``model``: the model config the run must have been saved with, found at
    ``state["model"]`` or in the train config at ``state["config"]["model"]`` (ValueError when another)."""
    saved = state["model"] if "model" in state else state["config"]["model"]
    if saved != model:
        raise ValueError(f"{out} holds a run with another model config: {saved}")
    missing = [name for name, part in parts.items() if part is not None and name not in state]
    if missing:
        raise ValueError(f"{out} holds a run without {missing}: it was trained with other options")
    for name, part in parts.items():
        if part is not None:
            _load_into(part, state[name])
    torch.set_rng_state(state["torch_rng"])


# ----------------------------------------------------------------------------- the log, clocks and decisions


class RunLog:
    """``out/log.csv`` (header written once, a row flushed per call), the run's clocks and the
    decisions of each step.

    ``elapsed``: training seconds over every session, continuing from the resumed value.
    ``world``: the training processes (:mod:`stylegan_lib.distributed`; default: this one alone);
    on ranks other than 0 no file is opened and :meth:`write` does nothing, and every stop is rank
    0's. ``steps``: the run's last step, which :meth:`due` always counts (None: the caller says).
    A run resumed by a trainer that logs other columns (a loss added since) gets its log rewritten
    once under the new header, old rows matched by column name and empty where they had none.
    """

    def __init__(
        self,
        out: Path,
        fields: Sequence[str],
        *,
        elapsed: float,
        time_limit_s: float | None,
        world: World | None = None,
        steps: int | None = None,
    ):
        self.out, self.fields, self.time_limit_s, self.steps = Path(out), tuple(fields), time_limit_s, steps
        self.world = World() if world is None else world
        self.enabled = self.world.main
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

    def due(self, step: int, every: int, *, last: bool | None = None) -> bool:
        """Whether ``step`` (counted from 1) is a multiple of ``every`` or the last one (``last``,
        default: ``step == steps``): when to log, sample or write a checkpoint."""
        return step % every == 0 or (step == self.steps if last is None else last)

    def report(self, callback: Callable[[Any], bool | None] | None, progress: Any) -> bool:
        """``callback(progress)`` on rank 0; whether it asked to stop, on every rank."""
        stop = self.world.main and callback is not None and bool(callback(progress))
        return self.world.decide(stop)

    def out_of_time(self) -> bool:
        """This session has run longer than ``time_limit_s`` (None: never), by rank 0's clock, on every rank."""
        late = self.time_limit_s is not None and time.monotonic() - self._session_start > self.time_limit_s
        return self.world.decide(late)

    def finish(self, save: Callable[[], None]) -> Path:
        """The session's last checkpoint: ``save()`` on rank 0, then every rank waits for it.
        Returns the path of the shipped weights."""
        if self.world.main:
            save()
        self.world.barrier()  # every rank returns once the run folder is written
        return self.out / "model.safetensors"

    def sample_path(self, step: int) -> Path:
        return self.out / "samples" / f"step_{step:06d}.png"
