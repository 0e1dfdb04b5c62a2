"""Evaluate Van Gogh HD translators: seams at 4K, "does it look like Van Gogh", structure, time.

    python bench/siamese_eval.py --data ../shared/data --json out.json \
        --model siamese=checkpoints/siamese-vangogh --model siamese-naive=checkpoints/siamese-vangogh-naive \
        --model cyclegan=checkpoints/cyclegan-vangogh

A folder whose config.json says ``"architecture": "cyclegan"`` is run as translate.py runs the
"cyclegan" method: the whole frame in one call when it fits (translate.WHOLE_FRAME_PIXELS),
else tiles of translate.CYCLEGAN_TILE px with a feathered overlap. Its seam score is measured
on plain (overlap 0) tiles of that size: the worst case, without feathering.

Each model runs under every ``--norm`` (translate.NORMS): ``tile``, each tile normalised with
its own statistics (the Siamese GAN article's plain tiling), and ``image``, the whole photo's statistics
(thumbnail instance norm, tiles with context; translate.py). The seam score is taken on the
tile grid that run used, and on the model's own tile grid (64 px for the Siamese GANs).

* Seam score (tiling.seam_score) of each model's plain-tiled translation of real HD
  landscape photos resized to 3840x2160, beside the score of the photo itself on the same
  grid (a photo that was never tiled: about 1.0).
* painting_share: share of 64x64 tiles of the translated held-out photos (the 100 in
  vangogh2photo/photos_heldout, never used for training) that the independent domain
  classifier (checkpoints/domain-classifier) calls paintings; with the untranslated photos
  and the held-out paintings as the two reference points.
* structure_preservation: Sobel edge-map correlation between each held-out photo and its
  translation (1 = same edges).
* Time: translating one 12-megapixel photo (4000x3000), end to end (translate_hd, or
  translate.translate_image for CycleGAN); also per megapixel.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.checkpointing import training_info
from stylegan_lib.data import list_images
from stylegan_lib.domain import load_domain_classifier, painting_share, structure_preservation
from stylegan_lib.images import open_image, pil_to_tensor
from stylegan_lib.tiling import seam_score
from stylegan_lib.translate import NORMS, load_generator, plan_translation, translate_image


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float() / 255


def evaluate(G, method: str, model_tile: int, norm: str, heldout, hd, classifier, device: str) -> dict:
    """Seams at 4K, painting share, structure and 12 MP time of one model under one norm."""
    plan = plan_translation(method, G, model_tile, norm=norm, device=device)  # CycleGAN: held-out photos whole
    tile = plan.tile
    translated = [translate_image(G, img, plan) for img in heldout]
    plain = replace(plan, overlap=0, whole_frame_pixels=0)  # the seams of plain tiles
    outputs = [translate_image(G, img, plain) for img in hd]
    seams = [seam_score(out, tile=tile) for out in outputs]
    photo_seams = [seam_score(np.asarray(img), tile=tile) for img in hd]
    # the same outputs on the model's own tile grid (differs with norm="image"'s larger tiles)
    model_grid = [seam_score(out, tile=model_tile) for out in outputs]
    del outputs
    big = hd[0].resize((4000, 3000))
    start = time.perf_counter()
    # as the app: 64 plain tiles per batch (as many pixels in windows with context)
    batch = plan_translation(method, G, model_tile, norm=norm, device=device, tile_batch=64).batch
    translate_image(G, big, replace(plan, batch=batch))
    seconds_12mp = time.perf_counter() - start
    pairs = zip(heldout, translated, strict=True)
    structure = [structure_preservation(pil_to_tensor(a), to_tensor(b)) for a, b in pairs]
    return {
        "method": method,
        "norm": norm,
        "tile": tile,
        "overlap": plan.overlap,
        "whole_frame_pixels": plan.whole_frame_pixels,
        "seam_score_4k_mean": statistics.mean(seams),
        "seam_score_4k_max": max(seams),
        "seam_score_4k_photo_itself": statistics.mean(photo_seams),
        "seam_score_4k_mean_model_grid": statistics.mean(model_grid),
        "model_tile": model_tile,
        "painting_share_translated_heldout": painting_share(classifier, [to_tensor(t) for t in translated]),
        "structure_preservation_mean": statistics.mean(structure),
        "seconds_12mp": seconds_12mp,
        "seconds_per_megapixel": seconds_12mp / 12.0,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--model", action="append", required=True, help="NAME=FOLDER (repeatable)")
    parser.add_argument("--hd-photos", type=int, default=3, help="how many HD landscapes to score at 4K")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--norm", choices=NORMS, action="append", help="default: every one of them")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    classifier = load_domain_classifier(device=args.device)
    heldout = [open_image(p) for p in list_images(args.data / "vangogh2photo" / "photos_heldout")]
    paintings = [open_image(p) for p in list_images(args.data / "vangogh2photo" / "paintings_heldout")]
    hd_paths = list_images(args.data / "hd_photos" / "landscape")[: args.hd_photos]
    hd = [open_image(p).resize((3840, 2160)) for p in hd_paths]
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "reference": {
            "painting_share_heldout_photos": painting_share(classifier, [pil_to_tensor(i) for i in heldout]),
            "painting_share_heldout_paintings": painting_share(classifier, [pil_to_tensor(i) for i in paintings]),
        },
        "models": {},
    }
    for spec in args.model:
        name, folder = spec.split("=", 1)
        model_config = json.loads((Path(folder) / "config.json").read_text())
        method = "cyclegan" if model_config.get("architecture") == "cyclegan" else "siamese"
        G, model_tile = load_generator(method, path=folder, device=args.device)
        for norm in args.norm or NORMS:
            key = f"{name}:{norm}"
            report["models"][key] = evaluate(G, method, model_tile, norm, heldout, hd, classifier, args.device)
            report["models"][key]["trained_steps"] = training_info(model_config).get("trained_steps")
            print(key, json.dumps(report["models"][key]), flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
