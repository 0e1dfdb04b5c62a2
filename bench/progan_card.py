"""The figures of the progan-faces model card, from its weights.

    python bench/progan_card.py --weights checkpoints/progan-faces   # writes samples.png, closest_latent_heldout.png

``samples.png``: G on the app's seeds 0..63 (``sample_latents(1, seed=s)``), 8 per row. With
``--before OLD_FOLDER`` (a previous revision of the same model), also ``samples_before_after.png``:
the old weights' 64 seeds on the left and these on the right, so a retrained model is judged
beside the one it replaces.
``closest_latent_heldout.png``: the first ``--num`` held-out faces (top row, cropped and resized as in
training) and the closest-latent search result for each (bottom row), with the app's and CLI's
search settings (``latent.FACE_SEARCH``: 200 steps, lr 0.05, 8 starts chosen as the best of 256
scored latents; start seed = target index); their PSNRs are printed and written to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import hub
from stylegan_lib.checkpointing import training_info
from stylegan_lib.images import save_png
from stylegan_lib.latent import FACE_SEARCH, closest_latent
from stylegan_lib.progan import FACE_MODELS, generate, load_generator, sample_latents
from stylegan_lib.progan_train import face_targets
from stylegan_lib.training import sample_grid


def app_seeds(G: torch.nn.Module, *, z_dim: int) -> torch.Tensor:
    """G's faces for the app's seeds 0..63, [64, 3, R, R] in [0, 1]."""
    return torch.cat([generate(G, sample_latents(1, z_dim=z_dim, seed=s)) for s in range(64)])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(FACE_MODELS), default="progan-faces",
                        help="which face generator (and architecture) the weights are")  # fmt: skip
    parser.add_argument("--weights", required=True, help="model folder; the figures are written into it")
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces")
    parser.add_argument("--num", type=int, default=8, help="held-out faces searched")
    parser.add_argument("--steps", type=int, default=FACE_SEARCH.steps)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None, help="the previous revision's folder (same --model)")
    args = parser.parse_args(argv)
    folder = Path(args.weights)
    G, config = load_generator(model=args.model, path=folder)
    R = config.img_resolution

    grid = sample_grid(list(app_seeds(G, z_dim=config.z_dim).split(8)))  # [1, 3, 8R, 8R]
    save_png(grid, folder / "samples.png")
    if args.before is not None:
        G_old, old_config = load_generator(model=args.model, path=args.before)
        old = sample_grid(list(app_seeds(G_old, z_dim=old_config.z_dim).split(8)))
        gap = torch.ones_like(old[..., :8])  # 8 white columns between the two grids
        save_png(torch.cat([old, gap, grid], dim=-1), folder / "samples_before_after.png")

    crop_box = training_info(hub.resolve(args.model, path=folder).config).get("crop_box", "")  # as trained
    targets = face_targets(args.faces / "heldout", resolution=R, crop_box=crop_box, count=args.num)
    search = {**asdict(FACE_SEARCH), "steps": args.steps}  # the app's and CLI's settings
    found = [closest_latent(G, t, seed=i, **search) for i, t in enumerate(targets)]
    save_png(sample_grid([targets, torch.stack([f.image for f in found])]), folder / "closest_latent_heldout.png")
    psnr = [round(f.psnr, 2) for f in found]
    row = {"heldout_targets": args.num, "steps": args.steps, "psnr": psnr, "psnr_mean": round(statistics.mean(psnr), 2)}
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
