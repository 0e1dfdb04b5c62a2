"""ProGAN / DCGAN modules, losses and helpers on tiny configs (CPU, a few seconds)."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from stylegan_lib import progan
from stylegan_lib.progan import (
    DCGANConfig,
    DCGANDiscriminator,
    DCGANGenerator,
    Discriminator,
    EqualConv2d,
    EqualLinear,
    Generator,
    ProGANConfig,
)
from stylegan_lib.training import update_ema

torch.set_num_threads(1)

TINY = dict(z_dim=16, img_resolution=16, fmap_base=64, fmap_max=32)


@pytest.fixture(scope="module")
def config():
    return ProGANConfig(**TINY)


@pytest.fixture(scope="module")
def models(config):
    torch.manual_seed(0)
    return Generator(config).eval(), Discriminator(config).eval()


@pytest.mark.parametrize("stage", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_shapes_every_stage_and_fade_in(models, stage, alpha):
    G, D = models
    if stage == 0 and alpha < 1:
        with pytest.raises(ValueError, match="no previous stage"):
            G(torch.randn(3, 16), stage=0, alpha=alpha)
        return
    r = 4 * 2**stage
    x = G(torch.randn(3, 16), stage=stage, alpha=alpha)
    assert x.shape == (3, 3, r, r)
    assert D(x, stage=stage, alpha=alpha).shape == (3,)


def test_full_resolution_by_default(models, config):
    G, D = models
    z = torch.randn(2, 16)
    x = G(z)
    assert x.shape == (2, 3, 16, 16) and torch.equal(x, G(z, stage=2, alpha=1.0))
    assert D(x).shape == (2,)
    assert config.num_stages == 3 and [config.channels(r) for r in (4, 8, 16)] == [32, 16, 8]


def test_bad_stage_and_inputs_fail_early(models):
    G, D = models
    with pytest.raises(ValueError, match="stage must be in 0..2"):
        G(torch.randn(1, 16), stage=3)
    with pytest.raises(ValueError, match=r"z must be \[N, 16\]"):
        G(torch.randn(1, 8))
    with pytest.raises(ValueError, match="takes images"):
        D(torch.randn(1, 3, 16, 16), stage=1)


@pytest.mark.parametrize("stage", [1, 2])
def test_alpha_zero_is_the_previous_stage_exactly(models, stage):
    G, D = models
    z = torch.randn(4, 16)
    previous = G(z, stage=stage - 1)
    assert torch.equal(G(z, stage=stage, alpha=0.0), F.interpolate(previous, scale_factor=2, mode="nearest"))
    x = torch.randn(4, 3, 4 * 2**stage, 4 * 2**stage)
    assert torch.equal(D(x, stage=stage, alpha=0.0), D(F.avg_pool2d(x, 2), stage=stage - 1))


def test_fade_in_blends_linearly(models):
    G, _ = models
    z = torch.randn(2, 16)
    a, b = G(z, stage=2, alpha=0.0), G(z, stage=2, alpha=1.0)
    torch.testing.assert_close(G(z, stage=2, alpha=0.25), 0.75 * a + 0.25 * b, atol=1e-5, rtol=1e-5)


def test_equalised_learning_rate_scales_by_he_constant():
    torch.manual_seed(0)
    conv = EqualConv2d(128, 128, 3)
    he = math.sqrt(2) / math.sqrt(128 * 9)
    assert conv.scale == pytest.approx(he)
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.02)  # stored weights ~ N(0, 1)
    assert (conv.weight * conv.scale).std().item() == pytest.approx(he, rel=0.02)
    x = torch.randn(2, 128, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * he, conv.bias, padding=1))
    lin = EqualLinear(400, 300, gain=1.0)
    assert (lin.weight * lin.scale).std().item() == pytest.approx(1 / 20, rel=0.02)


def test_reflect_padding_matches_torch_conv_and_keeps_weights_interchangeable():
    torch.manual_seed(0)
    conv = EqualConv2d(4, 5, 3, padding_mode="reflect").double()
    ref = torch.nn.Conv2d(4, 5, 3, padding=1, padding_mode="reflect").double()  # torch's own reflect padding
    with torch.no_grad():
        ref.weight.copy_(conv.weight * conv.scale)
        ref.bias.copy_(torch.randn(5))
        conv.bias.copy_(ref.bias)
    x = torch.randn(2, 4, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(conv(x), ref(x))
    # inside, away from the border, the padding makes no difference
    zeros = EqualConv2d(4, 5, 3).double()
    zeros.load_state_dict(conv.state_dict())
    torch.testing.assert_close(zeros(x)[..., 1:-1, 1:-1], conv(x)[..., 1:-1, 1:-1])
    assert not torch.allclose(zeros(x)[..., 0, :], conv(x)[..., 0, :])
    with pytest.raises(ValueError, match="padding_mode"):
        EqualConv2d(4, 5, 3, padding_mode="circular")
    # a G with reflect padding has the same parameters as the paper's: its weights load either way
    G = Generator(ProGANConfig(**TINY, g_padding="reflect"))
    assert all(m.padding_mode == "reflect" for m in G.modules() if isinstance(m, EqualConv2d) and m.padding)
    Generator(ProGANConfig(**TINY)).load_state_dict(G.state_dict())


def test_pixel_norm_gives_unit_rms_per_position():
    x = torch.randn(3, 7, 5, 4) * torch.rand(3, 1, 5, 4) * 10
    rms = progan.pixel_norm(x).square().mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones(3, 5, 4))


def _mbstd_reference(x: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    values = np.zeros(len(x))
    for members in groups:
        values[members] = np.sqrt(x[members].var(axis=0) + 1e-8).mean()
    return values


def test_minibatch_std_groups_and_uneven_batches(models):
    x = torch.randn(8, 5, 4, 4, dtype=torch.float64)
    out = progan.minibatch_std(x, group_size=4)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], x)
    ref = _mbstd_reference(x.numpy(), [[0, 2, 4, 6], [1, 3, 5, 7]])  # sample i in group i % (N // 4)
    np.testing.assert_allclose(out[:, 5].numpy(), ref[:, None, None].repeat(4, 1).repeat(4, 2))
    # 6 is not a multiple of 4: the whole batch is one group
    x6 = x[:6]
    ref6 = _mbstd_reference(x6.numpy(), [list(range(6))])
    np.testing.assert_allclose(progan.minibatch_std(x6, group_size=4)[:, 5, 0, 0].numpy(), ref6)
    G, D = models
    for n in (1, 3, 5, 6):
        assert D(G(torch.randn(n, 16))).shape == (n,)


def test_losses_against_hand_computed_values():
    real = torch.tensor([1.0, -2.0], dtype=torch.float64)
    fake = torch.tensor([0.5, 3.0], dtype=torch.float64)
    sp = lambda v: math.log1p(math.exp(v))  # softplus
    assert progan.d_loss_ns(real, fake).item() == pytest.approx((sp(-1) + sp(2)) / 2 + (sp(0.5) + sp(3)) / 2)
    assert progan.g_loss_ns(fake).item() == pytest.approx((sp(-0.5) + sp(-3)) / 2)
    assert progan.d_loss_wgan(real, fake).item() == pytest.approx(1.75 - (-0.5))
    assert progan.g_loss_wgan(fake).item() == pytest.approx(-1.75)
    assert progan.drift_penalty(real).item() == pytest.approx(2.5)
    # softplus forms equal the textbook log-sigmoid forms
    s = torch.sigmoid
    torch.testing.assert_close(progan.d_loss_ns(real, fake), -(s(real).log().mean() + (1 - s(fake)).log().mean()))


class _LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere, so the penalty is (|w| - 1)^2."""

    def __init__(self, norm: float):
        super().__init__()
        w = torch.randn(3, 8, 8, dtype=torch.float64)
        self.w = torch.nn.Parameter(w / w.norm() * norm)

    def forward(self, x, *, stage, alpha):
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("norm", [1.0, 2.0, 0.5])
def test_gradient_penalty_of_a_linear_critic(norm):
    real, fake = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.randn(4, 3, 8, 8, dtype=torch.float64)
    gp = progan.gradient_penalty(_LinearCritic(norm), real, fake, stage=None, alpha=1.0)
    assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-12)


def _input_gradient(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """d f / d x by central differences, one coordinate at a time (float64)."""
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        e = torch.zeros(x.numel(), dtype=torch.float64)
        e[i] = h
        e = e.view_as(x)
        grad.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def test_gradient_penalty_matches_finite_differences(config):
    torch.manual_seed(1)
    D = Discriminator(config).double()
    real, fake = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8, dtype=torch.float64)
    gp = progan.gradient_penalty(D, real, fake, stage=1, alpha=0.5, generator=torch.Generator().manual_seed(3))
    eps = torch.rand(2, 1, 1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    grad = _input_gradient(lambda x: D(x, stage=1, alpha=0.5).sum().item(), x_hat)
    expected = (grad.flatten(1).norm(dim=1) - 1).square().mean().item()
    assert gp.item() == pytest.approx(expected, rel=1e-5)
    gp.backward()  # differentiable into D (create_graph)
    assert D.out.weight.grad is not None


@pytest.mark.parametrize("norm", [1.0, 2.0, 0.5])
def test_r1_penalty_of_a_linear_critic(norm):
    real = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    assert progan.r1_penalty(_LinearCritic(norm), real, stage=None, alpha=1.0).item() == pytest.approx(norm**2)


def test_r1_penalty_matches_finite_differences_and_reaches_d(config):
    torch.manual_seed(2)
    D = Discriminator(config).double()
    real = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    r1 = progan.r1_penalty(D, real, stage=1, alpha=0.5)
    grad = _input_gradient(lambda x: D(x, stage=1, alpha=0.5).sum().item(), real)  # each sample's own gradient
    assert r1.item() == pytest.approx(grad.flatten(1).square().sum(1).mean().item(), rel=1e-5)
    assert not real.requires_grad  # the caller's batch is left alone
    r1.backward()
    assert D.out.weight.grad is not None and D.out.weight.grad.abs().sum() > 0


class _LinearGenerator(torch.nn.Module):
    """G(z) = A z as a [3, 4, 4] image: J^T y = A^T y for every z."""

    def __init__(self, A: torch.Tensor):
        super().__init__()
        self.A = torch.nn.Parameter(A)  # [48, z_dim]

    def forward(self, z, *, stage, alpha):
        return (z @ self.A.T).view(-1, 3, 4, 4)


def test_path_lengths_of_a_linear_generator_and_the_moving_mean():
    torch.manual_seed(4)
    G = _LinearGenerator(torch.randn(48, 6, dtype=torch.float64))
    z, y = torch.randn(5, 6, dtype=torch.float64), torch.randn(5, 3, 4, 4, dtype=torch.float64)
    pl = progan.PathLengthPenalty(decay=0.25).double()
    expected = (y.flatten(1) @ G.A.detach()).norm(dim=1)  # |A^T y| per latent, independent of z
    assert torch.allclose(pl.lengths(G, z, y=y, stage=None, alpha=1.0), expected, rtol=1e-12)
    first = pl(G, z, y=y, stage=None, alpha=1.0)
    assert pl.mean.item() == pytest.approx(0.25 * expected.mean().item(), rel=1e-12)  # lerp from 0
    assert first.item() == pytest.approx((expected - 0.25 * expected.mean()).square().mean().item(), rel=1e-10)
    first.backward()
    assert G.A.grad is not None and G.A.grad.abs().sum() > 0  # the term trains G
    assert not z.requires_grad  # the caller's latents are left alone
    state = pl.state_dict()
    assert list(state) == ["mean"]  # what a checkpoint holds and a resume restores


def test_path_length_penalty_is_smaller_for_equal_singular_values_than_for_a_folded_jacobian():
    # the regulariser's point: at equal total gain, a J that ignores most latent directions
    # (one large singular value) gets a larger penalty than one that uses all of them equally
    torch.manual_seed(5)
    U, _ = torch.linalg.qr(torch.randn(48, 16, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64))
    spread = torch.ones(16, dtype=torch.float64)
    folded = torch.zeros(16, dtype=torch.float64)
    folded[0] = 4.0  # the same Frobenius norm as `spread`
    y = progan.PathLengthPenalty.direction(torch.Size([4096, 3, 4, 4]), generator=torch.Generator().manual_seed(6))
    z = torch.zeros(4096, 16, dtype=torch.float64)
    penalties = []
    for s in (spread, folded):
        pl = progan.PathLengthPenalty(decay=1.0)  # the mean of this batch's lengths itself
        penalties.append(pl(_LinearGenerator(U @ torch.diag(s) @ V.T), z, y=y.double(), stage=None, alpha=1.0).item())
    assert penalties[1] > 5 * penalties[0]


def test_path_lengths_of_progan_match_finite_differences(config):
    torch.manual_seed(7)
    G = Generator(config).double()
    z, y = torch.randn(2, config.z_dim, dtype=torch.float64), torch.randn(2, 3, 8, 8, dtype=torch.float64)
    lengths = progan.PathLengthPenalty().lengths(G, z, y=y, stage=1, alpha=0.5)
    for i in range(2):
        grad = _input_gradient(lambda v, t=y[i]: (G(v[None], stage=1, alpha=0.5)[0] * t).sum().item(), z[i])
        assert lengths[i].item() == pytest.approx(grad.norm().item(), rel=1e-6)


def test_path_length_penalty_rejects_a_bad_decay():
    for decay in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="decay"):
            progan.PathLengthPenalty(decay=decay)


def test_update_ema_formula_and_buffers():
    config = DCGANConfig(z_dim=8, img_resolution=8, g_width=8, d_width=4)
    G, G_ema = DCGANGenerator(config).double(), DCGANGenerator(config).double()
    G(torch.randn(4, 8, dtype=torch.float64))  # train mode: changes G's batch-norm running stats
    before = [p.detach().clone() for p in G_ema.parameters()]
    update_ema(G_ema, G, beta=0.9)
    for p_ema, p_old, p in zip(G_ema.parameters(), before, G.parameters(), strict=True):
        torch.testing.assert_close(p_ema, 0.9 * p_old + 0.1 * p)
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        assert torch.equal(b_ema, b)
    with pytest.raises(ValueError, match="beta"):
        update_ema(G_ema, G, beta=1.5)


def test_sample_latents_reproducible():
    a = progan.sample_latents(3, z_dim=16, seed=42)
    assert a.shape == (3, 16) and a.dtype == torch.float32
    assert torch.equal(a, progan.sample_latents(3, z_dim=16, seed=42))
    assert not torch.equal(a, progan.sample_latents(3, z_dim=16, seed=43))


def test_generate_is_in_unit_range(models):
    G, _ = models
    z = torch.randn(5, 16)
    img = progan.generate(G, z, stage=1)
    assert img.shape == (5, 3, 8, 8) and img.min() >= 0 and img.max() <= 1
    torch.testing.assert_close(img, ((G(z, stage=1) + 1) / 2).clamp(0, 1))


@pytest.mark.parametrize("res", [32, 64])
def test_dcgan_shapes(res):
    config = DCGANConfig(img_resolution=res, g_width=32, d_width=8)
    G, D = DCGANGenerator(config), DCGANDiscriminator(config)
    x = G(torch.randn(2, 100))
    assert x.shape == (2, 3, res, res) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    assert D(x, stage=config.num_stages - 1, alpha=1.0).shape == (2,)  # the ProGAN trainer's call
    with pytest.raises(ValueError, match="no progressive stages"):
        G(torch.randn(2, 100), stage=0)


def test_non_saturating_steps_reduce_d_loss(config):
    torch.manual_seed(0)
    G, D = Generator(config), Discriminator(config)
    real = torch.rand(8, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        fake = G(torch.randn(8, 16), stage=1)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3, betas=(0.0, 0.99))
    losses = []
    for _ in range(20):
        loss = progan.d_loss_ns(D(real, stage=1), D(fake, stage=1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(2 * math.log(2), abs=0.5)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)) and losses[-1] < 0.7 * losses[0]


def test_config_round_trip_and_validation():
    c = ProGANConfig(**TINY, loss="ns")
    d = c.to_dict()
    assert d["architecture"] == "progan" and json.loads(json.dumps(d)) == d
    assert ProGANConfig.from_dict({**d, "kimg": 1200, "lr": 1e-3}) == c
    assert ProGANConfig().loss == "wgan-gp"
    with pytest.raises(ValueError, match="power of 2"):
        ProGANConfig(img_resolution=48)
    with pytest.raises(ValueError, match="loss"):
        ProGANConfig(loss="hinge")
    with pytest.raises(ValueError, match="g_padding"):
        ProGANConfig(g_padding="circular")
    legacy = {k: v for k, v in d.items() if k != "g_padding"}  # a config.json from before the option
    assert ProGANConfig.from_dict(legacy).g_padding == "zeros"
    assert ProGANConfig.from_dict({**d, "g_padding": "reflect"}).g_padding == "reflect"
    dc = DCGANConfig(img_resolution=64)
    assert dc.to_dict()["architecture"] == "dcgan" and DCGANConfig.from_dict(dc.to_dict()) == dc


def test_load_generator_strict_frozen_eval(tmp_path, models, config):
    G, _ = models
    folder = tmp_path / "progan"
    folder.mkdir()
    save_file(G.state_dict(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**config.to_dict(), "kimg": 10}))
    loaded, loaded_config = progan.load_generator(path=folder)
    assert loaded_config == config and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    z = torch.randn(2, 16)
    torch.testing.assert_close(loaded(z), G(z))
    (folder / "config.json").write_text(json.dumps({**config.to_dict(), "fmap_max": 16}))
    with pytest.raises(ValueError, match="does not fit Generator"):
        progan.load_generator(path=folder)
