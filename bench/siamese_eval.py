"""Evaluate Van Gogh HD translators: seams at 4K, "does it look like Van Gogh", structure, time.

    python bench/siamese_eval.py --data ../shared/data --json out.json \
        --model siamese=checkpoints/siamese-vangogh --model siamese-naive=checkpoints/siamese-vangogh-naive

* Seam score (tiling.seam_score) of each model's plain-tiled translation of real HD
  landscape photos resized to 3840x2160, beside the score of the photo itself on the same
  grid (a photo that was never tiled: about 1.0).
* painting_share: share of 64x64 tiles of the translated held-out photos (the 100 in
  vangogh2photo/photos_heldout, never used for training) that the independent domain
  classifier (checkpoints/domain-classifier) calls paintings; with the untranslated photos
  and the held-out paintings as the two reference points.
* structure_preservation: Sobel edge-map correlation between each held-out photo and its
  translation (1 = same edges).
* Time: translating one 12-megapixel photo (4000x3000), end to end in translate_hd.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from stylegan_lib.data import list_images
from stylegan_lib.domain import load_domain_classifier, painting_share, structure_preservation
from stylegan_lib.images import open_image, pil_to_tensor
from stylegan_lib.siamese import load_generator
from stylegan_lib.tiling import seam_score, translate_hd


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
        G, config = load_generator(path=folder, device=args.device)
        tile = config.tile
        translated = [translate_hd(G, img, tile=tile, device=args.device) for img in heldout]
        seams, photo_seams = [], []
        for img in hd:
            seams.append(seam_score(translate_hd(G, img, tile=tile, device=args.device), tile=tile))
            photo_seams.append(seam_score(np.asarray(img), tile=tile))
        big = hd[0].resize((4000, 3000))
        start = time.perf_counter()
        translate_hd(G, big, tile=tile, batch=64, device=args.device)
        seconds_12mp = time.perf_counter() - start
        pairs = zip(heldout, translated, strict=True)
        structure = [structure_preservation(pil_to_tensor(a), to_tensor(b)) for a, b in pairs]
        report["models"][name] = {
            "tile": tile,
            "trained_steps": json.loads((Path(folder) / "config.json").read_text()).get("trained_steps"),
            "seam_score_4k_mean": statistics.mean(seams),
            "seam_score_4k_max": max(seams),
            "seam_score_4k_photo_itself": statistics.mean(photo_seams),
            "painting_share_translated_heldout": painting_share(classifier, [to_tensor(t) for t in translated]),
            "structure_preservation_mean": statistics.mean(structure),
            "seconds_12mp": seconds_12mp,
        }
        print(name, json.dumps(report["models"][name]), flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
