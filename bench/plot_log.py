"""Plot training curves from a run's log.csv into a PNG (Pillow only, no plotting library).

    python bench/plot_log.py runs/siamese/log.csv -o checkpoints/siamese-vangogh/curves.png \
        --columns loss_d1 loss_d2 loss_d3 loss_g1 loss_g2 cos
"""

from __future__ import annotations

import argparse
import csv

from PIL import Image, ImageDraw

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - k] if i >= k else 0.0)
        out.append(acc / min(i + 1, k))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--columns", nargs="+", required=True)
    parser.add_argument("--smooth", type=int, default=10, help="moving average over this many log rows")
    args = parser.parse_args()
    rows = list(csv.DictReader(open(args.log)))
    steps = [int(r["step"]) for r in rows]
    panel_w, panel_h, pad = 360, 180, 30
    cols = 3
    n = len(args.columns)
    img = Image.new("RGB", (cols * panel_w, -(-n // cols) * panel_h), "white")
    draw = ImageDraw.Draw(img)
    for i, name in enumerate(args.columns):
        x0, y0 = (i % cols) * panel_w, (i // cols) * panel_h
        values = smooth([float(r[name]) for r in rows], args.smooth)
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        pts = [
            (x0 + pad + (s - steps[0]) / max(1, steps[-1] - steps[0]) * (panel_w - 2 * pad),
             y0 + panel_h - pad - (v - lo) / span * (panel_h - 2 * pad))
            for s, v in zip(steps, values, strict=True)
        ]  # fmt: skip
        draw.rectangle([x0 + pad, y0 + pad, x0 + panel_w - pad, y0 + panel_h - pad], outline="#999999")
        draw.line(pts, fill=COLOURS[i % len(COLOURS)], width=2)
        draw.text((x0 + pad, y0 + 8), f"{name}  [{lo:.3g} .. {hi:.3g}]", fill="black")
        draw.text((x0 + pad, y0 + panel_h - pad + 4), f"step {steps[0]} .. {steps[-1]}", fill="#555555")
    img.save(args.output)


if __name__ == "__main__":
    main()
