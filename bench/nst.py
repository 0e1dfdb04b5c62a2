"""Benchmark: Gatys style transfer, the fast paths of `stylize()` against an eager float32 reference loop.

On the GPU (bench/gpu_session.sh runs it; results go to BENCHMARKS.md with device and date):

    python bench/nst.py --weights PATH/vgg19-caffe.safetensors --steps 500 --sizes 512x320 1920x1080

The Gatys article's settings (alpha 1e4, beta 1e-2, TV 50, Adam lr 0.02 / beta1 0.99 / eps 0.1, clip after
each step, init from the content) on real images: ``plasma_Path.jpg`` with
``starry-night-over-the-rhone.jpg`` from ../shared/data, the content centre-cropped to each size's
aspect ratio and resized to it, the style to the same longest side. The weights need VGG19 through
relu5_2 at least (the whole file, or bench/pack_vgg.py ``--through relu5_2``).

Each size runs these variants in turn (``--variants``), each timed over one whole call after a
short warm-up call of the same variant (cuDNN's algorithm choice, the allocator); ``--repeats`` N
times them N times, interleaved (the order reversed every other round, for a shared CPU), and
reports the median:

* ``reference``: the plainest transcription of the Gatys article's loop (float32, eager), the baseline;
* ``eager``: ``stylize(cuda_graph=False)``, float32 (the library's eager loop);
* ``graph``: ``stylize(cuda_graph=True)``, float32: the CUDA graph alone;
* ``eager-bf16``: ``stylize(cuda_graph=False, autocast=torch.bfloat16)``: bfloat16 VGG19 alone;
* ``graph-bf16``: ``stylize(cuda_graph=True, autocast=torch.bfloat16)``: both.

The bfloat16 variants run a channels_last copy of VGG19 (``--no-channels-last``: as loaded). A
graph variant's time includes its capture (three warm-up steps and the capture, once per call),
which a user pays on every call. Each result is judged by the same float32 objective
(``nst.loss_at``), and its loss is given as a ratio to the reference's (criterion: within 2 %).
Peak memory is ``torch.cuda.max_memory_allocated`` per variant (CUDA only). Without CUDA the graph
variants run eagerly (``cuda_graph`` off; the row says so): the CPU run checks the script and
compares the library's eager loop with the reference.

Prints one JSON line per variant as it ends (``--json`` also writes them all after each), then a
Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import hub, losses
from stylegan_lib.images import fit_size, open_image, pil_to_tensor, resize
from stylegan_lib.nst import CONTENT_LAYERS, STYLE_LAYERS, loss_at, stylize
from stylegan_lib.vgg import build_vgg19

SHARED = Path(__file__).resolve().parents[2] / "shared"
CONTENT = Path("hd_photos/landscape/plasma_Path.jpg")
STYLE = Path("style_test/style_vangogh_hd/starry-night-over-the-rhone.jpg")
# name -> (cuda_graph wanted, autocast)
VARIANTS = {
    "reference": (False, None),
    "eager": (False, None),
    "graph": (True, None),
    "eager-bf16": (False, torch.bfloat16),
    "graph-bf16": (True, torch.bfloat16),
}


def reference_loop(vgg, content: torch.Tensor, style: torch.Tensor, *, steps: int) -> torch.Tensor:
    """The Gatys article's loop, written out: float32, eager, Adam, clip after each step; ``content`` is
    already at the working size, ``style`` at the same longest side."""
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


def run_variant(variant: str, *, steps: int, vgg, vgg_fast, content: torch.Tensor, style: torch.Tensor):
    """One call of ``variant`` (VARIANTS) on ``content`` at its own size; [1, 3, h, w] in [0, 1]."""
    side = max(content.shape[-2:])
    if variant == "reference":
        style_small = resize(style, fit_size(style, side))  # what stylize does with style_scale 1
        return reference_loop(vgg, content, style_small, steps=steps)
    graph, autocast = VARIANTS[variant]
    on_cuda = content.device.type == "cuda"
    return stylize(content, style, steps=steps, size=side, device=content.device, vgg=vgg if autocast is None
                   else vgg_fast, autocast=autocast, cuda_graph=graph and on_cuda)  # fmt: skip


def write(path: Path | None, header: str, rows: list[dict]) -> None:
    if path is not None:
        path.write_text(json.dumps({"header": header, "rows": rows}, indent=1))


def crop_to(image: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred crop of ``image`` with the aspect ratio width:height, Lanczos-resized to it."""
    scale = min(image.width / width, image.height / height)
    w, h = round(width * scale), round(height * scale)
    left, top = (image.width - w) // 2, (image.height - h) // 2
    return image.crop((left, top, left + w, top + h)).resize((width, height), Image.LANCZOS)


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    value = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="Caffe VGG19 .safetensors through relu5_2 at least "
                        "(default: resolved by hub.py)")  # fmt: skip
    parser.add_argument(
        "--data", type=Path, default=SHARED / "data", help="the shared data folder (default: %(default)s)"
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps of each variant's warm-up call")
    parser.add_argument("--sizes", nargs="+", default=["512x320", "1920x1080"], help="WxH")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["reference", "graph-bf16", "graph"])
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="the bfloat16 variants' VGG19 weights in channels_last (default: on)")  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per variant, interleaved, the order "
                        "reversed every other round; the median is reported (default: 1)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write the rows here as well")
    args = parser.parse_args()
    if "reference" not in args.variants:
        parser.error("--variants must include reference: every loss and time is given against it")
    device = torch.device(args.device)
    vgg = build_vgg19(hub.resolve("vgg19-caffe", path=args.weights), device=device)
    vgg_fast = copy.deepcopy(vgg).to(memory_format=torch.channels_last) if args.channels_last else vgg
    content_photo, style_photo = open_image(args.data / CONTENT), open_image(args.data / STYLE)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    header = (f"device: {name} · torch {torch.__version__} · {time.strftime('%Y-%m-%d')} · cudnn.allow_tf32 "
              f"{torch.backends.cudnn.allow_tf32} · matmul tf32 {torch.backends.cuda.matmul.allow_tf32}")  # fmt: skip
    print(header, flush=True)
    rows = []
    for spec in args.sizes:
        w, h = map(int, spec.lower().split("x"))
        content = pil_to_tensor(crop_to(content_photo, w, h), device=device)  # [1, 3, h, w]
        style = pil_to_tensor(style_photo, device=device)
        side = max(w, h)
        order = ["reference", *(v for v in args.variants if v != "reference")]  # the reference first
        runs = {v: functools.partial(run_variant, v, steps=args.steps, vgg=vgg, vgg_fast=vgg_fast, content=content,
                                     style=style) for v in order}  # fmt: skip
        size_rows = {}
        for variant in order:
            runs[variant](steps=args.warmup_steps)
            seconds, peak, image = timed(runs[variant], device)
            loss = loss_at(image, content, style, vgg=vgg, style_side=side)  # float32, one measure for all
            if variant == "reference":
                reference_loss, reference_s = loss, seconds
            rows.append({
                "size": f"{image.shape[-1]}x{image.shape[-2]}", "steps": args.steps, "variant": variant,
                "cuda_graph": VARIANTS[variant][0] and device.type == "cuda",
                "autocast": str(VARIANTS[variant][1]).removeprefix("torch.") if VARIANTS[variant][1] else "none",
                "channels_last": args.channels_last and VARIANTS[variant][1] is not None,
                "seconds": round(seconds, 3), "speedup": round(reference_s / seconds, 2),
                "peak_gib": None if peak is None else round(peak, 2),
                "loss": loss, "loss_ratio": round(loss / reference_loss, 4), "times": [round(seconds, 3)],
            })  # fmt: skip
            size_rows[variant] = rows[-1]
            print(json.dumps(rows[-1]), flush=True)
            write(args.json, header, rows)
        for r in range(1, args.repeats):  # more rounds, the order reversed every other one; medians reported
            for variant in order[::-1] if r % 2 else order:
                seconds, peak, _ = timed(runs[variant], device)
                size_rows[variant]["times"].append(round(seconds, 3))
                if peak is not None:
                    size_rows[variant]["peak_gib"] = max(size_rows[variant]["peak_gib"], round(peak, 2))
        for row in size_rows.values():
            row["seconds"] = round(statistics.median(row["times"]), 3)
            row["speedup"] = round(size_rows["reference"]["seconds"] / row["seconds"], 2)
        if args.repeats > 1:
            print(json.dumps(list(size_rows.values())), flush=True)
            write(args.json, header, rows)
    print(f"\n{header}")
    print("| size | steps | variant | time (s) | speed-up | peak GPU memory (GiB) | loss / reference loss |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        what = r["variant"] + ("" if r["cuda_graph"] or "graph" not in r["variant"] else " (graph off: no CUDA)")
        cells = [r["size"], r["steps"], what, r["seconds"], f"{r['speedup']}x", r["peak_gib"], r["loss_ratio"]]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
