"""Benchmark: which Gatys recipe converges within the CPU's time, by loss, speckle and eye.

    python bench/nst_convergence.py --size 256 --threads 1 --sheet runs/nst_convergence.png

Runs Gatys (``stylegan_lib.nst.stylize``, the app's weights α = 1e4, β = 1e-2, TV 50) on one
content/style pair for each recipe ``OPTIMIZER:STEPS:PRECISION`` and prints, per recipe: wall
time, the final total loss and its parts, and the mean absolute discrete Laplacian of the result
(high-frequency energy: Adam's unconverged red/green speckle raises it; a converged result
approaches the reference recipe's). The last recipe is the reference (run long). ``--sheet``
writes the results side by side at 2x (nearest), to judge speckle at 1:1 and beyond.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.images import open_image, pil_to_tensor, tensor_to_pil
from stylegan_lib.nst import stylize
from stylegan_lib.precision import AUTOCAST_NAMES

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["adam:100:none", "adam:100:bfloat16", "lbfgs:50:bfloat16", "lbfgs:100:bfloat16", "lbfgs:100:none",
           "adam:300:bfloat16", "lbfgs:300:none"]  # fmt: skip


def laplacian_energy(image: torch.Tensor) -> float:
    """Mean |4x - (its four neighbours)| over the interior of [1, 3, H, W] in [0, 1]."""
    x = image.double()
    centre = x[..., 1:-1, 1:-1]
    around = x[..., :-2, 1:-1] + x[..., 2:, 1:-1] + x[..., 1:-1, :-2] + x[..., 1:-1, 2:]
    return (4 * centre - around).abs().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=REPO / "examples" / "content_picos_de_europa.jpg")
    parser.add_argument("--style", type=Path, default=REPO / "examples" / "style_autumn_tree.jpg")
    parser.add_argument("--size", type=int, default=256, help="longest side (the app's CPU default)")
    parser.add_argument("--recipes", nargs="+", default=RECIPES, help="OPTIMIZER:STEPS:PRECISION; last = reference")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sheet", type=Path, default=None, help="PNG of the results side by side")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    content, style = pil_to_tensor(open_image(args.content)), pil_to_tensor(open_image(args.style))
    rows, images = [], []
    for recipe in args.recipes:
        optimizer, steps, precision = recipe.split(":")
        if precision not in AUTOCAST_NAMES:
            parser.error(f"precision must be one of {list(AUTOCAST_NAMES)}, got {precision!r}")
        last: dict = {}
        start = time.perf_counter()
        out = stylize(content, style, steps=int(steps), optimizer=optimizer, size=args.size, content_weight=1e4,
                      style_weight=1e-2, tv_weight=50.0, autocast=AUTOCAST_NAMES[precision],
                      callback=lambda p, last=last: last.update(p=p))  # fmt: skip
        seconds = time.perf_counter() - start
        p = last["p"]
        row = {"recipe": recipe, "seconds": round(seconds, 1), "loss": p.loss, "content_loss": p.content_loss,
               "style_loss": p.style_loss, "tv_loss": p.tv_loss, "laplacian": laplacian_energy(out)}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        images.append(tensor_to_pil(out))
    reference = rows[-1]
    for row in rows:
        row["loss_over_reference"] = row["loss"] / reference["loss"]
        row["laplacian_over_reference"] = row["laplacian"] / reference["laplacian"]
    print("| recipe | s | loss / reference | Laplacian / reference |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['recipe']} | {row['seconds']:.1f} | {row['loss_over_reference']:.3f} "
              f"| {row['laplacian_over_reference']:.2f} |")  # fmt: skip
    if args.sheet:
        w, h = images[0].size
        sheet = Image.new("RGB", (w * len(images), h))
        for i, image in enumerate(images):
            sheet.paste(image, (i * w, 0))
        sheet.resize((2 * sheet.width, 2 * sheet.height), Image.Resampling.NEAREST).save(args.sheet)
    if args.json:
        info = {"device": platform.processor() or platform.machine(), "threads": args.threads,
                "torch": torch.__version__, "size": args.size, "rows": rows}  # fmt: skip
        args.json.write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
