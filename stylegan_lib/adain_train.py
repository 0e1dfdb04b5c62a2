"""Training loop of the AdaIN decoder (Huang & Belongie 2017; see :mod:`stylegan_lib.adain`).

Each step: N content crops and N style crops; t = AdaIN(f(c), f(s)); loss = content_weight *
MSE(f(g(t)), t) + style_weight * sum_i [MSE(mu_i) + MSE(sigma_i)] over relu1_1..relu4_1, every
layer in units of its mean activation (``adain.FEATURE_SCALES``).
Adam with the reference code's decay, lr_t = lr / (1 + lr_decay * t). Only the decoder learns.

Content batches are drawn evenly from the content folders (``balance_content``; 9,500 faces
would otherwise drown 900 photos); style crops are drawn from all style images pooled.

The run folder gets ``model.safetensors`` + ``config.json`` (the decoder: what ships),
``train_state.*`` (exact resume), ``log.csv`` and ``samples/step_NNNNNN.png`` (rows:
content, style, result). ``time_limit_s`` ends the run cleanly with a checkpoint. ``init`` starts
a new run from trained decoder weights: a fine-tune, e.g. of a nearest-upsampling decoder with
``model.upsample="bilinear"`` (upsampling has no weights; every other model field must match).

Under ``torchrun`` the run is data-parallel (:mod:`stylegan_lib.distributed`): ``batch`` is the
global batch of content and of style crops, split across the ranks; the decoder is in
DistributedDataParallel, the frozen VGG19 encoder is not wrapped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import adain, checkpointing, distributed
from .data import CropConfig, CropSampler, list_images
from .images import save_png
from .precision import autocast_context, training_autocast, training_channels_last
from .training import RunLog, RunSettings, TrainProgress, restore_run, sample_grid, save_run, snapshot_name
from .vgg import load_vgg19

LOG_FIELDS = ("step", "loss", "loss_content", "loss_style", "lr", "seconds")


@dataclass
class AdaINTrainConfig(RunSettings):
    content: list[str]  # folders of content images (photos)
    style: list[str]  # folders of style images (paintings)
    out: str  # run folder
    steps: int = 160_000  # the paper's 160k iterations
    batch: int = 8
    crop: int = 256  # random crops of this side (paper: 256 from images resized to 512)
    max_side_content: int | None = 512  # downscale larger images first (paper: 512)
    max_side_style: int | None = 512  # likewise for the style images
    balance_content: bool = True  # draw each batch evenly from the content folders
    lr: float = 1e-4
    lr_decay: float = 5e-5  # lr / (1 + lr_decay * step), as the reference code
    content_weight: float = 1.0
    style_weight: float = 10.0  # the paper's lambda
    init: str | None = None  # a new run starts from these decoder weights (folder or .safetensors; any upsample)
    model: adain.AdaINConfig = field(default_factory=adain.AdaINConfig)


def _samplers(config: AdaINTrainConfig) -> tuple[list[CropSampler], CropSampler]:
    def crops(seed: int, max_side: int | None) -> CropConfig:
        side = None if max_side is None else max(max_side, config.crop)
        return CropConfig(crop=config.crop, max_side=side, seed=seed)

    groups = [[d] for d in config.content] if config.balance_content else [config.content]
    content = [
        CropSampler(list_images(*g), crops(config.seed + i, config.max_side_content)) for i, g in enumerate(groups)
    ]
    style = CropSampler(list_images(*config.style), crops(config.seed + 1000, config.max_side_style))
    return content, style


def _content_batch(samplers: list[CropSampler], n: int) -> torch.Tensor:
    counts = [n // len(samplers) + (i < n % len(samplers)) for i in range(len(samplers))]
    return torch.cat([s.sample(k) for s, k in zip(samplers, counts, strict=True) if k > 0])  # [N, 3, crop, crop]


def train_step_losses(decoder, encoder, content, style, *, config: AdaINTrainConfig):
    """(loss, content part, style part, output) for one batch; the AdaIN target carries no gradient."""
    eps, last = config.model.eps, adain.ENCODER_LAYER
    with torch.no_grad():
        f_c = adain.encode(encoder, content)  # [N, 512, c/8, c/8]
        f_s = adain.loss_features(encoder, style)  # scaled: AdaIN is scale-equivariant, the decoder gets raw units
        target = adain.adain(f_c, f_s[last] * adain.FEATURE_SCALES[last], eps=eps)
    out = decoder(target)  # [N, 3, crop, crop]
    f_g = adain.loss_features(encoder, out)
    l_c = adain.content_loss(f_g[last], target / adain.FEATURE_SCALES[last])
    l_s = adain.style_loss([f_g[k] for k in adain.STYLE_LAYERS], [f_s[k] for k in adain.STYLE_LAYERS], eps=eps)
    return config.content_weight * l_c + config.style_weight * l_s, l_c, l_s, out


def train_adain(config: AdaINTrainConfig, *, callback: Callable[[TrainProgress], bool | None] | None = None) -> Path:
    """Train (or resume) the run in ``config.out``; returns the path of the shipped decoder weights."""
    out = Path(config.out)
    world = distributed.init(config.device)
    device = world.device
    world.local_batch(config.batch)  # the global batch must split evenly across the ranks
    torch.manual_seed(config.seed)
    content_samplers, style_sampler = _samplers(config)
    decoder = adain.Decoder(config.model).to(device)
    encoder = load_vgg19(config.model.vgg_weights, device=device)  # frozen, cached per process
    autocast_dtype = training_autocast(device, config.bf16)  # precision.py: what bf16 means in every trainer
    channels_last = training_channels_last(device, autocast_dtype)
    if channels_last:  # the encoder as a copy: the cached VGG19 is shared with the rest of the process
        decoder = decoder.to(memory_format=torch.channels_last)
        encoder = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(decoder.parameters(), lr=config.lr)

    # what a checkpoint holds and a resume restores (with the torch RNG)
    parts = {"decoder": decoder, "opt": opt, "content_samplers": content_samplers, "style_sampler": style_sampler}
    step, elapsed = 0, 0.0
    state = checkpointing.load_state(out)
    if state is not None:
        restore_run(out, state, parts, model=asdict(config.model))
        step, elapsed = state["step"], state["elapsed"]
    elif config.init is not None:  # a fine-tune: the lr schedule and step count start afresh
        start, start_config = adain.load_decoder(path=config.init)
        if replace(start_config, upsample=config.model.upsample) != config.model:  # upsampling has no weights
            raise ValueError(f"init {config.init} has another model config: {start_config} (run: {config.model})")
        decoder.load_state_dict(start.state_dict())

    def save() -> None:
        counters = {"step": step, "elapsed": elapsed, "config": asdict(config)}
        info = {"trained_steps": step, "train_seconds": round(elapsed)}
        if config.init is not None:
            info["init"] = config.init  # trained_steps counts the steps after it
        snapshot = snapshot_name(step) if config.keep_snapshots else None
        save_run(out, parts, counters=counters, shipped=decoder, model=config.model.to_dict(), training=info,
                 snapshot=snapshot)  # fmt: skip

    decoder_train = world.wrap(decoder)  # DDP (the decoder itself on one process)
    autocast = autocast_context(device, autocast_dtype)
    with RunLog(
        out, LOG_FIELDS, elapsed=elapsed, time_limit_s=config.time_limit_s, world=world, steps=config.steps
    ) as run:
        while step < config.steps:
            content = world.shard(_content_batch(content_samplers, config.batch)).to(device)  # [n, 3, crop, crop]
            style = world.shard(style_sampler.sample(config.batch)).to(device)
            if channels_last:
                content = content.to(memory_format=torch.channels_last)
                style = style.to(memory_format=torch.channels_last)
            lr = config.lr / (1.0 + config.lr_decay * step)
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast:
                loss, l_c, l_s, result = train_step_losses(decoder_train, encoder, content, style, config=config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            elapsed = run.elapsed

            if run.due(step, config.log_every):
                values = world.mean([loss, l_c, l_s])  # over the ranks
                losses = dict(zip(LOG_FIELDS[1:4], values, strict=True))
                run.write([step, *(f"{v:.6g}" for v in values), f"{lr:.6g}", round(elapsed, 1)])
                if run.report(callback, TrainProgress(step, config.steps, losses)):
                    break
            if world.main and run.due(step, config.sample_every):
                rows = [content[:4], style[:4], result[:4].detach().clamp(0, 1)]
                save_png(sample_grid([r.float().cpu() for r in rows]), run.sample_path(step))
            if world.main and step % config.checkpoint_every == 0:
                save()
            if run.out_of_time():
                break
        return run.finish(save)
