"""Benchmark: Gatys style transfer, library `stylize()` against an eager reference loop.

Run on the GPU through the device tool (results go to BENCHMARKS.md with device and date):

    python bench/nst.py --weights PATH/vgg19-caffe.safetensors --steps 500 --sizes 512x512 1920x1080

The reference is the plainest transcription of seed 001's loop (float32, eager, Adam,
clip after each step) measured in the same run, so the ratio is like for like.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import hub, losses
from stylegan_lib.nst import CONTENT_LAYERS, STYLE_LAYERS, stylize
from stylegan_lib.vgg import build_vgg19


def reference_loop(vgg, content, style, *, steps: int) -> torch.Tensor:
    image = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=0.02, betas=(0.99, 0.999), eps=0.1)
    with torch.no_grad():
        c_t = vgg(content, CONTENT_LAYERS)["relu5_2"]
        s_feats = vgg(style, STYLE_LAYERS)
        s_t = [losses.gram_matrix(s_feats[n]) for n in STYLE_LAYERS]
    for _ in range(steps):
        opt.zero_grad()
        f = vgg(image, (*CONTENT_LAYERS, *STYLE_LAYERS))
        loss = (
            1e4 * losses.content_loss([f["relu5_2"]], [c_t])
            + 1e-2 * losses.style_loss([losses.gram_matrix(f[n]) for n in STYLE_LAYERS], s_t)
            + 50 * losses.tv_loss(image)
        )
        loss.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
    return image.detach()


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="vgg19-caffe safetensors (default: resolved by hub.py)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1920x1080"], help="WxH")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    vgg = build_vgg19(hub.resolve("vgg19-caffe", path=args.weights), device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    rows = []
    for spec in args.sizes:
        w, h = map(int, spec.split("x"))
        g = torch.Generator().manual_seed(0)
        content = torch.rand(1, 3, h, w, generator=g).to(device)
        style = torch.rand(1, 3, h, w, generator=g).to(device)
        reference_loop(vgg, content, style, steps=2)  # warm-up (cuDNN autotune, allocator)
        ref = timed(functools.partial(reference_loop, vgg, content, style, steps=args.steps), device)
        run = functools.partial(stylize, content, style, steps=args.steps, size=max(w, h), vgg=vgg, device=device)
        lib = timed(run, device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        rows.append({"size": spec, "steps": args.steps, "reference_s": round(ref, 3), "stylize_s": round(lib, 3),
                     "speedup": round(ref / lib, 2), "peak_gib": round(peak, 2)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(f"\ndevice: {name} · torch {torch.__version__} · {time.strftime('%Y-%m-%d')}")
    print("| size | steps | eager reference (s) | stylize() (s) | speed-up | peak GPU memory (GiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cells = [r["size"], r["steps"], r["reference_s"], r["stylize_s"], f"{r['speedup']}x", r["peak_gib"]]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
