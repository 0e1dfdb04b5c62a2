"""Cut the Caffe VGG19 after one layer, small enough to travel to a device machine.

    python bench/pack_vgg.py ../shared/weights/vgg19-caffe.safetensors .carry/vgg19-relu4_1.safetensors

The device tool carries at most 64 MiB with the working tree; the whole VGG19 (float16) is 40 MB.
The Siamese GAN's feature discriminator and content term read relu2_1 to relu4_1, whose
convolutions are 3.5 M of the 20 M weights (7 MB in float16). ``stylegan_lib.vgg.load_vgg19``
builds the trunk through the ReLU after the file's last convolution and refuses a deeper layer.
The tensors are copied bit for bit; the output is checked against the full network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib.vgg import LAYER_INDEX, LAYER_NAMES, load_vgg19


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the whole VGG19 (.safetensors, torchvision's features.N keys)")
    parser.add_argument("dest", type=Path, help="the cut file (.safetensors)")
    parser.add_argument("--through", default="relu4_1", help="the deepest layer kept (a reluN_M)")
    args = parser.parse_args()
    if not args.through.startswith("relu") or args.through not in LAYER_INDEX:
        parser.error(f"--through must be a VGG19 ReLU, one of {[n for n in LAYER_NAMES if n.startswith('relu')]}")
    last_conv = LAYER_INDEX[args.through] - 1
    with safe_open(str(args.source), framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        kept = {k: f.get_tensor(k) for k in f.keys() if k.startswith("features.") and int(k.split(".")[1]) <= last_conv}
    args.dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(kept, str(args.dest), metadata={**metadata, "through": args.through})

    full, cut = load_vgg19(path=str(args.source)), load_vgg19(path=str(args.dest))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        same = torch.equal(full(x, [args.through])[args.through], cut(x, [args.through])[args.through])
    if not same:
        raise SystemExit(f"{args.dest}: {args.through} differs from the whole network's")
    size = args.dest.stat().st_size
    print(f"{len(kept)} tensors through {args.through} -> {args.dest}: {size / 1e6:.1f} MB, {args.through} identical")


if __name__ == "__main__":
    main()
