"""Training loop of the progressive GAN (ProGAN, Karras et al. 2018) and of the DCGAN baseline (Radford et al. 2016).

Schedule (Karras et al. 2018, section 3 and appendix A): stage 0 (4x4) stabilises for
``kimg_per_phase`` thousand images; every later stage k (resolution ``4 * 2**k``) first fades in
for ``kimg_per_phase`` (alpha rising linearly from 0 to 1, real images blended the same way:
``lerp(upsample(downsample(x)), x, alpha)``), then stabilises; the last stabilisation lasts
``kimg_final`` when given. The DCGAN has one phase at full resolution. The position in the
schedule is the number of images shown, so a resumed run picks up the same stage and alpha.

Each step: one D step on a real and a fake batch, then one G step, then G_ema <- EMA(G). Loss
from the model config: ``"wgan-gp"`` (WGAN-GP, lambda ``gp_weight``, plus ``drift_weight *
E[D(x)^2]``) or ``"ns"`` (non-saturating logistic; with ``r1_gamma``, plus R1 on the real batch
every ``r1_every`` steps). Adam lr 1e-3, betas (0, 0.99) as in the paper. With ``pl_weight``, G's
loss adds StyleGAN2's path-length term (``progan.PathLengthPenalty``) every ``pl_every`` steps.
With ``augment`` set, D sees real and generated images only through DiffAugment
(``augment.py``; Zhao et al. 2020), in both steps, so it cannot memorise a small face set.
With ``d_backbone="vgg19"``, a second discriminator judges the same augmented images through a
frozen VGG19 (``projected.py``: Projected GAN, Sauer et al. 2021; Vision-aided GAN, Kumari et al.
2022), with the hinge loss, its trainable heads on their own Adam; its G term is added to ProGAN's.
``d_pixel=False`` drops ProGAN's own D (Projected GAN's setting). The VGG19 weights are read from
``d_backbone_weights`` (or hub.py) at every start and never saved: the train state holds the heads.
``bf16``: bfloat16 autocast, as in every trainer (:mod:`stylegan_lib.precision`).

The run folder gets ``model.safetensors`` + ``config.json`` (G_ema: what ships),
``train_state.*`` (resume), ``log.csv`` and ``samples/step_NNNNNN.png`` (G_ema on fixed latents,
upsampled to the final resolution, so grids are comparable over the whole run); with
``snapshot_kimg``, ``snapshots/imagesNNNNNNNNN/`` keeps G_ema (+ ``config.json``) along the way, so an
earlier point of a run that later degrades can still be evaluated and shipped (``keep_snapshots``:
the same at every checkpoint). A
``time_limit_s`` ends the run cleanly with a checkpoint, a log row and a sample grid of its last
step; the same command resumes it exactly.

Under ``torchrun`` the run is data-parallel (:mod:`stylegan_lib.distributed`): every batch size
(``batch``, ``batch_per_res``) is the global one, split across the ranks; latents, GP mixing
weights and DiffAugment draws are made for the global batch, so each rank holds its rows of the
one-process step. G, D and the feature discriminator's heads are each in DistributedDataParallel
for their own step (G's and D's with ``find_unused_parameters``: a stage uses part of the
weights); G's loss looks through the bare, frozen discriminators. Minibatch standard deviation
groups are the rank's own samples (the paper's multi-GPU rule), which are the one-process groups
when ``mbstd_group * ranks`` divides the batch (rank 0 warns at the start for each resolution where
it does not). The DCGAN's batch norms are synchronised: they
normalise over the global batch, as on one process.

Tensors: faces are kept as uint8 ``[N, 3, R, R]``; batches are float ``[B, 3, r, r]`` in [-1, 1].
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from . import checkpointing, distributed, progan, projected
from .augment import diff_augment, parse_policy
from .data import list_images
from .images import save_png
from .precision import autocast_context, training_autocast, training_channels_last
from .progan import DCGANConfig, ProGANConfig
from .training import RunLog, RunSettings, recalibrate_batch_norm, restore_run, save_run, update_ema
from .vgg import load_vgg19

BN_CALIBRATION = 512  # latents whose activations set a shipped DCGAN's batch-norm statistics

LOG_FIELDS = (
    *("step", "kimg", "stage", "alpha", "batch", "loss_d", "loss_g", "penalty", "d_real", "d_fake"),
    *("f_real", "f_fake", "pl_mean", "seconds"),
)


@dataclass
class ProGANTrainConfig(RunSettings):
    data: str  # folder of training images (e.g. faces/train)
    out: str  # run folder
    kimg_per_phase: float = 600.0  # thousands of images per fade-in and per stabilisation (paper: 800)
    kimg_final: float | None = None  # length of the last stabilisation (default kimg_per_phase)
    batch: int = 16  # batch size at every resolution not named in batch_per_res
    batch_per_res: str = "4:64,8:64,16:32"  # "res:batch,..." overrides (paper: smaller batches as R grows)
    crop_box: str = "0,10,89,99"  # "left,top,right,bottom" face box in each image; "" = centre square
    flip: bool = True  # random horizontal flips
    augment: str = ""  # DiffAugment policy for D's inputs, e.g. "color,translation,cutout" (augment.py); "" = off
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    gp_weight: float = 10.0  # WGAN-GP lambda
    drift_weight: float = 0.001  # epsilon_drift
    r1_gamma: float = 0.0  # R1 penalty gamma / 2 * E|grad D(real)|^2 for the "ns" loss; 0 = off
    r1_every: int = 16  # steps between R1 terms, each weighted by this (StyleGAN2's lazy regularisation)
    pl_weight: float = 0.0  # path-length regulariser's weight in G's loss (StyleGAN2: 2); 0 = off
    pl_every: int = 4  # steps between path-length terms, each weighted by this (lazy, as R1)
    pl_batch_shrink: int = 2  # the term uses batch // this latents of the G step's batch
    pl_decay: float = 0.01  # per term, of the moving average the path lengths are pulled towards
    ema_beta: float = 0.999  # G_ema <- beta * G_ema + (1 - beta) * G after every step
    ema_rampup: float | None = 0.05  # cap G_ema's half-life at this fraction of the images shown; None: off
    d_backbone: str = ""  # "vgg19": add a discriminator on frozen VGG19 features (projected.py); "" = off
    d_backbone_weights: str | None = None  # that VGG19's safetensors (Caffe weights); None: hub.py's vgg19-caffe
    d_layers: str = "relu2_1,relu3_1,relu4_1"  # VGG19 layers the feature discriminator's heads look at
    d_feature_size: int = 64  # px: every image is resized (bilinear) to this before VGG19
    d_feature_width: int = 64  # channels of each head
    d_feature_lr: float = 2e-4  # Adam lr of the heads (Projected GAN's), betas as G's
    d_feature_weight: float = 1.0  # weight of the feature discriminator's term in G's loss
    d_pixel: bool = True  # keep ProGAN's own D beside the feature D (Vision-aided GAN); False: features only
    num_samples: int = 64  # fixed latents (seeds 0.. of sample_latents) rendered into each grid
    snapshot_kimg: float | None = None  # also keep G_ema every this many thousand images in snapshots/; None: off
    model: ProGANConfig | DCGANConfig = field(default_factory=ProGANConfig)  # DCGANConfig: the baseline

    def __post_init__(self):
        if self.kimg_per_phase <= 0 or (self.kimg_final is not None and self.kimg_final <= 0):
            raise ValueError("kimg_per_phase and kimg_final must be > 0")
        if not isinstance(self.model, (ProGANConfig, DCGANConfig)):
            raise TypeError(f"model must be a ProGANConfig or a DCGANConfig, got {type(self.model).__name__}")
        if self.bf16 and not self.device.startswith(("cuda", "cpu")):
            raise ValueError(f"bf16 autocast is for CUDA or CPU devices, got device={self.device!r}")
        if self.d_backbone not in ("", *projected.BACKBONES):
            raise ValueError(f"d_backbone must be '' (off) or one of {projected.BACKBONES}, got {self.d_backbone!r}")
        if self.d_backbone:
            projected.parse_layers(self.d_layers)
            if self.d_feature_width < 1 or self.d_feature_lr <= 0 or self.d_feature_weight <= 0:
                raise ValueError("d_feature_width, d_feature_lr and d_feature_weight must be > 0")
            if isinstance(self.model, DCGANConfig):
                raise ValueError("the feature discriminator is for ProGAN runs, not the DCGAN baseline")
        elif not self.d_pixel:
            raise ValueError("d_pixel=False leaves no discriminator: set d_backbone='vgg19' too")
        if not 0.0 <= self.ema_beta <= 1.0:
            raise ValueError(f"ema_beta must be in [0, 1], got {self.ema_beta}")
        if self.r1_gamma < 0 or self.r1_every < 1:
            raise ValueError(f"r1_gamma must be >= 0 and r1_every >= 1, got {self.r1_gamma} and {self.r1_every}")
        if self.r1_gamma and self.model.loss != "ns":
            raise ValueError("r1_gamma is for the 'ns' loss; 'wgan-gp' has its own gradient penalty (gp_weight)")
        if self.pl_weight < 0 or self.pl_every < 1 or self.pl_batch_shrink < 1 or not 0 < self.pl_decay <= 1:
            raise ValueError("pl_weight must be >= 0, pl_every and pl_batch_shrink >= 1, pl_decay in (0, 1]")
        if self.ema_rampup is not None and self.ema_rampup <= 0:
            raise ValueError(f"ema_rampup must be > 0 or None, got {self.ema_rampup}")
        for k in range(self.model.num_stages):
            self.batch_for(4 * 2**k)  # parse errors surface here
        self.box()
        parse_policy(self.augment)
        if self.snapshot_kimg is not None and round(self.snapshot_kimg * 1000) < 1:
            raise ValueError(f"snapshot_kimg must be >= 0.001 (one image) or None, got {self.snapshot_kimg}")

    def batch_for(self, res: int) -> int:
        sizes = {}
        for item in filter(None, (s.strip() for s in self.batch_per_res.split(","))):
            try:
                r, b = (int(v) for v in item.split(":"))
            except ValueError:
                raise ValueError(
                    f"batch_per_res must look like '4:64,8:64,16:32', got {self.batch_per_res!r}"
                ) from None
            sizes[r] = b
        b = sizes.get(res, self.batch)
        if b < 1:
            raise ValueError(f"batch size at {res}x{res} must be >= 1, got {b}")
        return b

    def box(self) -> tuple[int, int, int, int] | None:
        return parse_box(self.crop_box)


def parse_box(crop_box: str) -> tuple[int, int, int, int] | None:
    """``crop_box`` as trained with (also in a shipped model's config.json): a square box, or None for ""."""
    if not crop_box.strip():
        return None
    try:
        left, top, right, bottom = (int(v) for v in crop_box.split(","))
    except ValueError:
        raise ValueError(f"crop_box must be 'left,top,right,bottom' or '', got {crop_box!r}") from None
    if right - left != bottom - top or right <= left:
        raise ValueError(f"crop_box must be a non-empty square, got {crop_box!r}")
    return left, top, right, bottom


@dataclass
class TrainProgress:
    step: int
    images_shown: int
    images_total: int
    stage: int
    alpha: float
    losses: dict[str, float]


# ----------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Phase:
    stage: int
    fade: bool  # alpha rises 0 -> 1 over the phase; else alpha = 1
    start: int  # images shown when the phase begins
    length: int  # images


def schedule(config: ProGANTrainConfig) -> list[Phase]:
    """The phases in order; the last one ends at the run's total number of images."""
    per, final = round(1000 * config.kimg_per_phase), round(1000 * (config.kimg_final or config.kimg_per_phase))
    last = config.model.num_stages - 1
    if isinstance(config.model, DCGANConfig):
        return [Phase(last, False, 0, final)]
    kinds = [(0, False)] + [(k, fade) for k in range(1, last + 1) for fade in (True, False)]
    phases, start = [], 0
    for i, (k, fade) in enumerate(kinds):
        length = final if i == len(kinds) - 1 else per
        phases.append(Phase(k, fade, start, length))
        start += length
    return phases


def position(phases: list[Phase], images_shown: int) -> tuple[int, float]:
    """(stage, alpha) after ``images_shown`` images; past the end, the last stage at alpha 1."""
    for p in phases:
        if images_shown < p.start + p.length:
            return p.stage, (images_shown - p.start) / p.length if p.fade else 1.0
    return phases[-1].stage, 1.0


# ----------------------------------------------------------------------------- data


def crop_face(
    img: Image.Image, *, resolution: int, box: tuple[int, int, int, int] | None, name: object = "the image"
) -> Image.Image:
    """The training view of a face: ``box`` (None: the centre square) resized to ``resolution`` (Lanczos), RGB."""
    img = img.convert("RGB")
    w, h = img.size
    crop = box or ((w - min(w, h)) // 2, (h - min(w, h)) // 2, (w + min(w, h)) // 2, (h + min(w, h)) // 2)
    if crop[2] > w or crop[3] > h or crop[0] < 0 or crop[1] < 0:
        raise ValueError(f"crop box {crop} does not fit in {name} ({w}x{h}): set crop_box")
    return img.resize((resolution, resolution), Image.LANCZOS, box=crop)


def face_targets(folder, *, resolution: int, crop_box: str, count: int | None = None) -> torch.Tensor:
    """The first ``count`` images of ``folder`` (all when None; sorted by name) cropped and resized as
    training does: float ``[N, 3, R, R]`` in [0, 1], e.g. held-out faces for the closest-latent search.

    ``crop_box`` is the model's own (its ``config.json`` has it); the pixels are those the training
    batches are made of, before their [-1, 1] scaling.
    """
    paths = list_images(folder)[:count]
    box = parse_box(crop_box)
    faces = []
    for path in paths:
        with Image.open(path) as img:
            faces.append(np.asarray(crop_face(img, resolution=resolution, box=box, name=path)))
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float().div(255)  # [N, 3, R, R]


class FaceImages:
    """Every image decoded once, cropped to ``box`` and resized to ``resolution``; seeded batches.

    Images are held as uint8 ``[N, 3, R, R]``; :meth:`sample` returns float ``[B, 3, r, r]`` in
    [-1, 1] at any r = R / 2**j (average pooling), flipped at random. One numpy Generator drives
    the choice of images and flips; its state is in :meth:`state_dict` for exact resume.
    """

    def __init__(self, folder, *, resolution: int, box: tuple[int, int, int, int] | None, flip: bool, seed: int):
        paths = list_images(folder)
        images = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
        for i, path in enumerate(paths):
            with Image.open(path) as img:
                images[i] = np.asarray(crop_face(img, resolution=resolution, box=box, name=path))
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # [N, 3, R, R] uint8
        self.flip = flip
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample(self, n: int, *, resolution: int) -> torch.Tensor:
        idx = self._rng.integers(0, len(self), size=n)
        flips = self._rng.random(n) < 0.5
        x = self.images[torch.from_numpy(idx)].float().div_(127.5).sub_(1.0)  # [n, 3, R, R] in [-1, 1]
        if self.flip and flips.any():
            x[torch.from_numpy(flips)] = x[torch.from_numpy(flips)].flip(-1)
        factor = self.images.shape[-1] // resolution
        return F.avg_pool2d(x, factor) if factor > 1 else x  # [n, 3, r, r]

    def state_dict(self) -> dict:
        return {"rng": self._rng.bit_generator.state, "num_images": len(self)}

    def load_state_dict(self, state: dict) -> None:
        if state["num_images"] != len(self):
            raise ValueError(f"the run was trained on {state['num_images']} images, this folder has {len(self)}")
        self._rng.bit_generator.state = state["rng"]


def fade_reals(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The paper's blending of real images during a fade-in: lerp(up(down(x)), x, alpha)."""
    if alpha >= 1:
        return x
    return torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)


# ----------------------------------------------------------------------------- training


def build_models(model: ProGANConfig | DCGANConfig) -> tuple[nn.Module, nn.Module]:
    if isinstance(model, DCGANConfig):
        return progan.DCGANGenerator(model), progan.DCGANDiscriminator(model)
    return progan.Generator(model), progan.Discriminator(model)


def _snapshot_name(shown: int) -> str:
    """The folder under ``snapshots/`` of G_ema after ``shown`` images (``snapshot_kimg``, ``keep_snapshots``)."""
    return f"images{shown:09d}"


def _grid(images: torch.Tensor, *, resolution: int) -> torch.Tensor:
    # [n, 3, r, r] in [0, 1] -> [1, 3, rows * R, cols * R], nearest-upsampled to R, up to 8 per row
    x = F.interpolate(images, size=resolution, mode="nearest") if images.shape[-1] != resolution else images
    cols = min(8, x.shape[0])
    rows = math.ceil(x.shape[0] / cols)
    x = torch.cat([x, x.new_ones(rows * cols - x.shape[0], *x.shape[1:])])
    return x.view(rows, cols, 3, resolution, resolution).permute(2, 0, 3, 1, 4).reshape(1, 3, rows * resolution, -1)


class _Judge(nn.Module):
    """The feature discriminator's heads as a module whose forward is ``judge``: what DDP wraps
    (the frozen VGG19 is not a submodule of it, so DDP neither sees nor syncs it)."""

    def __init__(self, fd: projected.FeatureDiscriminator):
        super().__init__()
        self.fd = fd

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fd.judge(features)


def train_progan(config: ProGANTrainConfig, *, callback: Callable[[TrainProgress], bool | None] | None = None) -> Path:
    """Train (or resume) the run in ``config.out``; returns the path of the shipped G_ema weights."""
    out, model = Path(config.out), config.model
    world = distributed.init(config.device)
    device = world.device
    if config.pl_weight and world.distributed:  # its double backward goes around the DDP wrapper
        raise ValueError("pl_weight is for one-process runs; train without it under torchrun")
    for k in range(model.num_stages):  # every stage's batch splits evenly across the ranks
        batch_k = config.batch_for(4 * 2**k)
        world.local_batch(batch_k, what=f"batch at {4 * 2**k}x{4 * 2**k}")
        per_rank_groups = isinstance(model, ProGANConfig) and batch_k % (model.mbstd_group * world.size)
        if world.distributed and world.main and per_rank_groups:
            warnings.warn(
                f"the batch at {4 * 2**k}x{4 * 2**k} ({batch_k}) is not a multiple of mbstd_group x processes "
                f"({model.mbstd_group} x {world.size}): minibatch-std groups are per process and differ from a "
                "one-process run's there",
                stacklevel=2,
            )
    R = model.img_resolution
    phases = schedule(config)
    total = phases[-1].start + phases[-1].length
    data = FaceImages(config.data, resolution=R, box=config.box(), flip=config.flip, seed=config.seed)
    if len(data) < 2:
        raise ValueError(f"{config.data} holds {len(data)} image(s); a GAN needs many")

    torch.manual_seed(config.seed)
    G, D = (world.sync_batch_norm(m) for m in build_models(model))  # the DCGAN's batch norms: global statistics
    G, D = G.to(device), D.to(device)
    autocast_dtype = training_autocast(device, config.bf16)  # precision.py: what bf16 means in every trainer
    channels_last = training_channels_last(device, autocast_dtype)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).requires_grad_(False).eval()
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=betas)
    if not config.d_pixel:  # Projected GAN: the feature discriminator alone
        D = opt_d = None
    FD = opt_f = None  # the discriminator on frozen VGG19 features (projected.py), with its own optimiser
    if config.d_backbone:
        vgg = load_vgg19("caffe", path=config.d_backbone_weights, device=device)  # frozen, cached per process
        if channels_last:  # a copy: the cached VGG19 is shared with the rest of the process
            vgg = copy.deepcopy(vgg).to(memory_format=torch.channels_last)
        layers = projected.parse_layers(config.d_layers)
        FD = projected.FeatureDiscriminator(vgg, layers=layers, size=config.d_feature_size,
                                            width=config.d_feature_width).to(device)  # fmt: skip
        opt_f = torch.optim.Adam(FD.parameters(), lr=config.d_feature_lr, betas=betas)  # the heads only
    pl = progan.PathLengthPenalty(decay=config.pl_decay).to(device) if config.pl_weight else None
    noise = torch.Generator().manual_seed(config.seed + 1)  # z, GP mixing weights, path directions; on the CPU
    aug_rng = torch.Generator().manual_seed(config.seed + 2)  # DiffAugment's transforms
    policy = parse_policy(config.augment)

    def aug(x: torch.Tensor) -> torch.Tensor:  # what D sees of a real or a generated batch
        return diff_augment(x, policy=policy, generator=aug_rng) if policy else x

    fixed_z = progan.sample_latents(config.num_samples, z_dim=model.z_dim, seed=0, device=device)
    calibration_z = progan.sample_latents(BN_CALIBRATION, z_dim=model.z_dim, seed=1, device=device)

    recalibrated: dict[int, nn.Module] = {}  # step -> shipped G_ema: one recalibration per step at most

    def shipped() -> nn.Module:  # G_ema as written and sampled: the DCGAN's batch norms recomputed for its weights
        if step not in recalibrated:  # a grid, a checkpoint and a snapshot of the same step share it
            recalibrated.clear()
            recalibrated[step] = recalibrate_batch_norm(G_ema, calibration_z, batch=64)
        return recalibrated[step]

    # what a checkpoint holds and a resume restores (with the torch RNG); None: a discriminator the run has not.
    # D_feat: the heads, not VGG19. The DiffAugment RNG is restored below, on its own.
    parts = {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d, "D_feat": FD, "opt_feat": opt_f,
             "data": data, "noise_rng": noise, "path_length": pl}  # fmt: skip
    step, shown, elapsed = 0, 0, 0.0
    state = checkpointing.load_state(out)
    if state is not None:
        if ("D" in state) != (D is not None) or ("D_feat" in state) != (FD is not None):
            have = [k for k in ("D", "D_feat") if k in state]
            raise ValueError(f"{out} holds a run with other discriminators ({have}): check d_pixel and d_backbone")
        restore_run(out, state, parts, model=model.to_dict())
        if "augment_rng" in state:  # runs saved before augment.py have none
            aug_rng.set_state(state["augment_rng"])
        step, shown, elapsed = state["step"], state["images_shown"], state["elapsed"]
    elif FD is not None:  # a new run: the feature scales from (up to) 256 training faces, no RNG drawn
        FD.calibrate(data.images[:256].float().div(127.5).sub(1).to(device))

    def info() -> dict:  # what config.json says of the training of the G_ema it sits beside
        stage, alpha = position(phases, shown)
        return {
            **{"images_shown": shown, "train_steps": step, "train_seconds": round(elapsed)},
            **{"final_stage": stage, "final_alpha": alpha, "complete": shown >= total},
            **{"train_data": Path(config.data).name, "crop_box": config.crop_box, "ema_beta": config.ema_beta},
            **{"ema_rampup": config.ema_rampup, "augment": config.augment, "r1_gamma": config.r1_gamma},
            **({"pl_weight": config.pl_weight, "pl_every": config.pl_every} if pl is not None else {}),
            **(
                {"d_backbone": config.d_backbone, "d_layers": config.d_layers, "d_pixel": config.d_pixel}
                if FD is not None
                else {}
            ),
        }

    def save() -> None:
        counters = {"step": step, "images_shown": shown, "elapsed": elapsed, "model": model.to_dict(),
                    "config": {k: v for k, v in asdict(config).items() if k != "model"}}  # fmt: skip
        snapshot = _snapshot_name(shown) if config.keep_snapshots else None
        save_run(out, {**parts, "augment_rng": aug_rng}, counters=counters, shipped=shipped(), model=model.to_dict(),
                 training=info(), snapshot=snapshot)  # fmt: skip

    # DDP wrappers, each called only in its own step; a stage leaves the other stages' weights unused
    unused = isinstance(model, ProGANConfig)
    G_train = world.wrap(G, find_unused_parameters=unused)
    D_train = None if D is None else world.wrap(D, find_unused_parameters=unused)
    FD_judge = None if FD is None else world.wrap(_Judge(FD))  # the heads, reached through judge()

    penalty = torch.zeros(())  # "ns": the latest R1 term (logged until the next one), or 0 without R1
    snapshot_every = None if config.snapshot_kimg is None else round(config.snapshot_kimg * 1000)  # images
    autocast = autocast_context(device, autocast_dtype)
    zero = torch.zeros((), device=device)
    d_real = d_fake = f_real = f_fake = zero  # logged as 0 for a discriminator the run does not have
    with RunLog(out, LOG_FIELDS, elapsed=elapsed, time_limit_s=config.time_limit_s, world=world) as run:
        while shown < total:
            k, alpha = position(phases, shown)
            kw = {"stage": k, "alpha": alpha}  # the DCGAN takes its one stage, alpha 1
            n = config.batch_for(4 * 2**k)  # the global batch; this rank holds n / ranks of it
            real = world.shard(fade_reals(data.sample(n, resolution=4 * 2**k), alpha)).to(device)  # [n/ranks, 3, r, r]
            z = world.shard(torch.randn(n, model.z_dim, generator=noise)).to(device)

            with autocast:  # D step
                with torch.no_grad():
                    fake = G(z, **kw).float()  # [n/ranks, 3, r, r]
                real, fake = world.per_sample(aug, real), world.per_sample(aug, fake)
                loss_d = zero
                if D is not None:
                    d_real, d_fake = D_train(real, **kw).float(), D_train(fake, **kw).float()
                    if model.loss == "wgan-gp":
                        eps = world.shard(torch.rand(n, 1, 1, 1, generator=noise))  # global draw, as one process
                        gp = progan.gradient_penalty(D_train, real, fake, eps=eps, **kw)
                        penalty = config.gp_weight * gp + config.drift_weight * progan.drift_penalty(d_real)
                        loss_d = progan.d_loss_wgan(d_real, d_fake) + penalty
                    else:
                        loss_d = progan.d_loss_ns(d_real, d_fake)
                        if config.r1_gamma and step % config.r1_every == 0:  # lazy: every r1_every steps, that much
                            penalty = config.r1_gamma / 2 * progan.r1_penalty(D_train, real, **kw)  # on what D saw
                            loss_d = loss_d + config.r1_every * penalty
                if FD is not None:  # the same augmented images, through the frozen VGG19: only the heads learn
                    with torch.no_grad():
                        seen_real, seen_fake = FD.features(real), FD.features(fake)
                    f_real, f_fake = FD_judge(seen_real).float(), FD_judge(seen_fake).float()  # [n, K]
                    loss_d = loss_d + projected.d_loss_hinge(f_real, f_fake)
            for opt in (opt_d, opt_f):
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
            loss_d.backward()
            for opt in (opt_d, opt_f):
                if opt is not None:
                    opt.step()
            penalty = penalty.detach()  # kept for the log; its graph is not

            judges = [m for m in (D, FD) if m is not None]
            for m in judges:
                m.requires_grad_(False)
            with autocast:  # G step, on the same z, through the bare discriminators
                seen = world.per_sample(aug, G_train(z, **kw))
                loss_g = zero
                if D is not None:
                    d_gen = D(seen, **kw).float()
                    loss_g = progan.g_loss_wgan(d_gen) if model.loss == "wgan-gp" else progan.g_loss_ns(d_gen)
                if FD is not None:  # G's gradient flows back through the frozen VGG19
                    loss_g = loss_g + config.d_feature_weight * projected.g_loss_hinge(FD(seen).float())
                if pl is not None and step % config.pl_every == 0:  # lazy: every pl_every steps, that much
                    z_pl = z[: max(1, len(z) // config.pl_batch_shrink)]
                    y = pl.direction((len(z_pl), 3, *real.shape[-2:]), generator=noise).to(device)
                    loss_g = loss_g + config.pl_weight * config.pl_every * pl(G, z_pl, y=y, **kw)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for m in judges:
                m.requires_grad_(True)
            step, shown = step + 1, shown + n
            beta = config.ema_beta  # StyleGAN2-ADA's ramp-up: early on, G_ema must not average in the random init
            if config.ema_rampup is not None:
                beta = min(beta, 0.5 ** (n / (config.ema_rampup * shown)))
            update_ema(G_ema, G, beta=beta)
            elapsed = run.elapsed

            # the schedule or the time limit (rank 0's clock) ends the run here
            last = shown >= total or run.out_of_time()
            stopped = False
            if run.due(step, config.log_every, last=last):
                pl_mean = zero if pl is None else pl.mean
                values = (loss_d, loss_g, penalty, d_real.mean(), d_fake.mean(), f_real.mean(), f_fake.mean(), pl_mean)
                losses = dict(zip(LOG_FIELDS[5:-1], (round(v, 5) for v in world.mean(values)), strict=True))
                run.write([step, round(shown / 1000, 3), k, round(alpha, 4), n, *losses.values(), round(elapsed, 1)])
                stopped = run.report(callback, TrainProgress(step, shown, total, k, alpha, losses))
            if world.main and run.due(step, config.sample_every, last=last or stopped):  # the shipped G_ema's grid
                G_ship = shipped()
                with torch.no_grad(), autocast:
                    images = torch.cat([G_ship(z, **kw).float().cpu() for z in fixed_z.split(16)])
                images = images.add(1).div(2).clamp(0, 1)  # [num_samples, 3, r, r] in [0, 1]
                save_png(_grid(images, resolution=R), run.sample_path(step))
            if last or stopped:
                break
            if world.main and step % config.checkpoint_every == 0:
                save()
            crossed = snapshot_every and shown // snapshot_every > (shown - n) // snapshot_every  # a multiple
            if world.main and crossed:
                snapshot = out / "snapshots" / _snapshot_name(shown)
                checkpointing.save_model(snapshot, shipped(), model.to_dict(), training=info())
        return run.finish(save)
