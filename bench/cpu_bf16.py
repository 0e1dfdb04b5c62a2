"""Benchmark: float32 against bfloat16 autocast (precision.py) on the CPU, in one run, interleaved.

    taskset -c 0 python bench/cpu_bf16.py [--threads 1] [--only nst translate search]
        [--nst-size 320 --nst-steps 100] [--megapixels 12] [--search-targets 10 --search-steps 200]
        [--adain-size 512]

Each workload runs float32 then bfloat16 (the order flips on every repeat), so both see the same
load on a shared machine; report the ratio, which is what holds from one load to another.

* ``nst``: Gatys (``nst.stylize``) with the Gatys article's settings (alpha 1e4, beta 1e-2, TV 50, Adam),
  ``plasma_Path.jpg`` + ``starry-night-over-the-rhone.jpg`` from ../shared/data at longest side
  ``--nst-size``. Both results are judged by the same float32 objective (criterion: within 2 %).
* ``translate``: a Van Gogh photo (``lomiri_Bridge``, Lanczos-resized to ``--megapixels``) through
  ``translate.translate_image`` with the app's settings (whole-photo statistics, 512-px tiles with
  context) for each of ``--methods``; max and mean absolute difference in grey levels.
* ``adain``: ``adain.stylize_adain`` at ``--adain-size``² (``examples/content_picos_de_europa.jpg``
  and ``style_autumn_tree.jpg``), the style's statistics cached as in the app (one call first);
  max and mean absolute difference in grey levels.
* ``search``: ``latent.closest_latent`` with the app's face-search settings (FACE_SEARCH) on the
  first ``--search-targets`` held-out faces; PSNR per precision (criterion: within 0.2 dB on average).

Prints one JSON line per measurement and a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import adain, hub, latent, progan, translate
from stylegan_lib.images import open_image, pil_to_tensor, resize
from stylegan_lib.nst import loss_at, stylize
from stylegan_lib.vgg import build_vgg19

SHARED = Path(__file__).resolve().parents[2] / "shared"
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def interleaved(fn, repeats: int) -> dict[str, list]:
    """{precision: [fn(autocast) result, ...]}, float32 and bfloat16 alternating (ABBA...)."""
    out = {name: [] for name in PRECISIONS}
    for r in range(repeats):
        order = list(PRECISIONS) if r % 2 == 0 else list(reversed(PRECISIONS))
        for name in order:
            out[name].append(fn(PRECISIONS[name]))
    return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def bench_nst(args) -> dict:
    vgg = build_vgg19(hub.resolve("vgg19-caffe", path=args.vgg))
    data = SHARED / "data"
    content = pil_to_tensor(open_image(data / "hd_photos" / "landscape" / "plasma_Path.jpg"))
    style = pil_to_tensor(open_image(data / "style_test" / "style_vangogh_hd" / "starry-night-over-the-rhone.jpg"))
    size = args.nst_size

    def run(autocast):
        return timed(stylize, content, style, size=size, steps=args.nst_steps, vgg=vgg, autocast=autocast)

    stylize(content, style, size=64, steps=2, vgg=vgg, autocast=torch.bfloat16)  # warm-up: oneDNN's kernels
    runs = interleaved(run, args.repeats)
    image = runs["float32"][0][1]
    loss = {name: loss_at(r[0][1], content, style, vgg=vgg, style_side=size) for name, r in runs.items()}
    start_loss = loss_at(resize(content, tuple(image.shape[-2:])), content, style, vgg=vgg, style_side=size)
    h, w = image.shape[-2:]
    return row(f"Gatys {w}×{h}, {args.nst_steps} Adam steps", runs,
               f"float32-measured loss {loss['float32']:.4g} / {loss['bfloat16']:.4g} "
               f"({100 * (loss['bfloat16'] / loss['float32'] - 1):+.2f} %; start {start_loss:.4g})")  # fmt: skip


def bench_translate(args, method: str) -> dict:
    photo = open_image(SHARED / "data" / "hd_photos" / "landscape" / "lomiri_Bridge_by_Sander_Klootwijk.jpg")
    scale = (args.megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    G, tile = translate.load_translator(method)
    plan = translate.plan_translation(method, G, tile, norm="image", device="cpu", tile_batch=64)  # the app's

    def run(autocast):
        return timed(translate.translate_image, G, photo, plan, autocast=autocast)

    small = photo.resize((256, 192))
    translate.translate_image(G, small, plan, autocast=torch.bfloat16)  # warm-up
    runs = interleaved(run, args.repeats)
    diff = np.abs(runs["bfloat16"][0][1].astype(np.int16) - runs["float32"][0][1].astype(np.int16))
    return row(f"{method} {photo.width}×{photo.height} ({photo.width * photo.height / 1e6:.1f} MP), app settings",
               runs, f"max {diff.max()} / mean {diff.mean():.2f} / 99.9th pct {np.percentile(diff, 99.9):.0f} "
               "grey levels")  # fmt: skip


def bench_adain(args) -> dict:
    examples = Path(__file__).resolve().parents[1] / "examples"
    size = (args.adain_size, args.adain_size)
    content = pil_to_tensor(open_image(examples / "content_picos_de_europa.jpg").resize(size, Image.LANCZOS))
    style = pil_to_tensor(open_image(examples / "style_autumn_tree.jpg"))
    decoder, encoder = adain.load_adain()

    def run(autocast):
        return timed(adain.stylize_adain, content, style, decoder=decoder, encoder=encoder, autocast=autocast)

    for autocast in PRECISIONS.values():  # warm-up, and the style's statistics into the cache
        adain.stylize_adain(content, style, decoder=decoder, encoder=encoder, autocast=autocast)
    runs = interleaved(run, args.repeats)
    to_grey = lambda x: (x[0] * 255).round().to(torch.int16)  # noqa: E731
    diff = (to_grey(runs["bfloat16"][0][1]) - to_grey(runs["float32"][0][1])).abs().float()
    return row(f"AdaIN {size[0]}×{size[1]}, style statistics cached", runs,
               f"max {diff.max():.0f} / mean {diff.mean():.2f} grey levels")  # fmt: skip


def bench_search(args) -> dict:
    G, config = progan.load_generator()
    s = latent.FACE_SEARCH
    faces = sorted((SHARED / "data" / "faces" / "heldout").glob("*.jpg"))[: args.search_targets]
    targets = [latent.prepare_target(open_image(p), resolution=config.img_resolution) for p in faces]

    def run(autocast):
        return timed(lambda: [latent.closest_latent(G, t, steps=args.search_steps, lr=s.lr, restarts=s.restarts,
                                                    preselect=s.preselect, autocast=autocast).psnr
                              for t in targets])  # fmt: skip

    runs = interleaved(run, args.repeats)
    p32, p16 = (np.array(runs[name][0][1]) for name in PRECISIONS)
    return row(f"closest latent, {len(targets)} faces × {args.search_steps} steps ({s.restarts} of {s.preselect} "
               "starts)", runs, f"PSNR {p32.mean():.2f} / {p16.mean():.2f} dB (mean diff {(p16 - p32).mean():+.2f}, "
               f"per face {np.abs(p16 - p32).max():.2f} at most)")  # fmt: skip


def row(what: str, runs: dict, agreement: str) -> dict:
    times = {name: [t for t, _ in r] for name, r in runs.items()}
    median = {name: float(np.median(t)) for name, t in times.items()}
    out = {"workload": what, **{f"{n}_s": [round(t, 1) for t in ts] for n, ts in times.items()},
           "ratio": round(median["float32"] / median["bfloat16"], 2), "agreement": agreement}  # fmt: skip
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vgg", default=str(SHARED / "weights" / "vgg19-caffe.safetensors"), help="Caffe VGG19")
    parser.add_argument("--repeats", type=int, default=1, help="runs per precision, interleaved")
    parser.add_argument("--only", nargs="+", default=["nst", "translate", "adain", "search"])
    parser.add_argument("--nst-size", type=int, default=320, help="longest side: 320×200, about 256² pixels")
    parser.add_argument("--nst-steps", type=int, default=100)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--methods", nargs="+", default=["siamese"], choices=list(translate.METHODS))
    parser.add_argument("--adain-size", type=int, default=512)
    parser.add_argument("--search-targets", type=int, default=10)
    parser.add_argument("--search-steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    if "nst" in args.only:
        rows.append(bench_nst(args))
    if "translate" in args.only:
        rows += [bench_translate(args, method) for method in args.methods]
    if "adain" in args.only:
        rows.append(bench_adain(args))
    if "search" in args.only:
        rows.append(bench_search(args))
    cores = sorted(os.sched_getaffinity(0))
    print(f"\n{platform.processor() or 'cpu'}, cores {cores}, {args.threads} thread(s), torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("| workload | float32 (s) | bfloat16 autocast (s) | ratio | agreement |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        f32, bf16 = (" / ".join(map(str, r[k])) for k in ("float32_s", "bfloat16_s"))
        print(f"| {r['workload']} | {f32} | {bf16} | {r['ratio']}× | {r['agreement']} |")


if __name__ == "__main__":
    main()
