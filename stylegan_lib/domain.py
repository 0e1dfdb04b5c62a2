"""Does it look like Van Gogh? A photo-vs-painting classifier and a structure measure.

Two evaluation tools for the translation methods, independent of every translator:

* :class:`DomainClassifier`, a small CNN that maps a ``tile`` x ``tile`` RGB tile to one
  logit (Van Gogh painting = positive, photo = negative), trained on the CycleGAN
  ``vangogh2photo`` crops with random downscaling so it judges brushwork and colour rather
  than resolution; :func:`painting_share` is the share of an image's non-overlapping tiles
  it calls paintings. Read a translator's share against the shares of real held-out photos
  and paintings (reported in ``checkpoints/domain-classifier/README.md``).
* :func:`structure_preservation`, the Pearson correlation between the Sobel edge
  magnitudes of the luminance of a source photo and its translation (1 = same edges).

Tensors: images are [N, 3, H, W], RGB, range [0, 1]; the classifier returns [N] logits.

Retrain and re-evaluate the shipped checkpoint (CPU, one thread, a few minutes)::

    python -m stylegan_lib.domain --out checkpoints/domain-classifier
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed, hub
from .checkpointing import save_model
from .colour import luminance
from .data import CropConfig, CropSampler, list_images
from .images import fit_longest_side, open_image, pil_to_tensor
from .tiling import cut_tiles

__all__ = [
    "DomainClassifierConfig",
    "DomainClassifier",
    "DomainTrainProgress",
    "train_domain_classifier",
    "tile_logits",
    "painting_share",
    "edge_magnitude",
    "structure_preservation",
    "load_domain_classifier",
    "save_domain_classifier",
]

ARCHITECTURE = "domain-classifier"

# ----------------------------------------------------------------------------- model


@dataclass
class DomainClassifierConfig:
    tile: int = 64  # side of the tiles it is trained and evaluated on
    width: int = 32  # channels of the first convolution; doubled per stage up to 4 * width
    depth: int = 4  # stride-2 3x3 convolutions: a 64-pixel tile ends as 4 x 4 features

    def to_dict(self) -> dict:
        return {"architecture": ARCHITECTURE, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> DomainClassifierConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class DomainClassifier(nn.Module):
    """[N, 3, H, W] in [0, 1] -> [N] logits, painting = positive (fully convolutional, mean-pooled)."""

    def __init__(self, config: DomainClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or DomainClassifierConfig()
        layers, ch_in = [], 3
        for i in range(config.depth):
            ch = config.width * min(2**i, 4)
            layers += [nn.Conv2d(ch_in, ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch_in = ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Expected tiles [N, 3, H, W], got {list(x.shape)}")
        h = self.features(x * 2 - 1)  # [N, C, H / 2^depth, W / 2^depth]
        return self.head(h.mean(dim=(2, 3))).squeeze(1)  # [N]


# ----------------------------------------------------------------------------- training


@dataclass
class DomainTrainProgress:
    step: int
    steps: int
    loss: float  # BCE with logits of this step's batch
    accuracy: float  # on this step's (training) batch


def _random_tiles(crops: torch.Tensor, *, tile: int, max_downscale: float, generator: torch.Generator) -> torch.Tensor:
    """[B, 3, C, C] crops -> [B, 3, tile, tile]: half native tiles, half downscaled ones.

    A downscaled tile is a random square of side s (uniform in [tile, tile * max_downscale],
    at most C) resized to ``tile`` (bilinear, antialiased).
    """
    b, _, c, _ = crops.shape
    s_max = min(c, int(tile * max_downscale))
    out = []
    for i in range(b):
        zoom = s_max > tile and bool(torch.rand((), generator=generator) < 0.5)
        s = int(torch.randint(tile, s_max + 1, (), generator=generator)) if zoom else tile
        y, x = (int(v) for v in torch.randint(0, c - s + 1, (2,), generator=generator))
        t = crops[i : i + 1, :, y : y + s, x : x + s]  # [1, 3, s, s]
        if s != tile:
            t = F.interpolate(t, size=(tile, tile), mode="bilinear", antialias=True, align_corners=False)
        out.append(t)
    return torch.cat(out).clamp_(0.0, 1.0)  # [B, 3, tile, tile]


def train_domain_classifier(
    photos: CropSampler,
    paintings: CropSampler,
    *,
    steps: int = 2000,
    batch: int = 32,
    lr: float = 1e-3,
    config: DomainClassifierConfig | None = None,
    max_downscale: float = 2.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    callback: Callable[[DomainTrainProgress], bool | None] | None = None,
) -> DomainClassifier:
    """Train a :class:`DomainClassifier` (BCE with logits, Adam, cosine lr decay) on random tiles.

    Each step draws ``batch`` crops from each sampler (photos = 0, paintings = 1) and cuts
    one tile from each with :func:`_random_tiles`; the samplers' crops must be at least
    ``config.tile`` (use ``crop = tile * max_downscale`` for the full downscaling range).
    ``callback`` gets a :class:`DomainTrainProgress` after every step; returning True stops.

    Under ``torchrun`` (:mod:`stylegan_lib.distributed`) ``batch`` is the global batch per class,
    split across the ranks: every rank draws the global crops and tiles and keeps its rows of each
    class; the model is in DistributedDataParallel; ``callback`` runs on rank 0 with the loss and
    accuracy averaged over the ranks, and its stop is every rank's.
    """
    config = config or DomainClassifierConfig()
    for name, sampler in (("photos", photos), ("paintings", paintings)):
        if sampler.config.crop < config.tile:
            raise ValueError(f"The {name} sampler crops {sampler.config.crop} px, less than the tile ({config.tile})")
    if max_downscale < 1:
        raise ValueError(f"max_downscale must be >= 1, got {max_downscale}")
    world = distributed.init(device)
    device, local = world.device, world.local_batch(batch)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG left as it was
        torch.manual_seed(seed)
        model = DomainClassifier(config).to(device)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)  # lr -> 0 at the last step
    labels = torch.cat([torch.zeros(local), torch.ones(local)]).to(device)  # [2B]: photos, then paintings
    model.train()
    model_train = world.wrap(model)  # DDP (the model itself on one process)
    for step in range(1, steps + 1):
        crops = [s.sample(batch) for s in (photos, paintings)]  # the global batch on every rank
        tiles = [_random_tiles(c, tile=config.tile, max_downscale=max_downscale, generator=generator) for c in crops]
        x = torch.cat([world.shard(t) for t in tiles])  # this rank's rows of each class
        logits = model_train(x.to(device))  # [2B]
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if callback is not None or world.distributed:  # every rank takes part, whichever has a callback
            accuracy = ((logits > 0).float() == labels).float().mean()
            loss_mean, accuracy = world.mean([loss, accuracy])  # over the ranks
            progress = DomainTrainProgress(step, steps, loss_mean, accuracy)
            stop = world.main and callback is not None and bool(callback(progress))
            if world.decide(stop):
                break
    return model.eval()


# ----------------------------------------------------------------------------- evaluation


def _as_batches(images) -> list[torch.Tensor]:
    """A [N, 3, H, W] / [3, H, W] tensor or a list of them -> list of [n, 3, h, w] tensors."""
    items = [images] if isinstance(images, torch.Tensor) else list(images)
    if not items:
        raise ValueError("No images given")
    out = []
    for t in items:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"Expected image tensors, got {type(t).__name__}")
        t = t.unsqueeze(0) if t.ndim == 3 else t
        if t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"Expected images [N, 3, H, W] or [3, H, W], got {list(t.shape)}")
        out.append(t)
    return out


def _grid_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """[N, 3, H, W] -> [N * (H // tile) * (W // tile), 3, tile, tile]: non-overlapping, grid centred."""
    _, _, h, w = x.shape
    nh, nw = h // tile, w // tile
    if nh == 0 or nw == 0:
        raise ValueError(f"An image of {w}x{h} is smaller than one {tile}x{tile} tile")
    top, left = (h - nh * tile) // 2, (w - nw * tile) // 2
    return cut_tiles(x[:, :, top : top + nh * tile, left : left + nw * tile], tile)


@torch.inference_mode()
def tile_logits(
    classifier: nn.Module, images, *, tile: int = 64, device: str | torch.device = "cpu", batch: int = 256
) -> torch.Tensor:
    """The classifier's logits [T] for every non-overlapping tile x tile tile of ``images``.

    ``images``: [N, 3, H, W] in [0, 1], or a list of such (or [3, H, W]) tensors of any sizes;
    each image contributes (H // tile) * (W // tile) tiles, the grid centred (the margins left
    over are ignored). ``classifier`` must already be on ``device``.
    """
    logits = []
    for x in _as_batches(images):
        tiles = _grid_tiles(x, tile)  # [T, 3, tile, tile]
        for chunk in tiles.split(batch):
            logits.append(classifier(chunk.to(device=device, dtype=torch.float32)).float().cpu())
    return torch.cat(logits)  # [T]


def painting_share(classifier: nn.Module, images, *, tile: int = 64, device: str | torch.device = "cpu") -> float:
    """Share in [0, 1] of the non-overlapping tiles of ``images`` that ``classifier`` calls
    paintings (logit > 0); see :func:`tile_logits` for the tiling."""
    return float((tile_logits(classifier, images, tile=tile, device=device) > 0).float().mean())


def edge_magnitude(y: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of [N, 1, H, W] -> [N, 1, H - 2, W - 2] (valid region, no padding)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device)
    k = torch.stack([kx, kx.T]).unsqueeze(1)  # [2, 1, 3, 3]: d/dx, d/dy
    g = F.conv2d(y, k)  # [N, 2, H - 2, W - 2]
    return g.pow(2).sum(dim=1, keepdim=True).sqrt()


def _single_image(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    x = x.unsqueeze(0) if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"{name} must be one image [1, 3, H, W] or [3, H, W], got {list(x.shape)}")
    if min(x.shape[-2:]) < 3:
        raise ValueError(f"{name} is too small for a 3x3 Sobel filter: {list(x.shape)}")
    return x


def structure_preservation(source: torch.Tensor, result: torch.Tensor) -> float:
    """Pearson correlation in [-1, 1] of the Sobel edge magnitudes of the luminance of two images.

    ``source``, ``result``: [1, 3, H, W] or [3, H, W] in [0, 1]; ``result`` is resized
    (bilinear, antialiased) to the size of ``source`` when they differ. 1.0 for identical
    images. Raises ValueError when either image has no edges at all (flat).
    """
    source, result = _single_image(source, "source"), _single_image(result, "result")
    if result.shape[-2:] != source.shape[-2:]:
        result = F.interpolate(result.double(), size=source.shape[-2:], mode="bilinear", antialias=True)
    a = edge_magnitude(luminance(source.double())).flatten()  # luma [1, 1, H, W] in float64
    b = edge_magnitude(luminance(result.to(source.device).double())).flatten()
    a, b = a - a.mean(), b - b.mean()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        raise ValueError("structure_preservation is undefined for a flat image (no edges)")
    return float((a @ b) / (na * nb))


# ----------------------------------------------------------------------------- weights


def load_domain_classifier(
    *, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> DomainClassifier:
    """The shipped classifier (``hub.resolve("domain-classifier")``), strict load, eval mode."""
    resolved = hub.resolve("domain-classifier", path=path)
    arch = resolved.config.get("architecture")
    if arch != ARCHITECTURE:
        raise ValueError(f"{resolved.path}: config.json says architecture {arch!r}, expected {ARCHITECTURE!r}")
    model = DomainClassifier(DomainClassifierConfig.from_dict(resolved.config))
    hub.load_model_weights(model, resolved)
    return model.to(device).eval()


def save_domain_classifier(model: DomainClassifier, folder: str | os.PathLike, *, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (the model config plus ``extra``) to ``folder``."""
    return save_model(folder, model, {**model.config.to_dict(), **(extra or {})})


# ----------------------------------------------------------------------------- CLI: train, evaluate, ship


def _load_folder(folder: Path) -> list[torch.Tensor]:
    return [pil_to_tensor(open_image(p)) for p in list_images(folder)]  # each [1, 3, H, W]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std())


def main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import json
    import time

    shared = Path(os.environ.get("STYLEGAN_LIB_SHARED", hub.REPO_ROOT.parent / "shared")) / "data"
    vg = shared / "vangogh2photo"
    p = argparse.ArgumentParser(prog="python -m stylegan_lib.domain", description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=vg / "photos_train")
    p.add_argument("--paintings", type=Path, default=vg / "paintings_train")
    p.add_argument("--photos-heldout", type=Path, default=vg / "photos_heldout")
    p.add_argument("--paintings-heldout", type=Path, default=vg / "paintings_heldout")
    p.add_argument("--out", type=Path, default=hub.checkpoints_dir() / "domain-classifier")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32, help="tiles per class per step (under torchrun: in all)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--max-downscale", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    config = DomainClassifierConfig(width=args.width)
    crop = int(config.tile * args.max_downscale)
    photos = CropSampler(list_images(args.photos), CropConfig(crop=crop, seed=args.seed))
    paintings = CropSampler(list_images(args.paintings), CropConfig(crop=crop, seed=args.seed + 1))

    def report(pr: DomainTrainProgress) -> None:
        if pr.step % 100 == 0 or pr.step == pr.steps:
            print(f"step {pr.step}/{pr.steps}  loss {pr.loss:.4f}  batch acc {pr.accuracy:.3f}", flush=True)

    started = time.monotonic()
    model = train_domain_classifier(
        photos, paintings, steps=args.steps, batch=args.batch, lr=args.lr, config=config,
        max_downscale=args.max_downscale, seed=args.seed, callback=report,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if not distributed.init("cpu").main:  # under torchrun, rank 0 alone evaluates and writes
        return

    held_photos, held_paintings = _load_folder(args.photos_heldout), _load_folder(args.paintings_heldout)
    share_photos = painting_share(model, held_photos, tile=config.tile)
    share_paintings = painting_share(model, held_paintings, tile=config.tile)
    n_photo_tiles = len(tile_logits(model, held_photos, tile=config.tile))
    n_painting_tiles = len(tile_logits(model, held_paintings, tile=config.tile))
    acc_photos, acc_paintings = 1 - share_photos, share_paintings
    acc = (acc_photos * n_photo_tiles + acc_paintings * n_painting_tiles) / (n_photo_tiles + n_painting_tiles)

    g = torch.Generator().manual_seed(args.seed)
    pairs = torch.randint(0, len(held_paintings), (len(held_photos),), generator=g)
    sp_self = _mean_std([structure_preservation(x, x) for x in held_photos])
    sp_random = _mean_std(
        [structure_preservation(x, held_paintings[int(k)]) for x, k in zip(held_photos, pairs, strict=True)]
    )

    hd = {}  # out-of-distribution references, never trained on: real HD photos and Van Gogh reproductions
    for name in ("hd_photos/landscape", "style_test/style_vangogh_hd"):
        if (shared / name).is_dir():
            images = [open_image(p) for p in list_images(shared / name)]
            for side in (512, 1024):
                resized = [pil_to_tensor(fit_longest_side(im, side)) for im in images]
                hd[f"{name}@{side}"] = round(painting_share(model, resized, tile=config.tile), 4)

    numbers = {
        "trained_steps": args.steps, "batch_per_class": args.batch, "lr": args.lr, "max_downscale": args.max_downscale,
        "seed": args.seed, "train_seconds": round(seconds, 1), "threads": args.threads,
        "heldout_accuracy_photos": round(acc_photos, 4), "heldout_accuracy_paintings": round(acc_paintings, 4),
        "heldout_accuracy": round(acc, 4), "heldout_tiles_photos": n_photo_tiles,
        "heldout_tiles_paintings": n_painting_tiles,
        "painting_share_heldout_photos": round(share_photos, 4),
        "painting_share_heldout_paintings": round(share_paintings, 4),
        "structure_preservation_self": round(sp_self[0], 4),
        "structure_preservation_random_painting": [round(v, 4) for v in sp_random],
        "painting_share_hd_references": hd,
    }  # fmt: skip
    print(json.dumps(numbers, indent=2))
    save_domain_classifier(model, args.out, extra={"training": numbers})
    n_params = sum(t.numel() for t in model.parameters())
    (args.out / "README.md").write_text(
        _model_card(args=args, numbers=numbers, n_params=n_params, counts=(len(photos), len(paintings)))
    )
    print(f"wrote {args.out}")


def _hd_section(hd: dict) -> str:
    intro = (
        "\n\nThe classifier saw only 256x256 images: tiles of much larger images (HD outputs) hold\n"
        "less detail per tile, so compare an HD output with references at the same scale."
    )
    if not hd:
        return intro
    rows = "\n".join(f"| `{k.split('@')[0]}/` | {k.split('@')[1]} px | {v:.3f} |" for k, v in hd.items())
    return f"""{intro}
Out-of-distribution references, never trained on (real HD photos; other reproductions of Van
Gogh paintings), resized so that their longest side is 512 or 1024 px:

| folder (shared data) | longest side | painting_share |
| --- | --- | --- |
{rows}

Read HD translations against these rows rather than the 256-pixel held-out ones."""


def _model_card(*, args, numbers: dict, n_params: int, counts: tuple[int, int]) -> str:
    n = numbers
    acc_ph, acc_pa, acc = (
        f"{100 * n[k]:.1f}%" for k in ("heldout_accuracy_photos", "heldout_accuracy_paintings", "heldout_accuracy")
    )
    share_ph, share_pa = n["painting_share_heldout_photos"], n["painting_share_heldout_paintings"]
    tiles_ph, tiles_pa = n["heldout_tiles_photos"], n["heldout_tiles_paintings"]
    hd_text = _hd_section(n["painting_share_hd_references"])
    rel = lambda path: f"`{Path(*Path(path).parts[-2:])}/`"  # noqa: E731 - vangogh2photo/<folder>/
    return f"""# domain-classifier: photo vs Van Gogh painting, 64x64 tiles (evaluation only)

A small CNN ({n_params:,} parameters, {4 * n_params / 1e6:.2f} MB float32) that maps a
64x64 RGB tile in [0, 1] to one logit: positive = looks like a Van Gogh painting, negative =
looks like a photo. It is **an evaluation tool, not a product model**: `stylegan_lib.domain.painting_share`
reports the share of an image's non-overlapping 64x64 tiles it calls paintings, to say
"does it look like Van Gogh" for the translation methods independently of their own
discriminators. Load it with `stylegan_lib.domain.load_domain_classifier()`.

Architecture: {args.width}-{2 * args.width}-{4 * args.width}-{4 * args.width} channels, four 3x3 stride-2
convolutions with LeakyReLU(0.2), global mean pooling, one linear layer (`config.json` holds
the fields that rebuild it, `"architecture": "domain-classifier"`).

## Training

- Data: the CycleGAN `vangogh2photo` set (256x256 JPEG), photos {rel(args.photos)} ({counts[0]}
  images, label 0) vs paintings {rel(args.paintings)} ({counts[1]} images, label 1).
- Tiles: random {int(64 * args.max_downscale)}x{int(64 * args.max_downscale)} crops with horizontal
  flips (`stylegan_lib.data.CropSampler`); from each, half the time a native 64x64 tile, half the
  time a random square of 64-{int(64 * args.max_downscale)} px downscaled to 64x64 (bilinear,
  antialiased), so it judges brushwork and colour rather than resolution.
- BCE with logits, Adam (lr {n["lr"]}, cosine decay to 0), {n["trained_steps"]} steps of {n["batch_per_class"]} photo +
  {n["batch_per_class"]} painting tiles, seed {n["seed"]}.
- Training time: {n["train_seconds"]:.0f} s on CPU, {n["threads"]} thread (`torch.set_num_threads({n["threads"]})`).

## Held-out evaluation

All non-overlapping 64x64 tiles (16 per image) of {rel(args.photos_heldout)} and
{rel(args.paintings_heldout)}, never seen in training:

| held-out set | tiles | accuracy | painting_share |
| --- | --- | --- | --- |
| photos | {tiles_ph} | {acc_ph} | {share_ph:.3f} |
| paintings | {tiles_pa} | {acc_pa} | {share_pa:.3f} |
| all | {tiles_ph + tiles_pa} | {acc} | |

**Reference points:** a translator's `painting_share` should be read between {share_ph:.3f}
(real held-out photos) and {share_pa:.3f} (real held-out Van Gogh paintings).{hd_text}

`structure_preservation` (Pearson correlation of Sobel edge magnitudes of the luminance):
a held-out photo with itself = {n["structure_preservation_self"]:.3f}; a held-out photo with a random
held-out painting (baseline for unrelated images) = {n["structure_preservation_random_painting"][0]:.3f}
± {n["structure_preservation_random_painting"][1]:.3f} (mean ± std over the {n["heldout_tiles_photos"] // 16} photos).

## Licence notes

The training images are the CycleGAN `vangogh2photo` set (Zhu et al. 2017). Van Gogh's
paintings (WikiArt reproductions) are public domain; the photos are Flickr photos with no
recorded licence (photographers' copyright), used for training only and not shipped. The
weights are released for evaluation use.

## Retrain

```
.venv/bin/python -m stylegan_lib.domain --steps {n["trained_steps"]} --batch {n["batch_per_class"]} --lr {n["lr"]} \\
    --width {args.width} --max-downscale {n["max_downscale"]} --seed {n["seed"]} --threads {n["threads"]} \\
    --out checkpoints/domain-classifier
```

(the data folders default to `../shared/data/vangogh2photo/`, or `$STYLEGAN_LIB_SHARED/data/vangogh2photo/`;
the command rewrites this card with the new numbers).
"""


if __name__ == "__main__":
    main()
