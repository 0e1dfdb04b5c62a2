"""Sample quality of the shipped ProGAN face generator: kernel distance (KID) on VGG19 features (issue #5).

Compares N generated faces (latent seeds drawn with ``--seed``) with N held-out CelebA faces the
generator never saw, cropped and resized as in training. For scale, the same figure for:

* N training faces against the held-out ones: the floor a perfect generator would reach;
* the held-out faces blurred (downscaled to 16 px and back): a recognisably worse image set.

    python bench/progan_quality.py --faces ../shared/data/faces --num 500 --json runs/progan_kid.json

KID x 1000 is reported (the usual scale), mean ± std over random subsets. Features: the
Caffe VGG19 (stylegan_lib.kid), an ImageNet network independent of the generator.

``--features`` picks the feature sets, comma-separated (default ``relu5_1``, the figure of every
earlier card). A generator trained against a discriminator on VGG19 features (``--d-backbone
vgg19``, issue #22) may fit exactly what a VGG19-based KID measures, so two more sets judge it
with features its discriminator never used:

* ``relu1_2+relu5_4``: VGG19 layers outside the discriminator's default relu2_1, relu3_1 and
  relu4_1 (spatial means at 128 px, each layer scaled on its own, then concatenated: 576 numbers);
* ``pixels16``: no network at all, the image averaged down to 16x16 (768 numbers): colour and
  layout statistics.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import hub, progan
from stylegan_lib.checkpointing import training_info
from stylegan_lib.kid import feature_scale, kernel_distance
from stylegan_lib.progan_train import FaceImages, parse_box
from stylegan_lib.vgg import load_vgg19


def _faces(folder: Path, *, num: int, resolution: int, box, seed: int) -> torch.Tensor:
    images = FaceImages(folder, resolution=resolution, box=box, flip=False, seed=seed).images  # [N, 3, R, R] uint8
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:num]
    return images[pick].float() / 255  # [num, 3, R, R] in [0, 1]


FEATURE_SETS = ("relu5_1", "relu1_2+relu5_4", "pixels16")


def _parts(vgg, images: torch.Tensor, feature_sets: list[str], *, device, batch: int = 64) -> dict[str, torch.Tensor]:
    """{part: [N, d]} raw features of ``images`` [N, 3, R, R] in [0, 1]: every VGG19 layer the sets name
    (spatial means at 128 px, as :func:`stylegan_lib.kid.vgg_features`, all from one forward pass) and
    ``pixels16`` (the image averaged to 16x16, centred)."""
    parts = {}
    if "pixels16" in feature_sets:
        parts["pixels16"] = F.interpolate(images, size=16, mode="area").flatten(1).double() - 0.5  # [N, 768]
    layers = sorted({layer for f in feature_sets if f != "pixels16" for layer in f.split("+")})
    if layers:
        chunks = []
        with torch.no_grad():
            for chunk in images.split(batch):
                x = F.interpolate(chunk.to(device=device, dtype=torch.float32), size=(128, 128), mode="bilinear",
                                  antialias=True, align_corners=False)  # fmt: skip
                chunks.append({k: v.mean(dim=(2, 3)).double().cpu() for k, v in vgg(x, layers).items()})
        parts.update({layer: torch.cat([c[layer] for c in chunks]) for layer in layers})
    return parts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces")
    parser.add_argument("--num", type=int, default=500, help="images per set")
    parser.add_argument("--subsets", type=int, default=50)
    parser.add_argument("--subset-size", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", choices=list(progan.FACE_MODELS), default="progan-faces",
                        help="which face generator (and architecture) the weights are")  # fmt: skip
    parser.add_argument("--weights", default=None, help="model folder (default: hub.py)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--features", default="relu5_1", help=f"comma-separated, from {', '.join(FEATURE_SETS)}")
    parser.add_argument(
        "--reference-cache", type=Path, default=None, help="folder keeping the reference sets' features"
    )
    args = parser.parse_args(argv)
    feature_sets = [f.strip() for f in args.features.split(",") if f.strip()]
    unknown = [f for f in feature_sets if f not in FEATURE_SETS]
    if unknown or not feature_sets:
        parser.error(f"--features: unknown {unknown}; choose from {', '.join(FEATURE_SETS)}")

    started = time.perf_counter()
    G, config = progan.load_generator(model=args.model, path=args.weights, device=args.device)
    box = parse_box(training_info(hub.resolve(args.model, path=args.weights).config).get("crop_box", ""))
    R = config.img_resolution
    heldout = _faces(args.faces / "heldout", num=args.num, resolution=R, box=box, seed=args.seed)
    train = _faces(args.faces / "train", num=args.num, resolution=R, box=box, seed=args.seed)
    blurred = F.interpolate(F.interpolate(heldout, size=16, mode="area"), size=R, mode="bilinear", align_corners=False)
    with torch.no_grad():
        z = progan.sample_latents(args.num, z_dim=config.z_dim, seed=args.seed, device=args.device)
        generated = torch.cat([progan.generate(G, chunk).cpu() for chunk in z.split(50)])

    vgg = load_vgg19("caffe", device=args.device)
    sets = {"heldout": heldout, "train": train, "blurred": blurred, "generated": generated}
    everything = {}
    for name, x in sets.items():
        key = f"{name}-{args.num}-{args.seed}-{R}-{box}-{','.join(feature_sets)}".replace(" ", "")
        cached = None if args.reference_cache is None else args.reference_cache / f"{key}.safetensors"
        if name != "generated" and cached is not None and cached.is_file():
            everything[name] = load_file(str(cached))
            continue
        everything[name] = _parts(vgg, x, feature_sets, device=args.device)
        if name != "generated" and cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            save_file(everything[name], str(cached))
    by_features = {}
    for feature_set in feature_sets:
        keys = ["pixels16"] if feature_set == "pixels16" else feature_set.split("+")
        parts = {name: {k: p[k] for k in keys} for name, p in everything.items()}
        # one constant per part for every set, from the held-out faces: the kernel wants order-1 features
        scales = {part: feature_scale(f) for part, f in parts["heldout"].items()}
        features = {name: torch.cat([p[k] / scales[k] for k in p], dim=1) for name, p in parts.items()}
        by_features[feature_set] = rows = {}
        for name in ("train", "generated", "blurred"):
            mean, std = kernel_distance(features["heldout"], features[name], subsets=args.subsets,
                                        subset_size=args.subset_size, seed=args.seed)  # fmt: skip
            rows[name] = {"kid_x1000": mean * 1000, "std_x1000": std * 1000}
    rows = by_features[feature_sets[0]]
    result = {
        "features": feature_sets[0], **({"kid_by_features": by_features} if len(feature_sets) > 1 else {}),
        "device": args.device, "torch": torch.__version__, "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"), "num": args.num, "subsets": args.subsets, "subset_size": args.subset_size,
        "resolution": R, "seconds": round(time.perf_counter() - started, 1), "kid_vs_heldout": rows,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    labels = {
        "train": "training faces (the floor)",
        "generated": "shipped G_ema",
        "blurred": "held-out faces blurred to 16 px",
    }
    print("\n| set, against held-out faces | " + " | ".join(f"KID × 1000, {f}" for f in by_features) + " |")
    print("| --- |" + " --- |" * len(by_features))
    for name in rows:
        cells = " | ".join(f"{r[name]['kid_x1000']:.2f} ± {r[name]['std_x1000']:.2f}" for r in by_features.values())
        print(f"| {labels[name]} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
