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


def _options(func: Callable, skip: Sequence[str]):
    # (name, parameter) for every parameter of a function or dataclass that has a default
    for name, param in inspect.signature(func).parameters.items():
        if param.default is not inspect.Parameter.empty and name not in skip:
            yield name, param


def add_signature_options(parser: argparse.ArgumentParser, func: Callable, *, skip: Sequence[str] = ()) -> None:
    """One ``--option`` per defaulted parameter of ``func`` (or dataclass field), typed and defaulted by it."""
    hints = typing.get_type_hints(func)
    for name, param in _options(func, skip):
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
    kwargs = {name: getattr(args, name) for name, _ in _options(func, skip) if hasattr(args, name)}
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


def _train_siamese(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .siamese import SiameseConfig
    from .siamese_train import SiameseTrainConfig, train_siamese

    model = SiameseConfig(**signature_kwargs(args, SiameseConfig))
    kwargs = signature_kwargs(args, SiameseTrainConfig, skip=_TRAIN_SKIP)
    config = SiameseTrainConfig(
        domain_a=args.domain_a, domain_b=args.domain_b, out=str(args.out), model=model, **kwargs
    )
    bar = tqdm(total=config.steps, unit="step", disable=args.quiet)

    def callback(progress) -> None:
        bar.n = progress.step
        bar.set_postfix(progress.losses, refresh=True)

    weights = train_siamese(config, callback=callback)
    bar.close()
    print(f"wrote {weights}")
    return 0


_TRAIN_SKIP = ("domain_a", "domain_b", "out", "model")


def _translate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from .images import open_image, save_png
    from .tiling import translate_hd

    kwargs = signature_kwargs(args, translate_hd, skip=("callback",))
    if args.method == "siamese":
        from .siamese import load_generator

        G, model_config = load_generator(path=args.weights, device=kwargs["device"], dtype=kwargs["dtype"])
        kwargs["tile"] = args.tile or model_config.tile
    else:
        raise ValueError(f"method {args.method!r} has no trained model in this build yet")
    image = open_image(args.input, max_pixels=args.max_pixels)
    bar = tqdm(unit="tile", disable=args.quiet)

    def callback(progress) -> None:
        bar.total = progress.total
        bar.n = progress.done
        bar.refresh()

    start = time.perf_counter()
    result = translate_hd(G, image, callback=callback, **kwargs)
    bar.close()
    out = save_png(torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1).float().div(255), args.output)
    print(f"wrote {out} ({image.width}x{image.height}) in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .nst import stylize
    from .siamese import SiameseConfig
    from .siamese_train import SiameseTrainConfig
    from .tiling import translate_hd

    parser = argparse.ArgumentParser(prog="python -m stylegan_lib", description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True)

    nst = tasks.add_parser("nst", help="Gatys neural style transfer (VGG19)", description=stylize.__doc__)
    nst.add_argument("content", type=Path, help="content image")
    nst.add_argument("style", type=Path, nargs="+", help="style image(s); blend with --style-blend")
    nst.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    nst.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_signature_options(nst, stylize, skip=_NST_SKIP)
    nst.set_defaults(run=_nst)

    train = tasks.add_parser("train", help="train a model").add_subparsers(dest="method", required=True)
    siamese = train.add_parser("siamese", help="Siamese GAN with the Combo model (seed 000)")
    siamese.add_argument("--domain-a", nargs="+", required=True, help="folder(s) of domain A images (photos)")
    siamese.add_argument("--domain-b", nargs="+", required=True, help="folder(s) of domain B images (paintings)")
    siamese.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a run)")
    siamese.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(siamese, SiameseTrainConfig, skip=_TRAIN_SKIP)
    add_signature_options(siamese, SiameseConfig)
    siamese.set_defaults(run=_train_siamese)

    translate = tasks.add_parser("translate", help="translate a photo at full resolution, tile by tile")
    translate.add_argument("input", type=Path)
    translate.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    translate.add_argument("--method", choices=("siamese", "cyclegan"), default="siamese")
    translate.add_argument("--weights", default=None, help="model folder or .safetensors (default: hub.py)")
    translate.add_argument("--tile", type=int, default=None, help="default: the model's training tile")
    translate.add_argument("--max-pixels", type=int, default=64_000_000, help="larger inputs are downscaled")
    translate.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(translate, translate_hd, skip=("callback",))
    translate.set_defaults(run=_translate)
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
