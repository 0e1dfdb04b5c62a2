"""Quality of the AdaIN decoder against Gatys optimisation, on held-out photos and paintings (issue #7).

For each (photo, painting) pair, both at longest side ``--size``: the AdaIN result (alpha 1) and
the Gatys result of ``stylegan_lib.nst.stylize`` after ``--steps`` Adam steps (the Gatys
article's defaults), each scored with the Gatys objective: the style loss (Gram matrices of
relu1_1..relu5_1, MSE averaged over layers) and the content loss (relu5_2 MSE), unweighted, as
``nst.stylize`` reports them (its weights are 1e4 * content + 1e-2 * style). The unstylised
photo is scored too, for scale. Gatys results are cached in ``--cache`` (slow on a CPU).

    python bench/adain_eval.py --pairs 3 --size 256 --steps 500 --cache runs/adain_eval
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import losses
from stylegan_lib.adain import load_adain, stylize_adain
from stylegan_lib.images import fit_longest_side, open_image, pil_to_tensor, save_png
from stylegan_lib.nst import CONTENT_LAYERS, STYLE_LAYERS, stylize
from stylegan_lib.vgg import load_vgg19

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vangogh2photo"


def gatys_losses(vgg, image, content, style) -> dict[str, float]:
    """The Gatys article's unweighted content and style losses of ``image`` (all [1, 3, H, W] in [0, 1])."""
    with torch.no_grad():
        f = vgg(image, (*CONTENT_LAYERS, *STYLE_LAYERS))
        c = vgg(content, CONTENT_LAYERS)
        s = vgg(style, STYLE_LAYERS)
        content_loss = losses.content_loss([f[n] for n in CONTENT_LAYERS], [c[n] for n in CONTENT_LAYERS])
        grams = [losses.gram_matrix(f[n]) for n in STYLE_LAYERS]
        style_loss = losses.style_loss(grams, [losses.gram_matrix(s[n]) for n in STYLE_LAYERS])
    return {"content": float(content_loss), "style": float(style_loss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="longest side of photo and painting")
    parser.add_argument("--steps", type=int, default=500, help="Gatys Adam steps")
    parser.add_argument("--decoder", default=None, help="decoder folder (default: hub.py)")
    parser.add_argument("--cache", type=Path, default=Path("runs/adain_eval"), help="Gatys results and examples")
    parser.add_argument("--skip-adain", action="store_true", help="only compute (and cache) the Gatys results")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    vgg = load_vgg19("caffe", device=args.device)
    photos = sorted((DATA / "photos_heldout").glob("*.jpg"))[: args.pairs]
    paintings = sorted((DATA / "paintings_heldout").glob("*.jpg"))[: args.pairs]
    if not args.skip_adain:
        decoder, encoder = load_adain(path=args.decoder, device=args.device)
    rows = []
    for photo_path, painting_path in zip(photos, paintings, strict=True):
        content = pil_to_tensor(fit_longest_side(open_image(photo_path), args.size), device=args.device)
        style = pil_to_tensor(fit_longest_side(open_image(painting_path), args.size), device=args.device)
        pair = f"{photo_path.stem}+{painting_path.stem}"
        cached = args.cache / f"gatys{args.steps}_{args.size}_{pair}.png"
        timing = args.cache / f"gatys{args.steps}_{args.size}_{pair}.json"
        if cached.is_file():
            gatys = pil_to_tensor(open_image(cached), device=args.device)
            gatys_s = json.loads(timing.read_text())["seconds"]
        else:
            start = time.perf_counter()
            gatys = stylize(content, style, steps=args.steps, size=args.size, vgg=vgg, device=args.device)
            gatys_s = time.perf_counter() - start
            save_png(gatys, cached)  # 8-bit, as a user gets it; scored after reloading either way
            timing.write_text(json.dumps({"seconds": round(gatys_s, 1)}))
            gatys = pil_to_tensor(open_image(cached), device=args.device)
        row = {"pair": pair, "photo": gatys_losses(vgg, content, content, style), "gatys_s": round(gatys_s, 1),
               "gatys": gatys_losses(vgg, gatys, content, style)}  # fmt: skip
        if not args.skip_adain:
            start = time.perf_counter()
            fast = stylize_adain(content, style, decoder=decoder, encoder=encoder, style_size=args.size,
                                 device=args.device)  # fmt: skip
            row["adain_s"] = round(time.perf_counter() - start, 3)
            save_png(fast, args.cache / f"adain_{args.size}_{pair}.png")
            fast = pil_to_tensor(open_image(args.cache / f"adain_{args.size}_{pair}.png"), device=args.device)
            row["adain"] = gatys_losses(vgg, fast, content, style)
        rows.append(row)
        print(json.dumps(row), flush=True)

    if args.skip_adain:
        return
    device = torch.cuda.get_device_name() if "cuda" in args.device else platform.processor() or "cpu"
    print(f"\n{len(rows)} held-out pairs at {args.size} px · {device} · torch {torch.__version__} · "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("| result | style loss (Gram, relu1_1..5_1) | content loss (relu5_2) | median time per image (s) |")
    print("| --- | --- | --- | --- |")
    for key, label, seconds in (("photo", "the photo itself", None), ("adain", "AdaIN (alpha 1)", "adain_s"),
                                ("gatys", f"Gatys, {args.steps} Adam steps", "gatys_s")):  # fmt: skip
        style_mean = sum(r[key]["style"] for r in rows) / len(rows)
        content_mean = sum(r[key]["content"] for r in rows) / len(rows)
        t = "" if seconds is None else f"{statistics.median(r[seconds] for r in rows):.3g}"
        print(f"| {label} | {style_mean:.4g} | {content_mean:.4g} | {t} |")


if __name__ == "__main__":
    main()
