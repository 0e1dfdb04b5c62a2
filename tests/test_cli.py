"""`python -m stylegan_lib nst ...` as a user runs it."""

import dataclasses
import subprocess
import sys
from pathlib import Path

from PIL import Image

from stylegan_lib.adain_train import AdaINTrainConfig
from stylegan_lib.cli import build_parser, field_comments
from stylegan_lib.cyclegan_train import CycleGANTrainConfig
from stylegan_lib.nst import stylize
from stylegan_lib.progan import ProGANConfig
from stylegan_lib.progan_train import ProGANTrainConfig
from stylegan_lib.siamese import SiameseConfig
from stylegan_lib.siamese_train import SiameseTrainConfig

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "stylegan_lib", *map(str, args)], cwd=REPO, capture_output=True, text=True
    )


def test_defaults_come_from_the_signature():
    args = build_parser().parse_args(["nst", "a.jpg", "b.jpg", "-o", "out.png"])
    import inspect

    params = inspect.signature(stylize).parameters
    for name in (
        "content_weight",
        "style_weight",
        "tv_weight",
        "steps",
        "size",
        "optimizer",
        "preserve_colors",
        "seed",
    ):
        assert getattr(args, name) == params[name].default
    args = build_parser().parse_args(["nst", "a", "b", "c", "-o", "o", "--style-blend", "1", "3", "--lr", "0.5"])
    assert args.style == [Path("b"), Path("c")] and args.style_blend == [1.0, 3.0] and args.lr == 0.5


@dataclasses.dataclass
class _Commented:
    plain: int = 1
    marked: str = "#fff"  # a colour; the '#' in the default is not a comment
    spaced: float | None = None  # None: off
    other_plain: int = 2  # mentions plain: in its text


def test_field_comments_are_the_line_comments_of_the_fields():
    assert field_comments(_Commented) == {
        "marked": "a colour; the '#' in the default is not a comment",
        "spaced": "None: off",
        "other_plain": "mentions plain: in its text",
    }
    assert field_comments(stylize) == {}  # a function has no field comments


def test_training_help_says_what_each_option_does():
    # every field the training CLIs expose as an option that defaults to None says what None means
    for config in (ProGANTrainConfig, SiameseTrainConfig, CycleGANTrainConfig, AdaINTrainConfig):
        comments = field_comments(config)
        for f in dataclasses.fields(config):
            if f.default is None:
                assert f.name in comments, f"{config.__name__}.{f.name} needs a comment: it is its --help"
    text = run_cli("train", "progan", "--help").stdout
    flat = " ".join(text.split())  # argparse wraps the help text
    assert "--snapshot-kimg SNAPSHOT_KIMG also keep G_ema every this many thousand images" in flat
    assert "--time-limit-s TIME_LIMIT_S stop (with a checkpoint) after this many seconds (default: none)" in flat
    assert "--kimg-final KIMG_FINAL length of the last stabilisation (default kimg_per_phase)" in flat
    assert "--flip, --no-flip random horizontal flips (default: True)" in flat
    assert f"--fmap-max FMAP_MAX the paper uses 512 at 1024x1024 (default: {ProGANConfig().fmap_max})" in flat
    assert "--ema-rampup EMA_RAMPUP cap G_ema's half-life" in flat and "(default: 0.05; 'none' for None)" in flat
    assert "automatic" not in flat
    flat = " ".join(run_cli("train", "siamese", "--help").stdout.split())
    assert f"(default: {SiameseConfig().tile})" in flat and "automatic" not in flat


def test_optional_numbers_with_a_default_take_none():
    parse = build_parser().parse_args
    base = ["train", "progan", "--data", "d", "--out", "o"]
    assert parse(base).ema_rampup == ProGANTrainConfig.ema_rampup == 0.05
    assert parse([*base, "--ema-rampup", "none"]).ema_rampup is None
    assert parse([*base, "--ema-rampup", "0.1"]).ema_rampup == 0.1
    adain = ["train", "adain", "--content", "c", "--style", "s", "--out", "o", "--max-side-style", "None"]
    assert parse(adain).max_side_style is None and parse(adain).max_side_content == 512
    bad = run_cli(*base, "--ema-rampup", "x")
    assert bad.returncode == 2 and "invalid float value: 'x'" in bad.stderr


def test_cli_writes_the_stylised_png(hub_cache, tmp_path, content_photo, style_painting):
    content, style, out = tmp_path / "c.png", tmp_path / "s.jpg", tmp_path / "out" / "result.png"
    content_photo.resize((120, 90)).save(content)
    style_painting.save(style)
    done = run_cli("nst", content, style, "-o", out, "--steps", 3, "--size", 48, "--preserve-colors", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "3/3" in done.stderr  # the tqdm bar
    assert Image.open(out).size == (48, 36)
    assert f"wrote {out}" in done.stdout


def test_cli_reports_bad_input_without_a_traceback(hub_cache, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    done = run_cli("nst", bad, bad, "-o", tmp_path / "o.png", "--steps", 1)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_cli_refuses_a_too_thin_image_clearly(hub_cache, tmp_path, style_painting):
    thin, style = tmp_path / "thin.png", tmp_path / "s.jpg"
    Image.new("RGB", (20000, 1), "gray").save(thin)
    style_painting.save(style)
    done = run_cli("nst", thin, style, "-o", tmp_path / "o.png", "--steps", 1, "--size", 64, "--device", "cpu")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: Content image: its shape (20000×1) is too small or its aspect ratio too extreme" in done.stderr


def test_progan_sample_interpolate_project(tmp_path):
    import numpy as np
    import torch

    from stylegan_lib.checkpointing import save_model
    from stylegan_lib.progan import Generator, ProGANConfig

    torch.manual_seed(0)
    config = ProGANConfig(z_dim=8, img_resolution=16, fmap_base=64, fmap_max=16)
    model = tmp_path / "model"
    save_model(model, Generator(config), config.to_dict())
    common = ["--weights", model, "--device", "cpu"]
    done = run_cli("progan", "sample", "--seeds", 3, 4, "-o", tmp_path / "faces", *common)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "faces" / "seed0003.png").size == (16, 16)
    assert np.load(tmp_path / "faces" / "seed0004.npy").shape == (8,)
    done = run_cli("progan", "interpolate", "--num-steps", 6, "-o", tmp_path / "walk.gif", *common)
    assert done.returncode == 0 and "(6 frames)" in done.stdout, done.stderr
    done = run_cli("progan", "project", "--steps", 10, "--restarts", 2, "-o", tmp_path / "search", *common)
    assert done.returncode == 0 and done.stdout.startswith("PSNR "), done.stderr
    assert Image.open(tmp_path / "search" / "target_result.png").size == (32, 16)
    # a search's latent.npy reproduces its result; it can also end an interpolation
    done = run_cli("progan", "sample", "--seeds", "--latents", tmp_path / "search" / "latent.npy",
                   "-o", tmp_path / "again", *common)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = np.asarray(Image.open(tmp_path / "search" / "target_result.png"))[:, 16:]
    assert np.abs(np.asarray(Image.open(tmp_path / "again" / "latent.png")).astype(int) - result).max() <= 1
    done = run_cli("progan", "interpolate", "--num-steps", 4, "--latent-b", tmp_path / "search" / "latent.npy",
                   "-o", tmp_path / "to_result.gif", *common)  # fmt: skip
    assert done.returncode == 0 and "(4 frames)" in done.stdout, done.stderr
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    done = run_cli("progan", "sample", "--latents", tmp_path / "bad.npy", "-o", tmp_path / "x", *common)
    assert done.returncode != 0 and "Traceback" not in done.stderr and "bad.npy is not a .npy latent" in done.stderr


def test_the_face_tasks_take_the_dcgan_baseline(tmp_path):
    import numpy as np
    import torch

    from stylegan_lib.checkpointing import save_model
    from stylegan_lib.progan import DCGANConfig, DCGANGenerator, generate, sample_latents

    torch.manual_seed(0)
    config = DCGANConfig(z_dim=6, img_resolution=16, g_width=16)
    G = DCGANGenerator(config).eval()
    save_model(tmp_path / "dc", G, config.to_dict())
    common = ["--weights", tmp_path / "dc", "--device", "cpu"]
    done = run_cli("progan", "sample", "--seeds", 2, "-o", tmp_path / "faces", *common)  # ProGAN is the default
    assert done.returncode == 2 and "holds a 'dcgan' model, not a ProGAN generator" in done.stderr
    done = run_cli("progan", "sample", "--model", "dcgan-faces", "--seeds", 2, "-o", tmp_path / "faces", *common)
    assert done.returncode == 0, done.stderr
    expected = generate(G, sample_latents(1, z_dim=6, seed=2))[0].mul(255).round().permute(1, 2, 0).numpy()
    face = np.asarray(Image.open(tmp_path / "faces" / "seed0002.png")).astype(float)
    assert np.abs(face - expected).max() <= 1 and np.load(tmp_path / "faces" / "seed0002.npy").shape == (6,)
    done = run_cli("progan", "project", "--model", "dcgan-faces", "--steps", 5, "--restarts", 2,
                   "-o", tmp_path / "search", *common)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("PSNR "), done.stderr
