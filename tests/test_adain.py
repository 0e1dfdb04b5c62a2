"""AdaIN (issue #7): the operation, the decoder's sizes, alpha, style blending, tiling, loading."""

import numpy as np
import pytest
import torch

from stylegan_lib import adain, hub
from stylegan_lib.images import fit_longest_side, pil_to_tensor, rgb_to_yiq
from stylegan_lib.nst import resize

TINY = adain.AdaINConfig(width=8)


@pytest.fixture(scope="module")
def photo(content_photo):
    return pil_to_tensor(fit_longest_side(content_photo, 64))  # [1, 3, 64, 64]


@pytest.fixture(scope="module")
def painting(style_painting):
    return pil_to_tensor(fit_longest_side(style_painting, 64))


@pytest.fixture(scope="module")
def decoder(vgg, photo, painting):
    """An untrained decoder, output layer rescaled to spread its output over [0, 1] (clamping hides nothing)."""
    torch.manual_seed(0)
    decoder = adain.Decoder(TINY).requires_grad_(False).eval()
    raw = decoder(adain.adain(adain.encode(vgg, photo), adain.encode(vgg, painting)))
    last = decoder.layers[-1]
    scale = 0.15 / raw.std()
    last.weight.mul_(scale)
    last.bias.mul_(scale).add_(0.5 - scale * raw.mean())
    return decoder


def test_adain_output_has_the_style_statistics_exactly():
    g = torch.Generator().manual_seed(0)
    content = torch.randn(2, 16, 9, 7, generator=g, dtype=torch.float64) * 3 + 1
    style = torch.rand(2, 16, 5, 11, generator=g, dtype=torch.float64) * 5
    out = adain.adain(content, style, eps=0.0)
    mean, std = torch.mean(out, dim=(2, 3)), torch.std(out, dim=(2, 3), correction=0)
    torch.testing.assert_close(mean, style.mean(dim=(2, 3)), rtol=0, atol=1e-12)
    torch.testing.assert_close(std, style.std(dim=(2, 3), correction=0), rtol=0, atol=1e-12)
    # the content's normalised pattern is kept: AdaIN is an increasing affine map per channel
    corr = torch.corrcoef(torch.stack([content[0, 3].flatten(), out[0, 3].flatten()]))[0, 1]
    assert corr == pytest.approx(1.0, abs=1e-12)


def test_adain_on_real_vgg_features_matches_style_statistics(vgg, photo, painting):
    f_c = adain.encode(vgg, photo.double().to(torch.float32)).double()  # [1, 512, 8, 8]
    f_s = adain.encode(vgg, painting).double()
    out = adain.adain(f_c, f_s)  # default eps 1e-5 only matters for channels with a tiny variance
    live = f_c.std(dim=(2, 3), correction=0)[0] > 1.0
    assert live.sum() > 100
    torch.testing.assert_close(out.mean(dim=(2, 3))[0, live], f_s.mean(dim=(2, 3))[0, live], rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(
        out.std(dim=(2, 3), correction=0)[0, live], f_s.std(dim=(2, 3), correction=0)[0, live], rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("h, w", [(3, 5), (2, 2), (7, 2)])
def test_decoder_upsamples_features_eight_times(decoder, h, w):
    assert decoder(torch.zeros(2, 512, h, w)).shape == (2, 3, 8 * h, 8 * w)


@pytest.mark.parametrize("h, w", [(64, 64), (37, 50), (61, 9), (5, 3)])
def test_any_size_in_gives_the_same_size_out(vgg, decoder, photo, painting, h, w):
    # Policy for sizes not divisible by 8: reflect-pad bottom/right, decode, crop back.
    content = resize(photo, (h, w))
    out = adain.stylize_adain(content, painting, decoder=decoder, encoder=vgg, style_size=None)
    assert out.shape == (1, 3, h, w) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("size", [(64, 64), (45, 58)])
def test_alpha_zero_is_the_decoders_reconstruction_of_the_content(vgg, decoder, photo, painting, size):
    content = resize(photo, size)
    out = adain.stylize_adain(content, painting, decoder=decoder, encoder=vgg, style_size=None, alpha=0.0)
    expected = decoder(adain.encode(vgg, adain.pad_to_multiple(content)))[..., : size[0], : size[1]].clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    styled = adain.stylize_adain(content, painting, decoder=decoder, encoder=vgg, style_size=None, alpha=1.0)
    assert (styled - out).abs().mean() > 1e-3  # alpha matters


def test_alpha_interpolates_the_decoder_input(vgg, decoder, photo, painting):
    half = adain.stylize_adain(photo, painting, decoder=decoder, encoder=vgg, style_size=None, alpha=0.5)
    f_c = adain.encode(vgg, photo)
    target = 0.5 * adain.adain(f_c, adain.encode(vgg, painting)) + 0.5 * f_c
    torch.testing.assert_close(half, decoder(target).clamp(0, 1), rtol=0, atol=1e-5)


def test_style_weights_blend_the_adain_targets(vgg, decoder, photo, painting, content_photo):
    other = pil_to_tensor(fit_longest_side(content_photo, 48)).flip(-1)  # a second "style"
    only_first = adain.stylize_adain(
        photo, [painting, other], decoder=decoder, encoder=vgg, style_size=None, weights=[1, 0]
    )
    single = adain.stylize_adain(photo, painting, decoder=decoder, encoder=vgg, style_size=None)
    torch.testing.assert_close(only_first, single, rtol=0, atol=1e-6)
    mixed = adain.stylize_adain(photo, [painting, other], decoder=decoder, encoder=vgg, style_size=None, weights=[1, 3])
    # the paper's interpolation: sum_k w_k AdaIN(f(c), f(s_k)) with normalised weights
    f_c = adain.encode(vgg, photo)
    target = 0.25 * adain.adain(f_c, adain.encode(vgg, painting)) + 0.75 * adain.adain(f_c, adain.encode(vgg, other))
    torch.testing.assert_close(mixed, decoder(target).clamp(0, 1), rtol=0, atol=1e-5)
    equal = adain.stylize_adain(
        photo, [painting, other], decoder=decoder, encoder=vgg, style_size=None
    )  # default: equal weights
    halves = adain.stylize_adain(
        photo, [painting, other], decoder=decoder, encoder=vgg, style_size=None, weights=[0.5, 0.5]
    )
    torch.testing.assert_close(equal, halves, rtol=0, atol=0)


def test_preserve_colors_keeps_the_content_chroma(vgg, decoder, photo, painting):
    out = adain.stylize_adain(photo, painting, decoder=decoder, encoder=vgg, style_size=None, preserve_colors=True)
    inside = ((out > 0.02) & (out < 0.98)).all(1)  # pixels not clamped in any channel
    iq_out, iq_in = rgb_to_yiq(out)[:, 1:], rgb_to_yiq(photo)[:, 1:]
    assert inside.float().mean() > 0.5
    assert (iq_out - iq_in).abs().amax(1)[inside].max() < 1e-4


def test_tiles_use_whole_image_statistics_and_blend_smoothly(vgg, decoder, content_photo, painting):
    content = pil_to_tensor(fit_longest_side(content_photo, 160))[..., :120, :]  # [1, 3, 120, 160]
    kw = dict(decoder=decoder, encoder=vgg, style_size=None)
    whole = adain.stylize_adain(content, painting, **kw)
    tiled = adain.stylize_adain(content, painting, max_pixels=10_000, tile=64, overlap=24, **kw)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.08
    assert (tiled.mean(dim=(2, 3)) - whole.mean(dim=(2, 3))).abs().max() < 0.02


def test_tiled_statistics_are_those_of_the_whole_image_not_of_each_tile(vgg, content_photo):
    image = np.array(fit_longest_side(content_photo, 192))  # (192, 192, 3), writable
    mean, std = adain.mean_std(adain.encode(vgg, torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255))
    t_mean, t_std = adain.tiled_content_statistics(vgg, image, tile=96)

    def error(m, s):  # relative error over channels that are alive
        live = std > 1.0
        return float(((m - mean).abs() + (s - std).abs())[live].mean() / (mean.abs() + std)[live].mean())

    per_tile = [adain.mean_std(adain.encode(vgg, torch.from_numpy(image[y : y + 96, x : x + 96].copy())
                                              .permute(2, 0, 1)[None].float() / 255))
                for y in (0, 96) for x in (0, 96)]  # fmt: skip
    assert error(t_mean, t_std) < 0.1
    assert error(t_mean, t_std) < 0.5 * min(error(m, s) for m, s in per_tile)


def test_bad_inputs_fail_with_a_message(vgg, decoder, photo, painting):
    with pytest.raises(ValueError, match="alpha"):
        adain.stylize_adain(photo, painting, decoder=decoder, encoder=vgg, style_size=None, alpha=1.5)
    with pytest.raises(ValueError, match="weights"):
        adain.stylize_adain(photo, [painting, painting], decoder=decoder, encoder=vgg, style_size=None, weights=[1])
    with pytest.raises(ValueError, match=r"\[1, 3, H, W\]"):
        adain.stylize_adain(photo[0], painting, decoder=decoder, encoder=vgg, style_size=None)
    with pytest.raises(ValueError, match="architecture"):
        adain.AdaINConfig.from_dict({"architecture": "siamese-gan"})


def test_style_loss_is_zero_for_the_style_itself_and_positive_otherwise(vgg, photo, painting):
    f_p = vgg(photo, adain.STYLE_LAYERS)
    f_s = vgg(painting, adain.STYLE_LAYERS)
    same = adain.style_loss([f_s[k] for k in adain.STYLE_LAYERS], [f_s[k] for k in adain.STYLE_LAYERS])
    assert float(same) == 0.0
    assert float(adain.style_loss([f_p[k] for k in adain.STYLE_LAYERS], [f_s[k] for k in adain.STYLE_LAYERS])) > 1.0


def test_shipped_decoder_loads_and_moves_content_towards_the_style(hub_cache, photo, painting):
    assert hub.entry("adain-decoder").repo_id == "stylegan-lib/adain-decoder"
    decoder, encoder = adain.load_adain()
    assert adain.load_adain() == (decoder, encoder)  # cached
    assert not any(p.requires_grad for p in decoder.parameters())
    assert all(p.dtype == torch.float32 for p in decoder.parameters())  # cast to the requested dtype on load
    out = adain.stylize_adain(photo, painting, decoder=decoder, encoder=encoder, style_size=None)
    layers = adain.STYLE_LAYERS
    f_s = encoder(painting, layers)

    def distance(image):
        f = encoder(image, layers)
        return float(adain.style_loss([f[k] for k in layers], [f_s[k] for k in layers]))

    assert distance(out) < 0.5 * distance(photo)
    half, recon = (
        adain.stylize_adain(photo, painting, decoder=decoder, encoder=encoder, alpha=a, style_size=None)
        for a in (0.5, 0.0)
    )
    assert distance(out) < distance(half) < distance(recon)  # alpha is the style strength
