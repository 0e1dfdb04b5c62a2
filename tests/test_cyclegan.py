"""CycleGAN (seed 004): network shapes and sizes, losses against float64 references, pool, schedule."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan_lib.cyclegan import (
    PAPER_CONFIG,
    SEED_CONFIG,
    CycleGANConfig,
    Discriminator,
    Generator,
    HistoryPool,
    _upsample_resize,
    _upsample_transpose,
    build_models,
    cycle_loss,
    init_weights,
    learning_rate,
    lsgan_d_loss,
    lsgan_g_loss,
    resize_weights_from_transpose,
)

TINY = CycleGANConfig(ngf=4, n_blocks=1, ndf=8)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_generator_params(ngf: int, n_blocks: int) -> int:
    c = ngf
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731  (weights + bias; instance norm has no parameters)
    return (
        conv(3, c, 7)  # c7s1-ngf
        + conv(c, 2 * c, 3)  # d(2 ngf)
        + conv(2 * c, 4 * c, 3)  # d(4 ngf)
        + n_blocks * 2 * conv(4 * c, 4 * c, 3)  # residual blocks: two 3x3 convolutions each
        + conv(4 * c, 2 * c, 3)  # u(2 ngf), transposed
        + conv(2 * c, c, 3)  # u(ngf), transposed
        + conv(c, 3, 7)  # c7s1-3
    )


def expected_discriminator_params(ndf: int) -> int:
    widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1]
    return sum(i * o * 16 + o for i, o in zip(widths, widths[1:], strict=False))  # 4x4 convolutions


def patch_side(n: int) -> int:
    for _ in range(3):  # three 4x4 stride-2 convolutions, padding 1
        n = (n + 2 - 4) // 2 + 1
    return n - 2  # two 4x4 stride-1 convolutions, padding 1


@pytest.mark.parametrize(
    "config, g_params, d_params",
    [(SEED_CONFIG, 1_965_059, 2_764_737), (PAPER_CONFIG, 11_378_179, 2_764_737)],  # paper: 11.378 M and 2.765 M
)
def test_both_configs_build_with_the_expected_sizes(config, g_params, d_params):
    nets = build_models(config)
    assert set(nets) == {"G_AB", "G_BA", "D_A", "D_B"}
    assert n_params(nets["G_AB"]) == n_params(nets["G_BA"]) == expected_generator_params(config.ngf, config.n_blocks)
    assert n_params(nets["D_A"]) == n_params(nets["D_B"]) == expected_discriminator_params(config.ndf)
    assert (n_params(nets["G_AB"]), n_params(nets["D_A"])) == (g_params, d_params)
    assert n_params(nets["G_AB"]) * 4 <= 16 * 2**20 or config is PAPER_CONFIG  # the seed's G ships under 16 MiB


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("h, w", [(37, 53), (64, 64), (33, 90), (8, 11)])
def test_generator_keeps_any_size_and_range(h, w, upsample):
    torch.manual_seed(0)
    G = Generator(replace(TINY, upsample=upsample)).eval()
    x = torch.rand(2, 3, h, w)
    y = G(x)
    assert y.shape == x.shape
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_odd_sizes_are_reflect_padded_to_a_multiple_of_four_and_cropped_back():
    torch.manual_seed(0)
    G = Generator(TINY).eval()
    x = torch.rand(1, 3, 37, 53)
    padded = F.pad(x, (0, 3, 0, 3), mode="reflect")  # 40 x 56
    with torch.no_grad():
        torch.testing.assert_close(G(x), G(padded)[..., :37, :53])


def _period2_energy(y: torch.Tensor) -> float:
    # energy of the 2x2-periodic part of y ([C, H, W]) relative to its mean level
    phases = torch.stack([y[:, i::2, j::2].mean((1, 2)) for i in (0, 1) for j in (0, 1)])  # [4, C]
    return float((phases - phases.mean(0)).abs().max() / y.abs().mean())


def test_resize_upsampling_paints_no_checkerboard_on_flat_input():
    # The same weights as a transposed convolution and as resize-convolution, on a flat map:
    # the transposed one gives even and odd pixels different sums (the checkerboard), the
    # resize one a flat output.
    torch.manual_seed(0)
    (transpose,) = _upsample_transpose(8, 8)
    resize = torch.nn.Sequential(*_upsample_resize(8, 8))
    resize[2].weight.data = transpose.weight.data.transpose(0, 1).flip(-1, -2)
    resize[2].bias.data = transpose.bias.data
    flat = torch.ones(1, 8, 16, 16)
    with torch.no_grad():
        y_t, y_r = transpose(flat)[0, :, 2:-2, 2:-2], resize(flat)[0, :, 2:-2, 2:-2]
    assert _period2_energy(y_t) > 0.1
    assert _period2_energy(y_r) < 1e-5


def test_resize_generator_loads_only_as_resize():
    G = Generator(replace(TINY, upsample="resize"))
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())
    with pytest.raises(RuntimeError):
        Generator(TINY).load_state_dict(G.state_dict())
    assert CycleGANConfig.from_dict({"ngf": 4, "n_blocks": 1, "ndf": 8}).upsample == "transpose"  # old config.json
    with pytest.raises(ValueError, match="upsample must be one of"):
        CycleGANConfig(upsample="bilinear")


def test_resize_weights_from_transpose_average_the_checkerboard_away():
    # A transposed generator with random weights, converted: each u-k layer now gives exactly the
    # transposed layer's output averaged over the 2x2 window ending at each pixel (bias aside,
    # away from the reflect-padded border), so its period-2 pattern vanishes on a flat input; every
    # other weight is copied unchanged.
    torch.manual_seed(0)
    G = init_weights(Generator(TINY))
    for p in G.parameters():
        p.data.normal_(0, 0.3)
    R = Generator(replace(TINY, upsample="resize"))
    converted = resize_weights_from_transpose(G)
    assert all(v.is_contiguous() for v in converted.values())  # safetensors saves contiguous tensors only
    R.load_state_dict(converted)  # strict: every key and shape fits
    ups_t = [m for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)]
    ups_r = [R.net[i : i + 3] for i, m in enumerate(R.net) if isinstance(m, torch.nn.Upsample)]
    assert len(ups_t) == len(ups_r) == 2
    for t, r in zip(ups_t, ups_r, strict=True):
        x = torch.randn(1, t.in_channels, 10, 10)
        bias = t.bias.view(1, -1, 1, 1)
        with torch.no_grad():
            boxed = F.avg_pool2d(F.pad(t(x) - bias, (1, 0, 1, 0)), 2, stride=1) + bias
            torch.testing.assert_close(r(x)[..., 2:-2, 2:-2], boxed[..., 2:-2, 2:-2], atol=1e-5, rtol=1e-5)
            flat = x[..., :1, :1].expand_as(x)
            assert _period2_energy(t(flat)[0, :, 4:-4, 4:-4]) > 0.1
            assert _period2_energy(r(flat)[0, :, 4:-4, 4:-4]) < 1e-5
    transposed = {id(t.weight) for t in ups_t}
    pairs = list(zip(G.parameters(), R.parameters(), strict=True))
    assert all(torch.equal(p, q) for p, q in pairs if id(p) not in transposed)
    with pytest.raises(ValueError, match="already has 'resize'"):
        resize_weights_from_transpose(R)


def test_generator_refuses_tiny_images_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 8x8"):
        Generator(TINY)(torch.rand(1, 3, 7, 40))


@pytest.mark.parametrize("h, w", [(37, 53), (70, 70), (96, 128)])
def test_patchgan_output_shape(h, w):
    D = Discriminator(TINY)
    out = D(torch.rand(3, 3, h, w))
    assert out.shape == (3, 1, patch_side(h), patch_side(w))
    assert patch_side(70) == 6  # sanity of the formula: a 70-px image, a 6x6 map of overlapping patches


def test_discriminator_refuses_images_below_32_pixels():
    with pytest.raises(ValueError, match="at least 32x32"):
        Discriminator(TINY)(torch.rand(1, 3, 31, 64))


# ----------------------------------------------------------------------------- losses


def test_lsgan_losses_against_float64_references():
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(4, 1, 6, 6, generator=gen), torch.randn(4, 1, 6, 6, generator=gen)
    r, f = real.double().numpy(), fake.double().numpy()
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.5 * (np.mean((r - 1) ** 2) + np.mean(f**2)), rel=1e-6)
    assert lsgan_g_loss(fake).item() == pytest.approx(np.mean((f - 1) ** 2), rel=1e-6)
    # by hand: D right on the real patches and wrong on every fake one -> 0.5 * (0 + 1)
    assert lsgan_d_loss(torch.ones(2, 1, 3, 3), torch.ones(2, 1, 3, 3)).item() == 0.5
    assert lsgan_g_loss(torch.ones(2, 1, 3, 3)).item() == 0.0


def test_cycle_and_identity_loss_is_l1_in_the_papers_minus_one_to_one_units():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 3, 9, 7, generator=gen), torch.rand(2, 3, 9, 7, generator=gen)
    ref = np.mean(np.abs((2 * a.double().numpy() - 1) - (2 * b.double().numpy() - 1)))
    assert cycle_loss(a, b).item() == pytest.approx(ref, rel=1e-6)
    assert cycle_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)).item() == 2.0  # black vs white: -1 vs 1
    assert cycle_loss(a, a).item() == 0.0


# ----------------------------------------------------------------------------- history pool


def images(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()


def ids(batch: torch.Tensor) -> list[int]:
    return [int(v) for v in batch[:, 0, 0, 0]]


def test_pool_fills_first_and_returns_the_current_images_while_filling():
    pool = HistoryPool(5, seed=0)
    assert ids(pool.query(images([0, 1]))) == [0, 1]
    assert ids(pool.query(images([2, 3]))) == [2, 3]
    assert ids(pool.query(images([4]))) == [4]
    assert [int(t[0, 0, 0]) for t in pool.images] == [0, 1, 2, 3, 4]


def test_full_pool_swaps_half_of_the_time():
    pool = HistoryPool(50, seed=3)
    pool.query(images(range(50)))  # fill
    swapped, n = 0, 4000
    for i in range(50, 50 + n):
        (out,) = ids(pool.query(images([i])))
        stored = {int(t[0, 0, 0]) for t in pool.images}
        assert len(pool.images) == 50
        if out != i:  # a past image came back, the current one took its place
            swapped += 1
            assert out < i and out not in stored and i in stored
        else:
            assert i not in stored
    assert abs(swapped / n - 0.5) < 0.03  # binomial sd 0.008


def test_pool_is_reproducible_and_resumes_exactly():
    first, second = HistoryPool(4, seed=7), HistoryPool(4, seed=7)
    outs = [ids(first.query(images([i, i + 100]))) for i in range(10)]
    assert outs == [ids(second.query(images([i, i + 100]))) for i in range(10)]
    resumed = HistoryPool(4, seed=0)
    resumed.load_state_dict(first.state_dict())
    later = range(20, 40)
    assert [ids(first.query(images([i]))) for i in later] == [ids(resumed.query(images([i]))) for i in later]


def test_pool_of_size_zero_is_a_pass_through():
    assert ids(HistoryPool(0).query(images([5, 6]))) == [5, 6]


# ----------------------------------------------------------------------------- learning rate


def test_learning_rate_is_constant_then_linear_to_zero():
    lr = lambda s: learning_rate(s, lr=2e-4, steps=200, decay_start=100)  # noqa: E731
    assert [lr(s) for s in (0, 50, 99, 100)] == [2e-4] * 4
    assert lr(150) == pytest.approx(1e-4) and lr(199) == pytest.approx(2e-6) and lr(200) == 0.0
    rates = [lr(s) for s in range(100, 201)]
    assert np.allclose(np.diff(rates), -2e-6)  # a straight line
    assert learning_rate(5, lr=1.0, steps=10, decay_start=10) == 1.0  # no decay
    with pytest.raises(ValueError, match="decay_start"):
        learning_rate(0, lr=1.0, steps=10, decay_start=11)
