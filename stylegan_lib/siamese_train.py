"""Training loop of the Siamese GAN with the Combo model.

Each step: 2N crops of 2S x 2S from domain A, N from domain B. AB = Combo(A) (cut into
S x S tiles, G on each, stitched). D minimises LossD1 + LossD2 + LossD3, then G minimises
LossG1 + LossG2 (see :mod:`stylegan_lib.siamese`); A1 / A2 are the two halves of the A batch.

Two choices around the seed's losses: ``d_backbone="vgg19"`` makes D a set of heads over
frozen VGG19 features (:class:`~stylegan_lib.siamese.FeatureDiscriminator`) instead of a
network learning from pixels, and ``content_weight`` adds a VGG19 content term between AB and
A. With either, the frozen VGG19 runs once per batch and both share its features. ``d_scale``
< 1 shows the feature D antialiased, smaller crops (:func:`~stylegan_lib.training.discriminator_view`),
so the 2- and 4-px texture of G's upsampling lattice, which a D at full size rewards, is below
what it can see; the content term still compares the full-size crops.
``equivariance_weight`` adds :func:`~stylegan_lib.siamese.shift_equivariance_loss`: G on
tile windows of each A1 crop one pixel apart (across and down) must paint the same, which leaves no room for
patterns locked to G's upsampling lattice (the 2- and 4-px grid a feature discriminator rewards).

With ``ema_beta``, an exponential moving average of G's weights (Karras et al. 2018; Yazici
et al. 2019) is kept beside G and is what ships: a GAN's G oscillates around the equilibrium,
from one checkpoint to the next, and the average is steadier than any one snapshot.

The run folder gets ``model.safetensors`` + ``config.json`` (G, or G_ema: what ships),
``train_state.*`` (resume), ``log.csv`` and ``samples/step_NNNNNN.png`` (rows: A, AB, and
G_ema(A) with ``ema_beta``).
A ``time_limit_s`` ends the run cleanly with a checkpoint, so a long training can be cut
into commands that fit a 10-minute limit and resumed with the same command.

Under ``torchrun`` the run is data-parallel (:mod:`stylegan_lib.distributed`): ``batch`` is the
global N, each rank keeps N / ranks of the pairs (A1, A2) and of the B crops; G and D are each
wrapped in DistributedDataParallel and called through their wrapper only in their own step (G's
step looks through the bare D, frozen), so a 2-process run trains the 1-process model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import checkpointing, distributed
from .data import CropConfig, CropSampler, list_images
from .images import save_png
from .precision import autocast_context, training_autocast, training_channels_last
from .siamese import (
    FeatureDiscriminator,
    SiameseConfig,
    build_models,
    content_loss,
    load_generator,
    loss_d_fake,
    loss_d_real,
    loss_g_adv,
    loss_siamese_spread,
    loss_transformation,
    shift_equivariance_loss,
    shift_windows,
    transformation_cosine,
    vgg19_features,
)
from .tiling import combo, cut_tiles, stitch_tiles
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
from .vgg import load_vgg19

LOG_FIELDS = (
    *("step", "loss_d1", "loss_d2", "loss_d3", "loss_spread", "loss_g1", "loss_g2"),
    *("loss_content", "loss_eq", "cos", "norm_b", "norm_ab", "seconds"),
)


@dataclass
class SiameseTrainConfig(RunSettings):
    domain_a: list[str]  # folders of domain A images (photos)
    domain_b: list[str]  # folders of domain B images (paintings)
    out: str  # run folder
    steps: int = 20_000
    batch: int = 8  # N: D sees N real B, 2N A and 2N AB per step
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    travel_weight: float = 1.0  # weight of LossD3 / LossG2
    spread_weight: float = 1.0  # weight of D's contrastive spread term (0 = the seed's losses only)
    identity_weight: float = 0.0  # L1(Combo(B), B): paintings stay paintings (CycleGAN's identity term)
    combo: bool = True  # False: the naive baseline, D judges single S x S tiles (seams are never seen)
    d_backbone: str = "pixels"  # pixels: the seed's convolutional D; vgg19: heads over frozen VGG19 features
    content_weight: float = 0.0  # weight of the VGG19 content term between AB and A (0 = off)
    content_layer: str = "relu4_1"  # VGG19 layer of the content term
    equivariance_weight: float = 0.0  # weight of G's one-pixel shift-equivariance term (0 = off)
    d_scale: float = 1.0  # vgg19 D sees the crops resized by this factor (antialiased); the content term stays at 1
    vgg_path: str | None = None  # Caffe VGG19 .safetensors for vgg19 D or the content term (default: hub.py)
    init_g: str | None = None  # a new run starts G from these weights (model folder or .safetensors; any upsample)
    ema_beta: float | None = None  # G_ema <- beta * G_ema + (1 - beta) * G each step, and G_ema ships; None: G
    max_side_a: int | None = None  # downscale domain A images (the Siamese GAN article's fix for HD sets)
    max_side_b: int | None = None  # downscale domain B images likewise
    model: SiameseConfig = field(default_factory=SiameseConfig)


D_BACKBONES = ("pixels", "vgg19")


def _check(config: SiameseTrainConfig) -> None:
    if config.d_backbone not in D_BACKBONES:
        raise ValueError(f"d_backbone must be one of {list(D_BACKBONES)}, got {config.d_backbone!r}")
    if config.content_weight < 0:
        raise ValueError(f"content_weight must be >= 0, got {config.content_weight}")
    if config.equivariance_weight < 0:
        raise ValueError(f"equivariance_weight must be >= 0, got {config.equivariance_weight}")
    if config.equivariance_weight and not config.combo:
        raise ValueError("equivariance_weight needs the Combo model's 2S crops (combo=True)")
    check_d_scale(config.d_scale)
    if config.d_scale != 1.0 and config.d_backbone != "vgg19":
        raise ValueError("d_scale < 1 needs the vgg19 discriminator (the pixel D is built for 2S x 2S crops)")
    check_ema_beta(config.ema_beta)


def combo_with_shifts(G, a: torch.Tensor, *, n: int, tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Combo(G, a) [2N, 3, 2S, 2S] and G on shift_windows(a[:n]) [3n, 3, S, S], from one call of G
    (one forward of a DDP-wrapped G per step; instance norm is per tile, so the batch is neutral)."""
    tiles = cut_tiles(a, tile)
    out = G(torch.cat([tiles, shift_windows(a[:n], tile=tile)]))
    ab = stitch_tiles(out[: len(tiles)], grid=(a.shape[-2] // tile, a.shape[-1] // tile))
    return ab, out[len(tiles) :]


def train_siamese(
    config: SiameseTrainConfig, *, callback: Callable[[TrainProgress], bool | None] | None = None
) -> Path:
    """Train (or resume) the run in ``config.out``; returns the path of the shipped weights."""
    _check(config)
    out = Path(config.out)
    world = distributed.init(config.device)
    device, n = world.device, world.local_batch(config.batch)  # n: this rank's pairs (A1, A2) and B crops
    torch.manual_seed(config.seed)
    crop = 2 * config.model.tile if config.combo else config.model.tile
    sampler_a = CropSampler(
        list_images(*config.domain_a), CropConfig(crop=crop, max_side=config.max_side_a, seed=config.seed)
    )
    sampler_b = CropSampler(
        list_images(*config.domain_b), CropConfig(crop=crop, max_side=config.max_side_b, seed=config.seed + 1)
    )
    G, D = build_models(config.model, combo=config.combo)
    d_size = round(crop * config.d_scale)  # the side D sees
    if config.d_backbone == "vgg19":
        D = FeatureDiscriminator(config.model, size=d_size)
    G, D = G.to(device), D.to(device)
    autocast_dtype = training_autocast(device, config.bf16)  # precision.py: what bf16 means in every trainer
    channels_last = training_channels_last(device, autocast_dtype)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    d_layers = set(D.layers) if isinstance(D, FeatureDiscriminator) else set()
    c_layers = {config.content_layer} if config.content_weight else set()
    vgg = None
    if d_layers or c_layers:
        vgg = load_vgg19(path=config.vgg_path, device=device)  # frozen, cached per process
        if channels_last:  # a copy: the cached VGG19 is shared with the rest of the process
            vgg = copy.deepcopy(vgg).to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(config.beta1, 0.999))

    # what a checkpoint holds and a resume restores (with the torch RNG); G_ema is restored below, on its own
    parts = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "sampler_a": sampler_a, "sampler_b": sampler_b}
    step, elapsed = 0, 0.0
    state = checkpointing.load_state(out)
    if state is not None:
        restore_run(out, state, parts, model=asdict(config.model))
        step, elapsed = state["step"], state["elapsed"]
    elif config.init_g is not None:
        start, start_config = load_generator(path=config.init_g)
        if replace(start_config, upsample=config.model.upsample) != config.model:  # upsampling has no weights
            raise ValueError(f"init_g {config.init_g} has another model config: {start_config}")
        G.load_state_dict(start.state_dict())
    # G_ema starts as G (also when a run begun without it is resumed with ema_beta)
    G_ema = ema_copy(G, beta=config.ema_beta, saved=None if state is None else state.get("G_ema"))

    def save() -> None:
        info = {"trained_steps": step, "train_seconds": round(elapsed), "combo": config.combo}
        if G_ema is not None:
            info["ema_beta"] = config.ema_beta
        counters = {"step": step, "elapsed": elapsed, "config": asdict(config)}
        shipped = G if G_ema is None else G_ema
        model = config.model.to_dict()
        snapshot = snapshot_name(step) if config.keep_snapshots else None
        save_run(out, {**parts, "G_ema": G_ema}, counters=counters, shipped=shipped, model=model, training=info,
                 snapshot=snapshot)  # fmt: skip

    # DDP wrappers, called only in their own step: D_train in D's step, G_train in G's (both steps
    # use the one forward of G). G's loss looks through the bare D, frozen: no D gradient, no all-reduce.
    G_train, D_train = world.wrap(G), world.wrap(D)

    def look(x: torch.Tensor, *, grad: bool = False, content: bool = True):
        # the frozen VGG19's features of x: (what D sees, what the content term compares); at
        # d_scale 1 one trunk pass serves both ({} where there is neither)
        layers = c_layers if content else set()
        with torch.set_grad_enabled(grad):
            if config.d_scale == 1.0:
                features = vgg19_features(vgg, x, d_layers | layers) if d_layers | layers else {}
                return features, features
            f_d = vgg19_features(vgg, discriminator_view(x, size=d_size), d_layers)
            return f_d, vgg19_features(vgg, x, layers) if layers else {}

    def d_input(x: torch.Tensor, features: dict[str, torch.Tensor]):
        return features if isinstance(D, FeatureDiscriminator) else x

    autocast = autocast_context(device, autocast_dtype)
    zero = torch.zeros((), device=device)
    with RunLog(
        out, LOG_FIELDS, elapsed=elapsed, time_limit_s=config.time_limit_s, world=world, steps=config.steps
    ) as run:
        while step < config.steps:
            a = sampler_a.sample(2 * config.batch)  # global [2N, 3, 2S, 2S]: A1 = a[:N], A2 = a[N:]
            a = torch.cat([world.shard(a[: config.batch]), world.shard(a[config.batch :])]).to(device)  # [2n, ...]
            b = world.shard(sampler_b.sample(config.batch)).to(device)  # [n, 3, 2S, 2S]

            with autocast:
                (f_a, c_a), (f_b, _) = look(a), look(b, content=False)
                if config.equivariance_weight:  # shifted windows of A1 in the same call of G (one DDP forward)
                    ab, shifted = combo_with_shifts(G_train, a, n=n, tile=config.model.tile)
                else:
                    ab = combo(G_train, a, tile=config.model.tile)  # [2N, 3, 2S, 2S] (naive: [2N, 3, S, S], one tile)
                f_ab, c_ab = look(ab, grad=True)  # kept with their graph for G's step below (VGG19 is frozen)
                f_ab_d = {k: v.detach() for k, v in f_ab.items()}
                d_a, d_ab = D_train(d_input(a, f_a)), D_train(d_input(ab.detach(), f_ab_d))
                d_b = D_train(d_input(b, f_b))
                l_d1 = loss_d_real(d_b)
                l_d2 = loss_d_fake(d_ab, margin=config.model.margin)
                l_d3 = loss_transformation(d_a[:n], d_a[n:], d_ab[:n], d_ab[n:])
                l_spread = loss_siamese_spread(d_a[:n], d_a[n:], margin=config.model.margin)
                loss_d = l_d1 + l_d2 + config.travel_weight * l_d3 + config.spread_weight * l_spread
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            D.requires_grad_(False)  # G's step: gradients flow through D to G only
            with autocast:
                d_a, d_ab = D(d_input(a, f_a)).detach(), D(d_input(ab, f_ab))
                l_g1 = loss_g_adv(d_ab)
                l_g2 = loss_transformation(d_a[:n], d_a[n:], d_ab[:n], d_ab[n:])
                loss_g = l_g1 + config.travel_weight * l_g2
                l_content = content_loss(c_ab, c_a, layer=config.content_layer) if config.content_weight else zero
                loss_g = loss_g + config.content_weight * l_content
                l_eq = shift_equivariance_loss(shifted) if config.equivariance_weight else zero
                loss_g = loss_g + config.equivariance_weight * l_eq
                if config.identity_weight:
                    identity = combo(G_train, b, tile=config.model.tile)
                    loss_g = loss_g + config.identity_weight * (identity - b).abs().mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)
            if G_ema is not None:
                update_ema(G_ema, G, beta=config.ema_beta)
            step += 1
            elapsed = run.elapsed

            if run.due(step, config.log_every):
                with torch.no_grad():
                    cos = transformation_cosine(d_a[:n], d_a[n:], d_ab[:n], d_ab[n:])
                norms = [d_b.norm(dim=1).mean(), d_ab.detach().norm(dim=1).mean()]
                values = world.mean([l_d1, l_d2, l_d3, l_spread, l_g1, l_g2, l_content, l_eq, cos, *norms])  # ranks
                losses = dict(zip(LOG_FIELDS[1:-1], (round(v, 5) for v in values), strict=True))
                run.write([step, *losses.values(), round(elapsed, 1)])
                if run.report(callback, TrainProgress(step, config.steps, losses)):
                    break
            if world.main and run.due(step, config.sample_every):
                rows = [a[:6].float().cpu(), ab[:6].detach().float().cpu()]
                if G_ema is not None:
                    with torch.no_grad(), autocast:
                        rows.append(combo(G_ema, a[:6], tile=config.model.tile).float().cpu())
                save_png(sample_grid(rows), run.sample_path(step))
            if world.main and step % config.checkpoint_every == 0:
                save()
            if run.out_of_time():
                break
        return run.finish(save)
