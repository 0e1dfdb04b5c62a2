"""What each tab shows when it opens: the results of its examples, computed in advance.

The files live in ``examples/results/`` (small JPEGs, a GIF, and ``results.json`` with the status
lines, captions and tables) and are committed, so a visitor sees what every method does before
uploading anything, and nothing runs when the page loads. They are made by the app's own
handlers, on the shipped models, with one command (run it again after retraining a model):

    python -m webapp.examples                 # every tab
    python -m webapp.examples --only vangogh compare

A tab reads them through :func:`image`, :func:`gallery` and :func:`text`; a missing file (a
checkout without them) leaves the component empty.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from stylegan_lib.images import fit_longest_side

from .common import EXAMPLES

RESULTS = EXAMPLES / "results"
MANIFEST = RESULTS / "results.json"
SHOWN_SIDE = 768  # longest side of the committed JPEGs
JPEG_QUALITY = 82
MAX_BYTES = 150_000  # per committed file (tests/test_examples.py)

VANGOGH_PHOTO = "content_aitzgorri_mountains.jpg"
NST_PAIR = ("content_picos_de_europa.jpg", "style_autumn_tree.jpg")
COMPARE_PAIR = ("content_picos_de_europa.jpg", "style_autumn_tree.jpg")
FACE_SEED, FROM_SEED, TO_SEED, SEARCH_SEED = 0, 0, 1, 7
GIF_FRAMES, GIF_SIDE, GIF_FPS = 12, 96, 6


def _manifest() -> dict:
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}


def image(name: str) -> str | None:
    """The path of a committed result file, or None when it is not there."""
    path = RESULTS / name
    return str(path) if path.is_file() else None


def text(tab: str, key: str) -> str:
    """A status line, table or caption recorded with the results ("" when absent)."""
    return str(_manifest().get(tab, {}).get(key, ""))


def gallery(tab: str) -> list[tuple[str, str]] | None:
    """(image path, caption) pairs of a tab's recorded gallery; None when any file is missing."""
    items = _manifest().get(tab, {}).get("gallery", [])
    found = [(image(name), caption) for name, caption in items]
    return found if found and all(path for path, _ in found) else None


def file(tab: str, key: str) -> str | None:
    """The path of the result file a tab recorded under ``key``, or None."""
    name = text(tab, key)
    return image(name) if name else None


def pair(tab: str, first: str, second: str) -> tuple[str, str] | None:
    """Two recorded files (a before/after slider's value), or None when either is missing."""
    a, b = file(tab, first), file(tab, second)
    return (a, b) if a and b else None


# ----------------------------------------------------------------------------- making them


def _payload(name: str) -> dict:
    return {"path": str(EXAMPLES / name), "orig_name": name}


def _jpeg(img, name: str, *, side: int = SHOWN_SIDE) -> str:
    img = Image.open(img) if isinstance(img, (str, Path)) else img
    img = img.convert("RGB")
    if max(img.size) > side:
        img = fit_longest_side(img, side)  # Lanczos down
    RESULTS.mkdir(parents=True, exist_ok=True)
    img.save(RESULTS / name, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return name


def _quiet(*args, **kwargs) -> None:  # the handlers' progress tracker, outside Gradio
    return None


def _last(generator):
    """The last value a streaming handler yields (its final result)."""
    last = None
    for last in generator:  # noqa: B007
        pass
    return last


def _note(status: str, inputs: str) -> str:
    return (f"**Example** ({inputs}), computed in advance by `python -m webapp.examples` on a 2-core CPU shared "
            f"with other jobs (its times are that machine's): {status}")  # fmt: skip


def make_vangogh() -> dict:
    from . import vangogh_tab

    photo = _payload(VANGOGH_PHOTO)
    label = next(iter(vangogh_tab.METHODS))
    (before, after), status, _ = vangogh_tab.run_vangogh(photo, label, 1.0, 0, vangogh_tab.DEFAULT_NORM,
                                                         progress=_quiet)  # fmt: skip
    gallery, table = _last(vangogh_tab.run_vangogh_compare(photo, 1.0, 0, vangogh_tab.DEFAULT_NORM, progress=_quiet))
    names = []
    for i, (img, caption) in enumerate(gallery):
        names.append((_jpeg(img, f"vangogh_model_{i}.jpg", side=512), caption))
    return {
        "before": _jpeg(before, "vangogh_before.jpg"),
        "after": _jpeg(after, "vangogh_after.jpg"),
        "status": _note(status, f"{VANGOGH_PHOTO}, {label}"),
        "gallery": names,
        "table": table,
    }


def make_nst() -> dict:
    from . import nst_tab

    content, style = map(_payload, NST_PAIR)
    size, steps = 384, 120  # within the CPU's time limit, so the CPU machine can make them too
    optimizer = "lbfgs"  # converged in these steps; Adam would still show speckle (bench/nst_convergence.py)
    result, status, _ = _last(nst_tab.run_nst(content, style, 4, -2, 50, steps, size, optimizer, False, 1, 0,
                                              progress=_quiet))  # fmt: skip
    fast, fast_status, _ = nst_tab.run_fast(content, style, 1.0, size, False)
    magenta, magenta_status, _ = nst_tab.run_magenta(content, style, 1.0, size, False)
    inputs = f"{NST_PAIR[0]} in the style of {NST_PAIR[1]}, {steps} {optimizer.upper()} steps at {size} px"
    return {
        "result": _jpeg(result, "nst_gatys.jpg"),
        "status": _note(status, inputs),
        "fast": _jpeg(fast, "nst_fast.jpg"),
        "fast_status": _note(fast_status, f"{NST_PAIR[0]} in the style of {NST_PAIR[1]}"),
        "magenta": _jpeg(magenta, "nst_magenta.jpg"),
        "magenta_status": _note(magenta_status, f"{NST_PAIR[0]} in the style of {NST_PAIR[1]}"),
    }


def _interpolation_gif() -> str:
    """The app's interpolation between two seeds, shrunk to a small GIF."""
    from . import progan_tab

    gif, _ = progan_tab.run_progan_interpolate(FROM_SEED, TO_SEED, GIF_FRAMES, "norm-preserving", GIF_FPS)
    with Image.open(gif) as anim:
        frames = []
        for i in range(anim.n_frames):
            anim.seek(i)
            frames.append(anim.convert("RGB").resize((GIF_SIDE, GIF_SIDE), Image.LANCZOS))
    RESULTS.mkdir(parents=True, exist_ok=True)
    frames[0].save(RESULTS / "progan_interpolation.gif", save_all=True, append_images=frames[1:],
                   duration=round(1000 / GIF_FPS), loop=0, optimize=True)  # fmt: skip
    return "progan_interpolation.gif"


def make_progan() -> dict:
    from . import progan_tab

    face, _ = progan_tab.run_progan_sample(FACE_SEED)
    _interpolation_gif()
    settings = progan_tab.SEARCH
    search = progan_tab.run_progan_project(None, SEARCH_SEED, False, settings.steps, settings.restarts, settings.lr,
                                           progress=_quiet)  # fmt: skip
    pair_image, status, _, _ = _last(search)
    return {
        "face": _jpeg(face, "progan_face.jpg"),
        "face_status": f"**Example:** the face of random seed {FACE_SEED}.",
        "interpolation": "progan_interpolation.gif",
        "search": _jpeg(pair_image, "progan_search.jpg"),
        "search_status": _note(status, f"the face of seed {SEARCH_SEED} as the target"),
    }


def make_compare(*, skip: tuple[str, ...] = ()) -> dict:
    from . import compare_tab
    from .common import LIMITS

    photo, style = map(_payload, COMPARE_PAIR)
    chosen = [name for name in compare_tab.methods() if name not in skip]
    gallery, table = _last(compare_tab.run_compare(photo, style, chosen, LIMITS.compare_steps, 0, progress=_quiet))
    names = [(_jpeg(img, f"compare_{i}.jpg", side=512), caption) for i, (img, caption) in enumerate(gallery)]
    left_out = f" (left out of this example: {', '.join(skip)}; run it in the tab)" if skip else ""
    table = _note(f"the table below{left_out}.", f"{COMPARE_PAIR[0]}, style {COMPARE_PAIR[1]}") + "\n\n" + table
    return {"gallery": names, "table": table}


MAKERS = {"vangogh": make_vangogh, "nst": make_nst, "progan": make_progan, "compare": make_compare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp.examples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=sorted(MAKERS), default=list(MAKERS), help="default: every tab")
    parser.add_argument(
        "--compare-skip",
        nargs="+",
        default=[],
        metavar="METHOD",
        help="methods the comparison example leaves out (e.g. gatys on a slow CPU; the note says so)",
    )
    args = parser.parse_args(argv)
    for tab in args.only:
        started = time.perf_counter()
        found = make_compare(skip=tuple(args.compare_skip)) if tab == "compare" else MAKERS[tab]()
        manifest = _manifest()  # read again: another run may have written its tab meanwhile
        manifest[tab] = found
        MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        print(f"{tab}: {time.perf_counter() - started:.0f} s")
    for path in sorted(RESULTS.iterdir()):
        print(f"{path.stat().st_size:>9,}  {path.relative_to(EXAMPLES.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
