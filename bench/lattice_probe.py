"""Do the Van Gogh quality figures reward a pixel lattice by itself? (issue #21)

    python bench/lattice_probe.py                                  # photos and siamese-vangogh, amplitudes 0 3 6 12
    python bench/lattice_probe.py --model checkpoints/siamese-vangogh --amplitudes 0 6 --out runs/probe.json

Nearest-neighbour and transposed-convolution upsampling leave a lattice of 2- and 4-px period in
a generator's output. A figure that rises when such a lattice alone is added rewards the defect,
not the painting. This adds a synthetic lattice (a period-2 checkerboard plus 2-px squares of
period 4, the two periods of the Siamese G's upsamplings, each of ``amplitude`` grey levels) to
the 100 held-out photos and to one model's translations of them, and reports every figure of
``bench/vangogh_quality.py`` on each: style gap closed on VGG19 relu5_1 / relu3_1 and on
Magenta's style embeddings, the periodic-noise figure, and the domain classifier's painting
share with its AUC of real paintings against these images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import vangogh_quality as vq  # noqa: E402


def lattice(height: int, width: int, *, amplitude: float) -> np.ndarray:
    """[H, W] float: ``amplitude`` x the mean of a period-2 checkerboard and 2-px squares of period 4 (each +-1)."""
    y, x = np.mgrid[0:height, 0:width]
    period2 = np.where((x + y) % 2 == 0, 1.0, -1.0)
    period4 = np.where((x // 2 + y // 2) % 2 == 0, 1.0, -1.0)
    return amplitude * (period2 + period4) / 2


def add_lattice(images, *, amplitude: float) -> list[np.ndarray]:
    """uint8 (H, W, 3) arrays with the lattice added to every channel, clipped to [0, 255]."""
    out = []
    for image in images:
        a = np.asarray(image, dtype=np.float64)
        a = a + lattice(a.shape[0], a.shape[1], amplitude=amplitude)[..., None]
        out.append(np.clip(a, 0, 255).round().astype(np.uint8))
    return out


def figures(images, *, refs: vq.References) -> dict:
    gaps, noise = vq.gap_and_noise(images, refs=refs)
    share = vq.share_figure(images, refs=refs)
    return {
        "style_gap": {layer: round(g["gap_closed"], 4) for layer, g in gaps.items()},
        "style_gap_std": {layer: round(g["gap_closed_std"], 4) for layer, g in gaps.items()},
        "noise": round(noise["mean"], 3),
        "painting_share": round(share["mean"], 4),
        "auc_paintings_vs_these": round(share["auc_paintings_vs_translated"], 4),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "siamese-vangogh"), help="a model folder")
    parser.add_argument("--name", default="siamese-vangogh", choices=list(vq.MODELS))
    parser.add_argument("--amplitudes", type=float, nargs="+", default=[0, 3, 6, 12], help="grey levels")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lattice_probe.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    refs = vq.References.load()
    photos = [np.asarray(p.convert("RGB")) for p in refs.photos]
    translated = vq.translate_photos(vq.load_model(args.model, name=args.name), refs.photos)
    results = {}
    for name, base in (("photos", photos), (args.name, translated)):
        for amplitude in args.amplitudes:
            key = f"{name} + lattice {amplitude:g}"
            results[key] = figures(add_lattice(base, amplitude=amplitude) if amplitude else base, refs=refs)
            print(key, results[key], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
