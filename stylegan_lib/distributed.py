"""Data-parallel training over processes: ``torchrun`` + ``torch.distributed`` + DistributedDataParallel.

Every trainer calls :func:`init` with its config's device. Launched by ``torchrun`` (the
environment holds ``RANK`` and ``WORLD_SIZE``), it joins the process group, NCCL on CUDA (one GPU
per process, ``cuda:LOCAL_RANK``) and gloo on the CPU; launched plainly, it returns a one-process
:class:`World` and the trainer runs exactly as it always did (no process group, no wrapper).

The rules every trainer follows (Goyal et al. 2017, "Accurate, Large Minibatch SGD", for the
batch and the gradients; Karras et al. 2018, appendix A, for per-GPU minibatch-std groups):

* **The config's batch is the global batch.** It is split evenly across the ranks and must be
  divisible by their number (:meth:`World.local_batch`). A run on 2 ranks therefore trains the
  same model as a run on 1 process with the same config, and a run can resume on any number of
  ranks that divides its batch.
* **Every rank draws the same global batch and keeps its rows** ``rank, rank + size, ...``
  (:meth:`World.shard`): the crop samplers, latent generators and RNGs advance identically on
  every rank, so their state (saved by rank 0) is the state of the whole run, and the shards are
  disjoint and deterministic. Drawing all of it costs each rank the crops of the other ranks
  (in-memory uint8 arrays: small next to the networks).
  Per-sample random transforms (DiffAugment) run through :meth:`World.per_sample`, which lays
  the local rows out at their global positions so each sample gets the draw it would get on one
  process.
* **Gradients are averaged by DDP**, and every loss is a mean over samples of equal-sized shards,
  so the average of the ranks' gradients is the gradient of the global batch's loss. DDP wraps
  only the module a step trains, and only that step calls the wrapper: when G's loss looks
  through D, it calls D's bare module with D frozen, so D's gradients are neither computed nor
  all-reduced there; frozen backbones (VGG19) are never wrapped. Gradient penalties (WGAN-GP, R1)
  call D through its wrapper: ``autograd.grad`` with respect to the images accumulates no weight
  gradient, so the step's one backward reduces each weight once. Buffers are not re-broadcast at
  each forward (``forward_sync_buffers=False``): those there are (spectral-norm vectors) evolve
  identically on every rank, and so does G_ema, an average of weights that are the same on every
  rank after each step.
* **Layers that look across the batch**, one rule each, every one giving the one-process model:
  ProGAN's minibatch standard deviation takes groups of the rank's own samples, as in the paper's
  multi-GPU runs; with the strided shards above these are exactly the one-process groups (sample
  i in group ``i % (N / group)``) whenever ``mbstd_group * ranks`` divides the batch (otherwise
  they are per-rank groups, the paper's setting, and the runs differ). Batch norm (the DCGAN's)
  is synchronised (:meth:`World.sync_batch_norm`): its training statistics are those of the
  global batch (per-rank statistics would change the model with the number of ranks). CycleGAN's
  image history pool is held whole on every rank: the ranks gather their translations, query
  identical pools in global order and keep their rows. Instance norm works per sample.
* **Rank 0 alone writes** logs, samples, checkpoints and model cards; logged losses are averaged
  over the ranks. A stop (time limit, callback) is decided on rank 0 and broadcast
  (:meth:`World.decide`), so every rank stops after the same step, at a checkpoint.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["World", "init", "launched", "launched_rank"]


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or anything that sets RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def launched_rank() -> int:
    """This process's rank as ``torchrun`` set it (0 when not launched by it); for printing only on rank 0."""
    return int(os.environ.get("RANK", 0)) if launched() else 0


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; ``size == 1``: a plain one-process run."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local_batch(self, batch: int, *, what: str = "batch") -> int:
        """This rank's share of a global batch; a clear error when the ranks cannot split it evenly."""
        if batch % self.size:
            raise ValueError(
                f"the {what} ({batch}) is the global batch, split across {self.size} processes: "
                f"it must be a multiple of {self.size}"
            )
        return batch // self.size

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """Global ``[N, ...]`` -> this rank's ``[N / size, ...]``: rows rank, rank + size, ..."""
        if not self.distributed:
            return x
        self.local_batch(x.shape[0])
        return x[self.rank :: self.size]

    def per_sample(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``fn`` (a random transform acting on each sample alone) on this rank's rows, as on one process.

        The local rows are placed at their global positions among zero rows standing for the other
        ranks' samples, ``fn`` runs on that global batch (drawing its random numbers for all N
        samples, as a one-process run does) and the local rows come back; differentiable in ``x``.
        """
        if not self.distributed:
            return fn(x)
        rows = [x if r == self.rank else torch.zeros_like(x) for r in range(self.size)]
        return self.shard(fn(torch.stack(rows, dim=1).flatten(0, 1)))  # global row j * size + r = rank r's row j

    @torch.no_grad()
    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's rows (no gradient), back in global order: the inverse of :meth:`shard`."""
        if not self.distributed:
            return x
        parts = [torch.empty_like(x) for _ in range(self.size)]
        dist.all_gather(parts, x.contiguous())
        return torch.stack(parts, dim=1).flatten(0, 1)

    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """``module`` in DistributedDataParallel (the module itself on one process).

        ``find_unused_parameters``: for networks that use only part of their weights per step
        (ProGAN's stages); their gradients then stay None, as on one process.
        """
        if not self.distributed:
            return module
        return DistributedDataParallel(
            module,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            forward_sync_buffers=False,  # buffers are synced once, at init; each rank keeps its own after that
            find_unused_parameters=find_unused_parameters,
        )

    @torch.no_grad()
    def mean(self, values: Sequence[torch.Tensor | float]) -> list[float]:
        """Scalars averaged over the ranks (for the log): one all-reduce for the whole list."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if self.distributed:
            t = t.to(self.device) if self.device.type == "cuda" else t
            dist.all_reduce(t)
            t = t.cpu() / self.size
        return t.tolist()

    def decide(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (stop or go on: all ranks take the same branch)."""
        if not self.distributed:
            return bool(flag)
        t = torch.tensor([int(bool(flag))], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(t, src=0)
        return bool(t.item())

    def sync_batch_norm(self, module: nn.Module) -> nn.Module:
        """``module`` with its batch norms normalising over the global batch (in place; on one process: as is).

        Call it before the optimiser and any copy (G_ema) are made. The parameters, buffers and
        state dict keys stay those of the plain batch norm; in eval mode (running statistics) it is
        the plain batch norm, and no rank waits for the others.
        """
        if self.distributed:
            for m in module.modules():
                if type(m) in _SYNCED:
                    m.__class__ = _SYNCED[type(m)]  # same parameters and buffers, synchronised forward
        return module

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier(device_ids=[self.device.index]) if self.device.type == "cuda" else dist.barrier()


class _SyncedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Training-mode batch norm over the global batch: per-channel sums all-reduced over the ranks
    (differentiable: ``torch.distributed.nn``), mean first, then the variance about it (two passes,
    as one process computes them), in float32; running statistics updated as ``F.batch_norm`` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [d for d in range(x.ndim) if d != 1]
        shape = [1, -1] + [1] * (x.ndim - 2)  # per channel, broadcast over [N, C, ...]
        xf = x.float()
        count = xf.numel() // xf.shape[1] * dist.get_world_size()
        mean = all_reduce(xf.sum(dims)) / count  # [C]
        var = all_reduce((xf - mean.view(shape)).square().sum(dims)) / count  # [C], biased, as used to normalise
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * count / max(count - 1, 1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


class _SyncedBatchNorm1d(_SyncedBatchNorm, nn.BatchNorm1d):
    pass


class _SyncedBatchNorm2d(_SyncedBatchNorm, nn.BatchNorm2d):
    pass


_SYNCED = {nn.BatchNorm1d: _SyncedBatchNorm1d, nn.BatchNorm2d: _SyncedBatchNorm2d}


def init(device: str | torch.device) -> World:
    """The :class:`World` of this process; joins the process group when launched by ``torchrun``.

    ``device``: the config's device. Under ``torchrun`` a CUDA device becomes ``cuda:LOCAL_RANK``
    (one GPU per process, whatever index was given) with the NCCL backend; a CPU device uses gloo.
    The group is created once per process (later calls reuse it) and destroyed at exit.
    """
    device = torch.device(device)
    if not launched():
        return World(0, 1, device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ValueError(f"multi-process training runs on CUDA (NCCL) or the CPU (gloo), got device {device}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
        atexit.register(_shutdown)
    elif dist.get_backend() != backend:
        raise ValueError(f"the process group uses {dist.get_backend()}, device {device} needs {backend}")
    return World(dist.get_rank(), dist.get_world_size(), device)


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
