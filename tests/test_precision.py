"""bfloat16 autocast paths (precision.py) against float32, on the real weights and real images.

Tolerances are the issue's: Gatys' loss after N steps within 2 % of float32; translations
within a few grey levels (mean and a high percentile, the max bounded); closest-latent PSNR
within 0.2 dB. Sizes and step counts are small, the networks and images real.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan_lib import precision
from stylegan_lib.images import pil_to_tensor, resize
from stylegan_lib.nst import CONTENT_LAYERS, STYLE_LAYERS, _Objective, _style_targets, features, loss_at

BF16 = torch.bfloat16


# ----------------------------------------------------------------------------- the shared keyword


def test_check_autocast_accepts_none_and_narrower_floats_only():
    precision.check_autocast(None)
    precision.check_autocast(BF16, torch.float32)
    for bad, dtype in [(torch.float32, torch.float32), (torch.int8, torch.float32), ("bfloat16", torch.float32),
                       (torch.float32, torch.float32), (BF16, torch.float16)]:  # fmt: skip
        with pytest.raises(ValueError, match="autocast must be None or a float dtype narrower"):
            precision.check_autocast(bad, dtype)


def test_parse_autocast_names():
    assert precision.parse_autocast("float32") is None and precision.parse_autocast("none") is None
    assert precision.parse_autocast(" BFloat16 ") is BF16
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        precision.parse_autocast("fp8")


def test_with_autocast_runs_bfloat16_products_and_returns_the_callers_dtype():
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    seen = {}

    def G(x):
        seen["layout"] = x.is_contiguous(memory_format=torch.channels_last)
        y = conv(x)
        seen["dtype"] = y.dtype
        return y

    x = torch.rand(2, 3, 8, 8)
    assert precision.with_autocast(G, device="cpu", autocast=None) is G
    y = precision.with_autocast(G, device="cpu", autocast=BF16)(x)
    assert seen == {"layout": True, "dtype": BF16} and y.dtype == torch.float32
    torch.testing.assert_close(y, conv(x), atol=0.05, rtol=0.02)  # bfloat16 has 8 significant bits


def test_fast_autocast_is_bfloat16_only_on_a_cpu_with_bfloat16_hardware():
    expected = BF16 if precision.has_fast_bfloat16("cpu") else None
    assert precision.fast_autocast("cpu") is expected
    assert precision.fast_autocast("meta") is None


def test_cli_autocast_option_reaches_the_functions():
    from stylegan_lib.cli import build_parser, signature_kwargs
    from stylegan_lib.nst import stylize
    from stylegan_lib.tiling import translate_hd

    parser = build_parser()
    args = parser.parse_args(["nst", "c.jpg", "s.jpg", "-o", "o.png", "--autocast", "bfloat16"])
    assert signature_kwargs(args, stylize)["autocast"] is BF16
    args = parser.parse_args(["translate", "p.jpg", "-o", "o.png"])
    assert signature_kwargs(args, translate_hd)["autocast"] is None  # float32 unless asked
    assert parser.parse_args(["progan", "project", "-o", "d", "--autocast", "bfloat16"]).autocast == "bfloat16"
    with pytest.raises(SystemExit):
        parser.parse_args(["nst", "c.jpg", "s.jpg", "-o", "o.png", "--autocast", "fp8"])


# ----------------------------------------------------------------------------- Gatys


def test_gatys_bfloat16_loss_after_n_steps_within_two_percent(vgg, content_photo, style_painting):
    from stylegan_lib.nst import stylize

    content, style = pil_to_tensor(content_photo), pil_to_tensor(style_painting)
    size, steps = 64, 40
    results, reported = {}, {}
    for autocast in (None, BF16):
        last = {}
        results[autocast] = stylize(content, style, size=size, steps=steps, vgg=vgg, autocast=autocast,
                                    callback=lambda p, last=last: last.update(loss=p.loss))  # fmt: skip
        reported[autocast] = last["loss"]
    assert results[BF16].dtype == torch.float32 and results[BF16].shape == results[None].shape
    start = loss_at(resize(content, tuple(results[None].shape[-2:])), content, style, vgg=vgg, style_side=size)
    loss32, loss16 = (loss_at(results[a], content, style, vgg=vgg, style_side=size) for a in (None, BF16))
    assert loss32 < 0.8 * start  # the optimisation went somewhere, so the comparison means something
    assert abs(loss16 - loss32) / loss32 < 0.02, (loss16, loss32)
    assert abs(reported[BF16] - reported[None]) / reported[None] < 0.02  # the losses stylize reports, too


def test_gatys_bfloat16_gradient_is_float32_and_close(vgg, content_photo, style_painting):
    # one objective evaluation: the image's gradient stays float32 and points the float32 way
    content = resize(pil_to_tensor(content_photo), (64, 64))
    style = resize(pil_to_tensor(style_painting), (64, 64))
    grads = {}
    for autocast in (None, BF16):
        with torch.no_grad():
            content_targets = [features(vgg, content, CONTENT_LAYERS, autocast=autocast)[n] for n in CONTENT_LAYERS]
            style_targets = _style_targets(vgg, [style], [1.0], STYLE_LAYERS, autocast)
        assert all(t.dtype == torch.float32 for t in content_targets + style_targets)
        image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        objective = _Objective(vgg, CONTENT_LAYERS, STYLE_LAYERS, content_targets, style_targets, 1e4, 1e-2, 50.0,
                               autocast)  # fmt: skip
        objective(image)[0].backward()
        grads[autocast] = image.grad
    assert grads[BF16].dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(grads[BF16].flatten(), grads[None].flatten(), dim=0)
    assert cosine > 0.99, cosine


# ----------------------------------------------------------------------------- GAN translators


@pytest.fixture(scope="module")
def photo(shared_dir) -> Image.Image:
    from stylegan_lib.images import open_image

    image = open_image(shared_dir / "data" / "hd_photos" / "landscape" / "plasma_Path.jpg")
    return image.resize((320, 200), Image.LANCZOS)


@pytest.mark.parametrize(
    "method, norm",
    [("siamese", "image"), ("siamese", "tile"), ("cyclegan", "image"), ("cyclegan", "tile")],
)
def test_translation_in_bfloat16_within_a_few_grey_levels(photo, method, norm):
    from stylegan_lib import translate

    G, tile = translate.load_translator(method)
    plan = translate.plan_translation(method, G, tile, norm=norm, device="cpu")
    if method == "cyclegan":  # its whole frame and (below) its tiles: both paths of translate_image
        plan_tiled = replace(plan, whole_frame_pixels=0, tile=128, overlap=32 if norm == "tile" else 0)
    out32, out16 = (translate.translate_image(G, photo, plan, autocast=a).astype(int) for a in (None, BF16))
    diff = np.abs(out16 - out32)
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 8 and diff.max() <= 24, (diff.mean(), diff.max())
    assert 0 < diff.mean()  # bfloat16 did run (it never rounds a whole photo exactly as float32)
    if method == "cyclegan":
        tiled32, tiled16 = (translate.translate_image(G, photo, plan_tiled, autocast=a).astype(int)
                            for a in (None, BF16))  # fmt: skip
        diff = np.abs(tiled16 - tiled32)
        assert 0 < diff.mean() < 1.0 and diff.max() <= 24


# ----------------------------------------------------------------------------- ProGAN closest latent


def test_closest_latent_bfloat16_psnr_within_0_2_db(shared_dir):
    # the same starts in both precisions and few steps, so that the comparison is of the arithmetic,
    # not of which basin a long non-convex search happens to end in (bench/cpu_bf16.py: 10 full searches)
    from stylegan_lib import latent, progan
    from stylegan_lib.images import open_image

    G, config = progan.load_generator()
    faces = sorted((shared_dir / "data" / "faces" / "heldout").glob("*.jpg"))[:3]
    diffs = []
    for path in faces:
        target = latent.prepare_target(open_image(path), resolution=config.img_resolution)
        init = progan.sample_latents(4, z_dim=config.z_dim, seed=1)
        found = {a: latent.closest_latent(G, target, steps=30, lr=0.05, restarts=4, init=init, autocast=a)
                 for a in (None, BF16)}  # fmt: skip
        assert found[BF16].image.dtype == torch.float32 and found[BF16].latent.dtype == torch.float32
        assert found[BF16].latent.ne(found[None].latent).any()  # bfloat16 did run
        assert found[None].psnr > latent.psnr(progan.generate(G, init[:1])[0], target[0]) + 1  # it searched
        diffs.append(found[BF16].psnr - found[None].psnr)
    assert abs(sum(diffs) / len(diffs)) < 0.2 and max(map(abs, diffs)) < 0.3, diffs


def test_bfloat16_cpu_priors_are_float32_over_the_measured_ratio():
    from webapp.predict import CPU_BF16_RATIO, PRIOR_SOURCES, PRIORS, CostModel

    fast, slow = PRIORS["cpu:bfloat16"], PRIORS["cpu"]
    assert set(fast) == set(slow)
    assert fast["nst"] == pytest.approx(slow["nst"] / CPU_BF16_RATIO["nst"], rel=0.01)
    assert fast["siamese-naive:image"] == pytest.approx(slow["siamese-naive:image"] / CPU_BF16_RATIO["siamese"], 0.01)
    assert fast["adain"] == pytest.approx(slow["adain"] / CPU_BF16_RATIO["adain"], rel=0.01)
    assert "bfloat16" in PRIOR_SOURCES["cpu:bfloat16"]["cyclegan:image"]
    estimate = CostModel("cpu:bfloat16").estimate("nst", 1.0)
    assert "in bfloat16" in estimate.describe(device="cpu")


# ----------------------------------------------------------------------------- AdaIN


def test_adain_bfloat16_within_a_few_grey_levels(hub_cache, content_photo, style_painting):
    """The encoder after conv1_1 and the decoder in bfloat16, the statistics in float32: the result
    stays within a few grey levels of float32, on the whole-frame and on the tiled path, and the
    style statistics are cached per precision (a float32 call never reuses bfloat16 ones)."""
    from stylegan_lib import adain
    from stylegan_lib.images import fit_size, pil_to_tensor, resize

    decoder, encoder = adain.load_adain()
    content = pil_to_tensor(content_photo.resize((248, 200), Image.LANCZOS))  # not multiples of 8
    style = pil_to_tensor(style_painting)

    def run(autocast, **kw):
        out = adain.stylize_adain(content, style, decoder=decoder, encoder=encoder, style_size=256,
                                  autocast=autocast, **kw)  # fmt: skip
        assert out.dtype == torch.float32 and out.shape == content.shape
        return (out[0] * 255).round().to(torch.int64)

    for kw in ({}, {"max_pixels": 0, "tile": 128, "overlap": 32}):  # whole frame, then tiles
        out16, out32 = run(BF16, **kw), run(None, **kw)  # bfloat16 first: its statistics are cached first
        diff = (out16 - out32).abs().float()
        assert 0 < diff.mean() < 1.0 and diff.quantile(0.999) <= 8 and diff.max() <= 24, (diff.mean(), diff.max())
    # the float32 call used float32 statistics, not the cached bfloat16 ones: the pipeline by hand
    with torch.inference_mode():
        stats = adain.style_statistics(encoder, [resize(style, fit_size(style, 256))], [1.0])
        by_hand = adain.transfer(decoder, encoder, content, stats, eps=decoder.config.eps).clamp(0, 1)
    assert torch.equal(run(None), (by_hand[0] * 255).round().to(torch.int64))
    with pytest.raises(ValueError, match="autocast"):
        adain.stylize_adain(content, style, decoder=decoder, encoder=encoder, autocast=torch.float32)
