"""Benchmark: Van Gogh HD end to end on one photo (decode -> G (tiled or whole frame) -> encode).

    python bench/translate.py PHOTO [--size 3840x2160] [--method siamese] [--batch 1024] [--repeat 3]
    python bench/translate.py PHOTO --method cyclegan --dtype bfloat16 --channels-last --compile   # GPU target

Reports decode, model and encode times separately, on CUDA when present. "model" is
translate.translate_image: for the Siamese GANs the tiling, G and the stitching
(translate_hd); for CycleGAN the whole frame in one G call when it fits
(translate.WHOLE_FRAME_PIXELS, any 4K frame on CUDA), else feathered tiles. ``--dtype``,
``--channels-last`` and ``--compile`` (torch.compile, compiled once for the frame size in
the warm-up) are the GPU speed options; the warm-up runs on the same size so no timed run
compiles; the photo is then painted once more by the eager G, and the largest difference
between the two pictures is printed. ``--model-only`` times G on a ready [1, 3, H, W] device
tensor (no uint8 transfers).
``--norm image`` (translate.NORMS) is the CLI's and app's default: the whole photo's statistics
recorded on a thumbnail (timed with the model), larger tiles with context; ``tile`` (this
script's default, the figures so far) is the Siamese GAN article's plain tiling.
Write the figures with the device and date into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.images import open_image
from stylegan_lib.translate import METHODS, NORMS, load_generator, plan_translation, translate_image

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class Timed:
    """The callable that is timed (G, maybe channels_last / compiled), with G's statistics interface."""

    def __init__(self, G, fn):
        self.G, self.fn = G, fn

    def __call__(self, x, **kwargs):
        return self.fn(x, **kwargs)

    def norm_stats(self, x):
        return self.G.norm_stats(x)

    @property
    def receptive_radius(self) -> int:
        return self.G.receptive_radius


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("--size", default="3840x2160", help="WxH the photo is resized to before the run")
    parser.add_argument("--method", default="siamese", choices=list(METHODS))
    parser.add_argument("--weights", default=None, help="model folder (default: hub.py)")
    parser.add_argument(
        "--batch", type=int, default=None, help="tiles per batch (siamese: 1024 on CUDA, 16 on CPU; cyclegan: 4 / 1)"
    )
    parser.add_argument("--tile", type=int, default=None, help="force tiles of this size (default: the method's)")
    parser.add_argument("--norm", choices=NORMS, default="tile", help="instance-norm statistics (translate.py)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")
    parser.add_argument("--channels-last", action="store_true", help="G and its inputs in channels_last layout")
    parser.add_argument("--compile", action="store_true", help="torch.compile G (mode max-autotune-no-cudagraphs)")
    parser.add_argument("--model-only", action="store_true", help="time G alone on a device tensor of the frame")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = map(int, args.size.split("x"))
    buf = io.BytesIO()
    open_image(args.photo).resize((w, h), Image.LANCZOS).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    dtype = DTYPES[args.dtype]
    G, tile = load_generator(args.method, path=args.weights, device=args.device, dtype=dtype)
    if args.channels_last:
        G = G.to(memory_format=torch.channels_last)
    eager = G
    if args.channels_last:
        eager = lambda x, **kw: G(x.contiguous(memory_format=torch.channels_last), **kw)  # noqa: E731
    fn = torch.compile(eager, mode="max-autotune-no-cudagraphs", dynamic=False) if args.compile else eager
    model = Timed(G, fn)
    # the Siamese GANs' small tiles: 1024 fill the GPU (larger tiles with context: as many pixels)
    plan = plan_translation(args.method, G, tile, norm=args.norm, device=args.device, tile=args.tile, batch=args.batch,
                            tile_batch=1024 if args.device == "cuda" else None)  # fmt: skip
    tile = plan.tile
    whole = plan.runs_whole_frame(h, w)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    warm_up = np.zeros((h, w, 3) if whole else (2 * tile, 2 * tile, 3), np.uint8)
    translate_image(model, warm_up, plan, dtype=dtype)
    if args.model_only:
        x = torch.rand(1, 3, h, w, device=args.device, dtype=dtype)
        with torch.inference_mode():
            for _ in range(args.repeat):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                print(f"model only {time.perf_counter() - t0:.4f} s")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        img = open_image(data)
        t1 = time.perf_counter()
        sync()
        out = translate_image(model, img, plan, dtype=dtype)
        sync()
        t2 = time.perf_counter()
        Image.fromarray(out).save(io.BytesIO(), "PNG", compress_level=1)
        t3 = time.perf_counter()
        print(
            f"decode {t1 - t0:.3f} s · model {t2 - t1:.3f} s ({(t2 - t1) / (w * h / 1e6):.3f} s/MP) · "
            f"encode {t3 - t2:.3f} s · total {t3 - t0:.3f} s"
        )
    if args.compile:  # the compiled G must paint the picture the eager G paints
        reference = translate_image(Timed(G, eager), open_image(data), plan, dtype=dtype)
        diff = np.abs(out.astype(np.int16) - reference.astype(np.int16))
        print(f"compiled vs eager: max |diff| {diff.max()} / 255, mean {diff.mean():.4f} / 255")
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    layout = "whole frame" if whole else f"{tile}-px tiles, overlap {plan.overlap}, batch {plan.batch}"
    layout += f", norm {args.norm}"
    options = [args.dtype] + ["channels_last"] * args.channels_last + ["torch.compile"] * args.compile
    print(
        f"{args.method}, {w}x{h}, {layout}, {', '.join(options)}, {name}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )


if __name__ == "__main__":
    main()
