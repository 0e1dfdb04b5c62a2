"""One optimisation step captured in a CUDA graph and replayed (torch.cuda.CUDAGraph).

An optimisation whose step is always the same kernels on tensors of the same shapes (a network's
forward, the loss, backward to the optimised tensor, Adam, a clamp) can be recorded once and
replayed: the replay launches the whole step with one call instead of hundreds of kernel
launches from Python, which is what limits small and medium steps on a fast GPU. Used by
``latent.closest_latent`` (the latent search) and ``nst.stylize`` (Gatys).

What a step must be to be captured (PyTorch's "CUDA Graphs" notes):

* a function of static tensors only: the optimised parameter, its gradient and the optimiser's
  state are allocated before the capture and updated in place by every replay;
* the optimiser built with ``capturable=True`` (Adam keeps its step count on the device, so the
  bias corrections are computed by kernels, not read on the host);
* ``zero_grad(set_to_none=False)``: the gradient stays one tensor the graph writes into;
* no host synchronisation and no data-dependent control flow inside it (L-BFGS's line search and
  convergence tests read values on the host, so it cannot be captured);
* autocast without its weight cache (a cached cast must not outlive the capture; frozen weights,
  which do not require grad, are never cached anyway).

The outputs the step returns are tensors in the graph's memory: every replay overwrites them,
so a caller that keeps one across replays must copy it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def graphed_step(
    step: Callable[[], tuple], param: torch.Tensor, optimizer: torch.optim.Optimizer, *, warmup: int = 3
) -> Callable[[], tuple]:
    """``step`` (one optimiser step of ``param``) captured in a CUDA graph; returns a function that
    replays it and gives its outputs (the same tensors every time, overwritten by each replay).

    ``warmup`` steps on a side stream allocate ``param.grad`` and the optimiser's state (the graph
    needs them to exist) and let cuDNN pick its algorithms; then :func:`reset_to_start` puts
    ``param`` and the optimiser back as they were, so the first replay is the eager loop's first step.
    """
    if param.device.type != "cuda":
        raise ValueError(f"a CUDA graph needs a CUDA tensor, got one on {param.device}")
    start = param.detach().clone()
    side = torch.cuda.Stream(device=param.device)
    side.wait_stream(torch.cuda.current_stream(param.device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(param.device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = step()
    reset_to_start(param, start, optimizer)

    def replay() -> tuple:
        graph.replay()
        return outputs

    return replay


@torch.no_grad()
def reset_to_start(param: torch.Tensor, start: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """``param`` back to ``start`` and the optimiser's state to what it is before its first step,
    in place (a captured graph keeps reading the same tensors): Adam's step count and both moments
    are zeros, as Adam creates them. The gradient is left: every step zeroes it first."""
    param.copy_(start)
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value):
                value.zero_()
