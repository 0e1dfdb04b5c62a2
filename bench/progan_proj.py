"""ProGAN training speed and bf16 agreement, with and without the feature discriminator (issue #22).

    OMP_NUM_THREADS=1 taskset -c 0 python bench/progan_proj.py speed --faces ../shared/data/faces/train
    OMP_NUM_THREADS=1 taskset -c 0 python bench/progan_proj.py agree --faces ../shared/data/faces/train

``speed``: images per second of ``train_progan`` at the full 64x64 stage (the schedule's lower
stages are passed in 144 images), for the v2 recipe (ProGAN's D only) and with the VGG19 feature
discriminator (``projected.py``), each in float32 and with bf16 autocast + channels_last. The
rate is taken over the 64x64 log rows after the first one (warm-up excluded), per second of this
process's CPU time (``time.process_time``; run it with OMP_NUM_THREADS=1) and per second of wall
time; on a machine shared with other jobs only the first is a property of the code.

``agree``: the same run (feature D beside ProGAN's D, DiffAugment) in float32 and in bf16 for a few
steps from the same seed; prints both loss columns side by side.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.progan import ProGANConfig
from stylegan_lib.progan_train import ProGANTrainConfig, train_progan

V2 = ProGANConfig(img_resolution=64, fmap_base=512, fmap_max=128, loss="ns")  # the shipped v2 model
VGG = Path(__file__).resolve().parents[2] / "shared/weights/vgg19-caffe.safetensors"


def _config(faces: Path, out: Path, **kw) -> ProGANTrainConfig:
    base = {"data": str(faces), "out": str(out), "batch": 16, "batch_per_res": "4:32,8:32", "ema_beta": 0.998,
            "augment": "color,translation,cutout", "log_every": 2, "sample_every": 10**9,
            "checkpoint_every": 10**9, "model": V2, "d_backbone_weights": str(VGG)}  # fmt: skip
    return ProGANTrainConfig(**{**base, **kw})


def speed(args) -> None:
    variants = {
        "ProGAN D (v2)": {},
        "ProGAN D + VGG19 features": {"d_backbone": "vgg19"},
        "VGG19 features only": {"d_backbone": "vgg19", "d_pixel": False},
    }
    rows = []
    for name, kw in variants.items():
        for bf16 in (False, True):
            clocks = []  # (images shown, CPU seconds, wall seconds) at each 64x64 log row

            def tick(progress, clocks=clocks) -> bool:  # True ends the run
                if progress.stage == 4:
                    clocks.append((progress.images_shown, time.process_time(), time.perf_counter()))
                return len(clocks) > 1 and clocks[-1][0] - clocks[0][0] >= args.images

            with tempfile.TemporaryDirectory() as tmp:
                config = _config(args.faces, Path(tmp), kimg_per_phase=0.016, kimg_final=1000, bf16=bf16,
                                 **kw)  # fmt: skip
                train_progan(config, callback=tick)
            (n0, c0, w0), (n1, c1, w1) = clocks[1], clocks[-1]  # from the second 64x64 row: warm-up excluded
            rows.append({"variant": name, "bf16": bf16, "images_per_cpu_s": round((n1 - n0) / (c1 - c0), 2),
                         "images_per_wall_s": round((n1 - n0) / (w1 - w0), 2), "images": n1 - n0})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d"), "rows": rows}  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


def agree(args) -> None:
    logs = {}
    for bf16 in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            config = _config(args.faces, Path(tmp), kimg_per_phase=0.16, log_every=1, bf16=bf16, d_backbone="vgg19")
            train_progan(config, callback=lambda p: p.step == args.steps)
            logs[bf16] = list(csv.DictReader(open(Path(tmp) / "log.csv")))
    keys = ("loss_d", "loss_g", "d_real", "d_fake", "f_real", "f_fake")
    print("| step | stage | " + " | ".join(f"{k} fp32 / bf16" for k in keys) + " |")
    for a, b in zip(logs[False], logs[True], strict=True):
        cells = " | ".join(f"{float(a[k]):.4f} / {float(b[k]):.4f}" for k in keys)
        print(f"| {a['step']} | {a['stage']} | {cells} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("speed", "agree"))
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/train")
    parser.add_argument("--images", type=int, default=640, help="speed: images timed at 64x64 in each run")
    parser.add_argument("--steps", type=int, default=40, help="agree: steps of each run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    {"speed": speed, "agree": agree}[args.action](args)


if __name__ == "__main__":
    main()
