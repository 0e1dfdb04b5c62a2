"""Evaluate Van Gogh HD translators: seams at 4K, "does it look like Van Gogh", structure, time.

    python bench/siamese_eval.py --data ../shared/data --json out.json \
        --model siamese=checkpoints/siamese-vangogh --model siamese-naive=checkpoints/siamese-vangogh-naive \
        --model cyclegan=checkpoints/cyclegan-vangogh

A folder whose config.json says ``"architecture": "cyclegan"`` is run as translate.py runs the
"cyclegan" method: the whole frame in one call when it fits (translate.WHOLE_FRAME_PIXELS),
else tiles of translate.CYCLEGAN_TILE px with a feathered overlap. Its seam score is measured
on plain (overlap 0) tiles of that size: the worst case, without feathering.

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
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.data import list_images
from stylegan_lib.domain import load_domain_classifier, painting_share, structure_preservation
from stylegan_lib.images import open_image, pil_to_tensor
from stylegan_lib.tiling import seam_score, translate_hd
from stylegan_lib.translate import default_batch, default_overlap, load_generator, translate_image, whole_frame_pixels


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float() / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--model", action="append", required=True, help="NAME=FOLDER (repeatable)")
    parser.add_argument("--hd-photos", type=int, default=3, help="how many HD landscapes to score at 4K")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
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
        G, tile = load_generator(method, path=folder, device=args.device)
        settings = dict(
            tile=tile,
            overlap=default_overlap(method, tile),
            whole_frame_pixels=whole_frame_pixels(method, args.device),
            device=args.device,
        )  # batch: translate_hd's default 16 for the held-out photos (CycleGAN runs them whole)
        translated = [translate_image(G, img, **settings) for img in heldout]
        seams, photo_seams = [], []
        for img in hd:
            seams.append(seam_score(translate_hd(G, img, tile=tile, device=args.device), tile=tile))
            photo_seams.append(seam_score(np.asarray(img), tile=tile))
        big = hd[0].resize((4000, 3000))
        start = time.perf_counter()
        translate_image(G, big, **settings, batch=64 if method == "siamese" else default_batch(method, args.device))
        seconds_12mp = time.perf_counter() - start
        pairs = zip(heldout, translated, strict=True)
        structure = [structure_preservation(pil_to_tensor(a), to_tensor(b)) for a, b in pairs]
        report["models"][name] = {
            "method": method,
            "tile": tile,
            "overlap": settings["overlap"],
            "whole_frame_pixels": settings["whole_frame_pixels"],
            "trained_steps": model_config.get("trained_steps"),
            "seam_score_4k_mean": statistics.mean(seams),
            "seam_score_4k_max": max(seams),
            "seam_score_4k_photo_itself": statistics.mean(photo_seams),
            "painting_share_translated_heldout": painting_share(classifier, [to_tensor(t) for t in translated]),
            "structure_preservation_mean": statistics.mean(structure),
            "seconds_12mp": seconds_12mp,
            "seconds_per_megapixel": seconds_12mp / 12.0,
            "threads": torch.get_num_threads(),
        }
        print(name, json.dumps(report["models"][name]), flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
