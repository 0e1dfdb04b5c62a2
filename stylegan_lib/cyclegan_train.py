"""Training loop of CycleGAN (Zhu et al. 2017), as in the paper (see :mod:`stylegan_lib.cyclegan`).

Each step: N random crops from domain A and N from domain B. The generators G_AB and G_BA take
one Adam step on LSGAN + cycle_weight * cycle (+ identity_weight * identity) losses with the
discriminators frozen; then D_A and D_B take one Adam step on real crops against translations
drawn through their 50-image history pools. The learning rate is constant, then decays
linearly to 0 from ``decay_start`` to ``steps`` (:func:`stylegan_lib.cyclegan.learning_rate`).

The run folder gets ``model.safetensors`` + ``config.json`` (G_AB, or G_ema: what ships),
``train_state.*`` (exact resume: all four networks, both optimisers, crop samplers, history
pools and the torch RNG), ``log.csv`` and ``samples/step_NNNNNN.png`` (rows: A, G_AB(A),
G_ema(A) with ``ema_beta``, G_BA(G_AB(A)), B, G_BA(B) for four fixed crops). A ``time_limit_s``
ends the run cleanly with a checkpoint, so a long training can be cut into commands that fit a
time limit and resumed with the same command. ``bf16``: bfloat16 autocast, as in every trainer
(:mod:`stylegan_lib.precision`).

``init_g`` starts a new run's G_AB from a shipped generator (G_BA and both discriminators start
afresh); a transposed-convolution generator can start a resize-convolution run, its u-k kernels
converted (:func:`stylegan_lib.cyclegan.resize_weights_from_transpose`). With ``ema_beta``, an
exponential moving average of G_AB's weights is kept and ships instead of G_AB (as in
:mod:`stylegan_lib.siamese_train`): a short GAN run's last step is a noisy pick. ``d_scale`` < 1:
both discriminators judge every crop (real, translated, pooled) resized by that factor with an
antialiasing filter (:func:`stylegan_lib.training.discriminator_view`), so speckle and lattices
finer than two output pixels earn G no reward; the cycle and identity losses stay at full size.

Under ``torchrun`` the run is data-parallel (:mod:`stylegan_lib.distributed`): ``batch`` is the
global N, split across the ranks. The generators are wrapped in DistributedDataParallel for their
step, the discriminators for theirs (the generators' loss looks through the bare, frozen
discriminators). The history pools are the one-process pools on every rank: each rank gathers
all translations, queries its copy (same seed, same images, same order) and keeps its rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import checkpointing, distributed
from .cyclegan import (
    CycleGANConfig,
    HistoryPool,
    build_models,
    cycle_loss,
    learning_rate,
    load_generator,
    lsgan_d_loss,
    lsgan_g_loss,
    resize_weights_from_transpose,
)
from .data import CropConfig, CropSampler, list_images
from .images import save_png
from .precision import autocast_context, training_autocast, training_channels_last
from .training import (
    RunLog,
    RunSettings,
    TrainProgress,
    check_d_scale,
    check_ema_beta,
    discriminator_view,
    ema_copy,
    restore_run,
    sample_grid,
    save_run,
    snapshot_name,
    update_ema,
)

LOG_FIELDS = (
    *("step", "loss_g_ab", "loss_g_ba", "loss_cycle_a", "loss_cycle_b", "loss_idt_a", "loss_idt_b"),
    *("loss_d_a", "loss_d_b", "lr", "seconds"),
)
_SAMPLES = 4  # fixed crops per domain shown in the sample grids


@dataclass
class CycleGANTrainConfig(RunSettings):
    domain_a: list[str]  # folders of domain A images (photos)
    domain_b: list[str]  # folders of domain B images (paintings)
    out: str  # run folder
    steps: int = 100_000
    decay_start: int | None = None  # step where the linear decay to 0 starts (default: steps // 2, as the paper)
    batch: int = 1  # the paper's batch size
    crop: int = 256  # side of the random training crops
    max_side: int | None = None  # downscale images whose longest side exceeds this (both domains)
    lr: float = 2e-4
    beta1: float = 0.5
    cycle_weight: float = 10.0  # lambda
    identity_weight: float = 5.0  # 0.5 * lambda as in the paper's painting <-> photo runs; 0 = off
    pool_size: int = 50
    init_g: str | None = None  # a new run starts G_AB from these weights (model folder or .safetensors; see below)
    ema_beta: float | None = None  # G_ema <- beta * G_ema + (1 - beta) * G_AB each step, and G_ema ships; None: G_AB
    d_scale: float = 1.0  # both discriminators see every crop resized by this factor (antialiased); cycles stay at 1
    model: CycleGANConfig = field(default_factory=CycleGANConfig)


def train_cyclegan(
    config: CycleGANTrainConfig, *, callback: Callable[[TrainProgress], bool | None] | None = None
) -> Path:
    """Train (or resume) the run in ``config.out``; returns the path of the shipped weights (G_AB)."""
    out = Path(config.out)
    world = distributed.init(config.device)
    device = world.device
    world.local_batch(config.batch)  # the global batch must split evenly across the ranks
    decay_start = config.steps // 2 if config.decay_start is None else config.decay_start
    learning_rate(0, lr=config.lr, steps=config.steps, decay_start=decay_start)  # validates decay_start
    check_ema_beta(config.ema_beta)
    check_d_scale(config.d_scale)
    d_size = round(config.crop * config.d_scale)  # the side both discriminators see

    def view(x: torch.Tensor) -> torch.Tensor:
        return discriminator_view(x, size=d_size)

    torch.manual_seed(config.seed)
    paths_a, paths_b = list_images(*config.domain_a), list_images(*config.domain_b)
    crop = CropConfig(crop=config.crop, max_side=config.max_side, seed=config.seed)
    sampler_a = CropSampler(paths_a, crop)
    sampler_b = CropSampler(paths_b, CropConfig(crop=config.crop, max_side=config.max_side, seed=config.seed + 1))
    fixed = CropConfig(crop=config.crop, max_side=config.max_side, flip=False, seed=1234)
    show_a = CropSampler(paths_a[:_SAMPLES], fixed).sample(_SAMPLES).to(device)  # [4, 3, c, c]
    show_b = CropSampler(paths_b[:_SAMPLES], fixed).sample(_SAMPLES).to(device)

    nets = {k: m.to(device) for k, m in build_models(config.model).items()}
    autocast_dtype = training_autocast(device, config.bf16)  # precision.py: what bf16 means in every trainer
    if training_channels_last(device, autocast_dtype):
        nets = {k: m.to(memory_format=torch.channels_last) for k, m in nets.items()}
    G_AB, G_BA, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
    betas = (config.beta1, 0.999)
    opt_g = torch.optim.Adam(itertools.chain(G_AB.parameters(), G_BA.parameters()), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=config.lr, betas=betas)
    pool_a = HistoryPool(config.pool_size, seed=config.seed + 2)  # translations B -> A shown to D_A
    pool_b = HistoryPool(config.pool_size, seed=config.seed + 3)  # translations A -> B shown to D_B

    # what a checkpoint holds and a resume restores (with the torch RNG); the pools are restored below, on the device
    parts = {**nets, "opt_g": opt_g, "opt_d": opt_d, "sampler_a": sampler_a, "sampler_b": sampler_b}
    step, elapsed = 0, 0.0
    state = checkpointing.load_state(out)
    if state is not None:
        restore_run(out, state, parts, model=asdict(config.model))
        for pool, key in ((pool_a, "pool_a"), (pool_b, "pool_b")):
            pool.load_state_dict({**state[key], "images": [t.to(device) for t in state[key]["images"]]})
        step, elapsed = state["step"], state["elapsed"]
    elif config.init_g is not None:
        G_AB.load_state_dict(_init_weights(config.init_g, config.model))
    # G_ema starts as G_AB (also when a run begun without it is resumed with ema_beta)
    G_ema = ema_copy(G_AB, beta=config.ema_beta, saved=None if state is None else state.get("G_ema"))

    def save() -> None:
        counters = {"step": step, "elapsed": elapsed, "config": asdict(config)}
        info = {"direction": "A->B", "trained_steps": step, "train_seconds": round(elapsed), "crop": config.crop}
        if config.init_g is not None:
            info["init"] = config.init_g  # trained_steps counts the steps after it
        if G_ema is not None:
            info["ema_beta"] = config.ema_beta
        if config.d_scale != 1.0:
            info["d_scale"] = config.d_scale
        saved = {**parts, "pool_a": pool_a, "pool_b": pool_b, "G_ema": G_ema}
        shipped = G_AB if G_ema is None else G_ema
        snapshot = snapshot_name(step) if config.keep_snapshots else None
        save_run(out, saved, counters=counters, shipped=shipped, model=config.model.to_dict(), training=info,
                 snapshot=snapshot)  # fmt: skip

    def save_samples(path: Path) -> None:
        with torch.no_grad(), autocast:
            ab = G_AB(show_a)
            rows = [show_a, ab, G_BA(ab), show_b, G_BA(show_b)]
            if G_ema is not None:
                rows.insert(2, G_ema(show_a))
        save_png(sample_grid([r.float().cpu() for r in rows]), path)

    # DDP wrappers, each called only in its own step
    G_AB_train, G_BA_train, D_A_train, D_B_train = (world.wrap(m) for m in (G_AB, G_BA, D_A, D_B))

    autocast = autocast_context(device, autocast_dtype)
    zero = torch.zeros((), device=device)
    with RunLog(
        out, LOG_FIELDS, elapsed=elapsed, time_limit_s=config.time_limit_s, world=world, steps=config.steps
    ) as run:
        while step < config.steps:
            lr = learning_rate(step, lr=config.lr, steps=config.steps, decay_start=decay_start)
            for group in (*opt_g.param_groups, *opt_d.param_groups):
                group["lr"] = lr
            a = world.shard(sampler_a.sample(config.batch)).to(device)  # [n, 3, c, c] in [0, 1]
            b = world.shard(sampler_b.sample(config.batch)).to(device)

            # generators: fool both discriminators, close both cycles
            for D in (D_A, D_B):
                D.requires_grad_(False)
            with autocast:
                fake_b, fake_a = G_AB_train(a), G_BA_train(b)
                l_g_ab, l_g_ba = lsgan_g_loss(D_B(view(fake_b))), lsgan_g_loss(D_A(view(fake_a)))  # bare, frozen Ds
                l_cyc_a, l_cyc_b = cycle_loss(G_BA_train(fake_b), a), cycle_loss(G_AB_train(fake_a), b)
                loss_g = l_g_ab + l_g_ba + config.cycle_weight * (l_cyc_a + l_cyc_b)
                l_idt_a = l_idt_b = zero
                if config.identity_weight:
                    l_idt_a, l_idt_b = cycle_loss(G_BA_train(a), a), cycle_loss(G_AB_train(b), b)
                    loss_g = loss_g + config.identity_weight * (l_idt_a + l_idt_b)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

            # discriminators: real crops against translations from the history pools
            for D in (D_A, D_B):
                D.requires_grad_(True)
            # the pools see the global batch's translations in global order, as on one process
            past_b = world.shard(pool_b.query(world.gather(fake_b.detach().float())))
            past_a = world.shard(pool_a.query(world.gather(fake_a.detach().float())))
            with autocast:
                l_d_b = lsgan_d_loss(D_B_train(view(b)), D_B_train(view(past_b)))
                l_d_a = lsgan_d_loss(D_A_train(view(a)), D_A_train(view(past_a)))
                loss_d = l_d_a + l_d_b
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            if G_ema is not None:
                update_ema(G_ema, G_AB, beta=config.ema_beta)
            step += 1
            elapsed = run.elapsed

            if run.due(step, config.log_every):
                values = world.mean([l_g_ab, l_g_ba, l_cyc_a, l_cyc_b, l_idt_a, l_idt_b, l_d_a, l_d_b])  # over ranks
                losses = dict(zip(LOG_FIELDS[1:-2], (round(v, 5) for v in values), strict=True))
                run.write([step, *losses.values(), f"{lr:.3g}", round(elapsed, 1)])
                if run.report(callback, TrainProgress(step, config.steps, losses)):
                    break
            if world.main and run.due(step, config.sample_every):
                save_samples(run.sample_path(step))
            if world.main and step % config.checkpoint_every == 0:
                save()
            if run.out_of_time():
                break
        return run.finish(save)


def _init_weights(path: str, model: CycleGANConfig) -> dict[str, torch.Tensor]:
    """G_AB's starting weights from a shipped generator at ``path``: the same architecture, or the
    transposed-convolution version of a resize-convolution run (converted, see
    :func:`stylegan_lib.cyclegan.resize_weights_from_transpose`)."""
    start, start_config = load_generator(path=path)
    if start_config == model:
        return start.state_dict()
    if asdict(start_config) == {**asdict(model), "upsample": "transpose"} and model.upsample == "resize":
        return resize_weights_from_transpose(start)
    raise ValueError(f"init_g {path} has another model config: {start_config} (run: {model})")
