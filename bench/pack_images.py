"""Pack the training faces small enough to travel to the device machine with the tree (issue #5).

    python bench/pack_faces.py ../shared/data/faces/train .carry/faces/train   # /.carry/ is git-ignored
    # device run, carry [".carry"]: python -m stylegan_lib train progan --data .carry/faces/train --crop-box "" ...
    python bench/pack_faces.py ../shared/data/faces/train .carry/faces.zip     # or one zip (train/*.webp)
    python bench/pack_faces.py ../shared/data/faces/heldout .carry/faces.zip   # appends heldout/*.webp

Each face is cropped to the training box and resized to the model's resolution with Lanczos by
``progan_train.crop_face``, as in training, then stored as WebP at quality 90: about 1.6 KB a face, 15 MB
for the 9,500 training faces, so that the tracked tree (45 MB) and the pack stay under the device
tool's 64 MiB. Train on the pack with ``--crop-box ""``: its images are the face square already.
A DEST ending in ``.zip`` gets the faces as members ``<SOURCE's folder name>/<name>.webp`` (stored,
not deflated: WebP is compressed already), appended to the zip if it exists: one file carries
no per-file overhead of the transfer, and ``python -m zipfile -e`` unpacks it there.
Prints the pack's size and its PSNR against the exact crops (the cost of the lossy format).
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
    parser.add_argument("dest", type=Path)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--crop-box", default="0,10,89,99", help="as in training (progan_train.ProGANTrainConfig)")
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    box = parse_box(args.crop_box)
    to_zip = args.dest.suffix == ".zip"
    (args.dest.parent if to_zip else args.dest).mkdir(parents=True, exist_ok=True)
    archive = zipfile.ZipFile(args.dest, "a") if to_zip else None
    size, squared = 0, 0.0
    paths = list_images(args.source)
    for path in paths:
        with Image.open(path) as img:
            face = crop_face(img, resolution=args.resolution, box=box, name=path)
        data = io.BytesIO()
        face.save(data, "WEBP", quality=args.quality, method=6)
        name = path.stem + ".webp"
        if archive is not None:
            archive.writestr(f"{args.source.name}/{name}", data.getvalue())
        else:
            (args.dest / name).write_bytes(data.getvalue())
        size += data.tell()
        with Image.open(data) as packed:
            squared += np.square(np.asarray(packed, np.float64) - np.asarray(face, np.float64)).mean()
    if archive is not None:
        archive.close()
    mse = squared / len(paths)
    print(f"{len(paths)} faces -> {args.dest}: {size / 1e6:.1f} MB, PSNR {10 * math.log10(255**2 / mse):.2f} dB")


if __name__ == "__main__":
    main()
