"""Benchmark: Van Gogh HD end to end on one photo (decode -> tiles -> G -> stitch -> encode).

    python bench/translate.py PHOTO [--size 3840x2160] [--batch 1024] [--repeat 3]

Reports decode, model (translate_hd: tiling, G, stitching) and encode times separately,
for the shipped Combo-trained generator, on CUDA when present. Write the figures with the
device and date into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import platform
import time

import numpy as np
import torch
from PIL import Image

from stylegan_lib.images import open_image
from stylegan_lib.tiling import translate_hd
from stylegan_lib.translate import load_translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("--size", default="3840x2160", help="WxH the photo is resized to before the run")
    parser.add_argument("--method", default="siamese")
    parser.add_argument("--batch", type=int, default=None, help="tiles per batch (default: 1024 on CUDA, 16 on CPU)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    w, h = map(int, args.size.split("x"))
    buf = io.BytesIO()
    open_image(args.photo).resize((w, h), Image.LANCZOS).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    G, tile = load_translator(args.method, device=args.device)
    batch = args.batch or (1024 if args.device == "cuda" else 16)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    translate_hd(G, np.zeros((2 * tile, 2 * tile, 3), np.uint8), tile=tile, batch=batch, device=args.device)  # warm-up
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        img = open_image(data)
        t1 = time.perf_counter()
        sync()
        out = translate_hd(G, img, tile=tile, batch=batch, device=args.device)
        sync()
        t2 = time.perf_counter()
        Image.fromarray(out).save(io.BytesIO(), "PNG", compress_level=1)
        t3 = time.perf_counter()
        print(f"decode {t1 - t0:.3f} s · model {t2 - t1:.3f} s · encode {t3 - t2:.3f} s · total {t3 - t0:.3f} s")
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"{w}x{h}, {tile}-px tiles, batch {batch}, {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
