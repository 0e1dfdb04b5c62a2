"""Command line: ``python -m stylegan_lib TASK ...``.

Option defaults are read from the algorithm functions' signatures, so they live in one
place. Each task adapts the algorithm's callback to a tqdm progress bar.
"""

from __future__ import annotations

import argparse
import collections.abc
import inspect
import sys
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_signature_options(parser: argparse.ArgumentParser, func: Callable, *, skip: Sequence[str] = ()) -> None:
    """One ``--option`` per keyword-only parameter of ``func``, typed and defaulted by it."""
    hints = typing.get_type_hints(func)
    for name, param in inspect.signature(func).parameters.items():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        default = param.default
        if name == "dtype":
            parser.add_argument(flag, choices=list(DTYPES), default="float32", help="default: float32")
        elif name == "device":
            parser.add_argument(flag, default=None, help="default: cuda if available, else cpu")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, (int, float, str)):
            parser.add_argument(flag, type=type(default), default=default, help=f"default: {default}")
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=default, help=f"default: {' '.join(map(str, default))}")
        elif default is None:
            _add_optional(parser, flag, hints[name])


def _add_optional(parser: argparse.ArgumentParser, flag: str, hint) -> None:
    # `X | None` options: a number, or a sequence of numbers for `Sequence[X] | None`.
    (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(inner) in (Sequence, list, tuple, collections.abc.Sequence):
        (item,) = set(typing.get_args(inner))
        parser.add_argument(flag, type=item, nargs="+", default=None, help="default: automatic")
    else:
        parser.add_argument(flag, type=inner, default=None, help="default: automatic")


def signature_kwargs(args: argparse.Namespace, func: Callable, *, skip: Sequence[str] = ()) -> dict:
    """The parsed values of the options made by :func:`add_signature_options`."""
    kwargs = {}
    for name, param in inspect.signature(func).parameters.items():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in skip and hasattr(args, name):
            kwargs[name] = getattr(args, name)
    if "dtype" in kwargs:
        kwargs["dtype"] = DTYPES[kwargs["dtype"]]
    if "device" in kwargs and kwargs["device"] is None:
        kwargs["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return kwargs


def _nst(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .images import open_image, pil_to_tensor, save_png
    from .nst import stylize

    content = pil_to_tensor(open_image(args.content))
    styles = [pil_to_tensor(open_image(path)) for path in args.style]
    kwargs = signature_kwargs(args, stylize, skip=_NST_SKIP)
    bar = tqdm(total=kwargs["steps"] * kwargs["num_scales"], unit="step", disable=args.quiet)

    def callback(progress) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{progress.loss:.4g}", size=f"{progress.size[1]}x{progress.size[0]}")

    start = time.perf_counter()
    result = stylize(content, styles, callback=callback, **kwargs)
    bar.close()
    out = save_png(result, args.output)
    if not args.quiet:
        h, w = result.shape[-2:]
        print(f"wrote {out} ({w}x{h}) in {time.perf_counter() - start:.1f} s")
    return 0


_NST_SKIP = ("callback", "vgg", "content_layers", "style_layers")


def build_parser() -> argparse.ArgumentParser:
    from .nst import stylize

    parser = argparse.ArgumentParser(prog="python -m stylegan_lib", description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True)

    nst = tasks.add_parser("nst", help="Gatys neural style transfer (VGG19)", description=stylize.__doc__)
    nst.add_argument("content", type=Path, help="content image")
    nst.add_argument("style", type=Path, nargs="+", help="style image(s); blend with --style-blend")
    nst.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    nst.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_signature_options(nst, stylize, skip=_NST_SKIP)
    nst.set_defaults(run=_nst)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .hub import WeightsNotFoundError
    from .images import ImageError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ImageError, WeightsNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
