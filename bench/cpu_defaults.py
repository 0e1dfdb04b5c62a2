"""Benchmark: do the CPU's bfloat16 defaults keep float32's wait? (webapp/common.py, LIMITS per precision)

    taskset -c 0 python bench/cpu_defaults.py [--threads 1] [--only nst translate]

The app's CPU limits in bfloat16 are the float32 ones scaled up by the measured speed-up
(bench/cpu_bf16.py): a bigger Gatys result and a bigger Van Gogh photo for the same wait. This
runs each default job as the app would, float32 with the float32 limits and bfloat16 with the
bfloat16 ones, interleaved (ABBA) so both see the same load, and prints the ratio of their times
(1 = the same wait):

* ``nst``: Gatys with the app's defaults (alpha 1e4, beta 1e-2, TV 50; its size, steps and
  optimiser) on the first-view example pair (``examples/content_picos_de_europa.jpg`` in the style
  of ``style_autumn_tree.jpg``);
* ``translate``: the Siamese GAN on an HD landscape Lanczos-resized to the Van Gogh cap, with the
  app's settings (whole-photo statistics, 512-px tiles with context).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from cpu_bf16 import interleaved, timed  # bench/, beside this script

from stylegan_lib import translate
from stylegan_lib.images import open_image, pil_to_tensor
from stylegan_lib.nst import stylize
from stylegan_lib.vgg import load_vgg19

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _limits() -> dict:
    """{precision: (autocast, Limits)}: the CPU's float32 set and its bfloat16 one, as the app has them."""
    from webapp.common import LIMITS_BY_PLACE

    return {"float32": (None, LIMITS_BY_PLACE["cpu"]), "bfloat16": (torch.bfloat16, LIMITS_BY_PLACE["cpu:bfloat16"])}


def _times(limits: dict, job, repeats: int) -> dict[str, list[float]]:
    """{precision: [seconds, ...]} of ``job(autocast, limits)`` with each precision's own limits, interleaved
    as bench/cpu_bf16.py interleaves (ABBA, so both see the same load)."""
    by_autocast = {autocast: lim for autocast, lim in limits.values()}
    runs = interleaved(lambda autocast: timed(job, autocast, by_autocast[autocast]), repeats)
    return {p: [round(t, 1) for t, _ in r] for p, r in runs.items()}


def bench_nst(limits: dict, repeats: int) -> dict:
    vgg = load_vgg19("caffe", path=SHARED / "weights" / "vgg19-caffe.safetensors")
    content = pil_to_tensor(open_image(ROOT / "examples" / "content_picos_de_europa.jpg"))
    style = pil_to_tensor(open_image(ROOT / "examples" / "style_autumn_tree.jpg"))

    def job(autocast, lim):
        return stylize(content, style, size=lim.size, steps=lim.steps, optimizer=lim.optimizer, tv_weight=50.0,
                       vgg=vgg, autocast=autocast)  # fmt: skip

    stylize(content, style, size=64, steps=2, vgg=vgg, autocast=torch.bfloat16)  # warm-up: oneDNN's kernels
    times = _times(limits, job, repeats)
    sizes = {p: f"{lim.size} px, {lim.steps} {lim.optimizer}" for p, (_, lim) in limits.items()}
    return _row("Gatys, the app's defaults", sizes, times)


def bench_translate(limits: dict, repeats: int) -> dict:
    photo = open_image(SHARED / "data" / "hd_photos" / "landscape" / "lomiri_Bridge_by_Sander_Klootwijk.jpg")
    G, tile = translate.load_translator("siamese")
    plan = translate.plan_translation("siamese", G, tile, norm="image", device="cpu", tile_batch=64)

    def at_cap(pixels: int) -> Image.Image:
        scale = (pixels / (photo.width * photo.height)) ** 0.5
        return photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)

    photos = {lim.translate_pixels: at_cap(lim.translate_pixels) for _, lim in limits.values()}
    translate.translate_image(G, photo.resize((256, 192)), plan, autocast=torch.bfloat16)  # warm-up

    def job(autocast, lim):
        return translate.translate_image(G, photos[lim.translate_pixels], plan, autocast=autocast)

    shown = {p: photos[lim.translate_pixels] for p, (_, lim) in limits.items()}
    sizes = {p: f"{img.width}×{img.height} ({img.width * img.height / 1e6:.1f} MP)" for p, img in shown.items()}
    return _row("Van Gogh HD (Siamese GAN) at the cap", sizes, times=_times(limits, job, repeats))


def _row(what: str, sizes: dict, times: dict) -> dict:
    median = {p: sorted(t)[len(t) // 2] for p, t in times.items()}
    out = {"workload": what, "float32": f"{sizes['float32']}: {times['float32']} s",
           "bfloat16": f"{sizes['bfloat16']}: {times['bfloat16']} s",
           "wait_ratio": round(median["bfloat16"] / median["float32"], 2)}  # fmt: skip
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per precision, interleaved")
    parser.add_argument("--only", nargs="+", default=["nst", "translate"], choices=["nst", "translate"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    limits = _limits()
    rows = [{"nst": bench_nst, "translate": bench_translate}[name](limits, args.repeats) for name in args.only]
    print(f"\n{platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}\n")
    print("| job | float32 limits | bfloat16 limits | wait, bfloat16 / float32 |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['workload']} | {r['float32']} | {r['bfloat16']} | {r['wait_ratio']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
