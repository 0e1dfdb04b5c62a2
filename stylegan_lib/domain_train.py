"""Training of the photo-vs-painting classifier (:mod:`stylegan_lib.domain`), its evaluation and card.

:func:`train_domain_classifier` trains a :class:`~stylegan_lib.domain.DomainClassifier` on random
tiles of two crop samplers (photos = 0, paintings = 1); :func:`main` is the command that trains
the shipped checkpoint, measures it on the held-out photos and paintings (and HD references)
and writes its model card::

    python -m stylegan_lib train domain --out checkpoints/domain-classifier

(``python -m stylegan_lib.domain``, the card's retrain command, runs the same.) Under
``torchrun`` the training is data-parallel (:mod:`stylegan_lib.distributed`) and rank 0 alone
evaluates and writes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import distributed, hub
from .data import CropConfig, CropSampler, list_images
from .domain import (
    DomainClassifier,
    DomainClassifierConfig,
    painting_share,
    save_domain_classifier,
    structure_preservation,
    tile_logits,
)
from .images import fit_longest_side, open_image, pil_to_tensor

__all__ = ["DomainTrainProgress", "train_domain_classifier", "add_arguments", "main", "run"]

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


# ----------------------------------------------------------------------------- CLI: train, evaluate, ship


def _load_folder(folder: Path) -> list[torch.Tensor]:
    return [pil_to_tensor(open_image(p)) for p in list_images(folder)]  # each [1, 3, H, W]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std())


def _shared_data() -> Path:
    # the data folder of the default training sets and the HD references
    return Path(os.environ.get("STYLEGAN_LIB_SHARED", hub.REPO_ROOT.parent / "shared")) / "data"


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of :func:`main` (also ``python -m stylegan_lib train domain``'s)."""
    vg = _shared_data() / "vangogh2photo"
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
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Train, evaluate, and write the model and its card to ``--out``."""
    p = argparse.ArgumentParser(prog="python -m stylegan_lib train domain", description=__doc__.split("\n")[0])
    run(add_arguments(p).parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """:func:`main` on parsed options."""
    import json
    import time

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
        return 0

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

    shared = _shared_data()
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
    save_domain_classifier(model, args.out, training=numbers)
    n_params = sum(t.numel() for t in model.parameters())
    (args.out / "README.md").write_text(
        _model_card(args=args, numbers=numbers, n_params=n_params, counts=(len(photos), len(paintings)))
    )
    print(f"wrote {args.out}")
    return 0


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
