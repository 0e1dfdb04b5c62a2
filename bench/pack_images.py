"""Pack training images small enough to travel to the device machine with the working tree.

    python bench/pack_images.py ../shared/data/faces/train .carry/faces.zip --face   # 64x64 faces, 15 MB
    python bench/pack_images.py ../shared/data/faces/heldout .carry/faces.zip --face # appends heldout/
    python bench/pack_images.py ../shared/data/vangogh2photo/paintings_train .carry/vangogh.zip --quality 90
    python bench/pack_images.py ../shared/data/vangogh2photo/photos_train .carry/vangogh.zip --quality 75

The device tool carries at most 64 MiB with the working tree, so images go as WebP. With
``--face`` each face is cropped to the training box and resized to the model's resolution with
Lanczos by ``progan_train.crop_face``, as in training (about 1.6 KB a face at quality 90; train
on the pack with ``--crop-box ""``: its images are the face square already). Otherwise each
image keeps its size unless ``--max-side`` shrinks it. Paintings are what a translator learns
to imitate, brush strokes included, so they keep a higher quality than the photos.
A DEST ending in ``.zip`` gets the images as members ``<SOURCE's folder name>/<name>.webp``
(stored, not deflated: WebP is compressed already), appended to the zip if it exists: one file
carries no per-file overhead of the transfer, and ``python -m zipfile -e`` unpacks it there.
Prints the pack's size and its PSNR against the exact images (the cost of the lossy format).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.data import list_images
from stylegan_lib.progan_train import crop_face, parse_box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path, help="a folder, or a .zip (appended to)")
    parser.add_argument("--face", action="store_true", help="crop and resize each face as ProGAN's training does")
    parser.add_argument("--resolution", type=int, default=64, help="--face: the model's resolution")
    parser.add_argument("--crop-box", default="0,10,89,99", help="--face: as in training (ProGANTrainConfig)")
    parser.add_argument("--max-side", type=int, default=None, help="shrink larger images to this side (Lanczos)")
    parser.add_argument("--quality", type=int, default=90, help="WebP quality, 1-100")
    args = parser.parse_args()
    if not 1 <= args.quality <= 100:
        parser.error(f"--quality must be in 1-100, got {args.quality}")
    box = parse_box(args.crop_box)
    to_zip = args.dest.suffix == ".zip"
    (args.dest.parent if to_zip else args.dest).mkdir(parents=True, exist_ok=True)
    archive = zipfile.ZipFile(args.dest, "a") if to_zip else None
    size, squared = 0, 0.0
    paths = list_images(args.source)
    for path in paths:
        with Image.open(path) as img:
            if args.face:
                image = crop_face(img, resolution=args.resolution, box=box, name=path)
            else:
                image = img.convert("RGB")
                if args.max_side is not None and max(image.size) > args.max_side:
                    image.thumbnail((args.max_side, args.max_side), Image.Resampling.LANCZOS)
        data = io.BytesIO()
        image.save(data, "WEBP", quality=args.quality, method=6)
        name = path.stem + ".webp"
        if archive is not None:
            archive.writestr(f"{args.source.name}/{name}", data.getvalue())
        else:
            (args.dest / name).write_bytes(data.getvalue())
        size += data.tell()
        with Image.open(data) as packed:
            squared += np.square(np.asarray(packed, np.float64) - np.asarray(image, np.float64)).mean()
    if archive is not None:
        archive.close()
    mse = squared / len(paths)
    psnr = 10 * math.log10(255**2 / mse) if mse > 0 else math.inf
    print(f"{len(paths)} images -> {args.dest}: {size / 1e6:.1f} MB, PSNR {psnr:.2f} dB")


if __name__ == "__main__":
    main()
