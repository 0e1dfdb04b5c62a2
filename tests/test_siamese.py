"""Siamese GAN (seed 000): losses against hand-computed float64 cases, shapes, Combo."""

import math

import pytest
import torch

from stylegan_lib.siamese import (
    Discriminator,
    Generator,
    SiameseConfig,
    loss_d_fake,
    loss_d_real,
    loss_g_adv,
    loss_transformation,
    transformation_cosine,
)

TINY = SiameseConfig(tile=16, lenvec=8, ngf=4, n_blocks=1, ndf=4)


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_real_and_generator_losses_are_mean_squared_norms():
    v = t([[3.0, 4.0], [1.0, 0.0]])  # norms 5 and 1
    assert loss_d_real(v).item() == pytest.approx((25 + 1) / 2)
    assert loss_g_adv(v).item() == pytest.approx(13.0)


def test_fake_loss_is_squared_hinge_on_the_norm():
    v = t([[0.3, 0.4], [3.0, 4.0]])  # norms 0.5 (inside the margin) and 5 (outside)
    assert loss_d_fake(v, margin=2.0).item() == pytest.approx(((2 - 0.5) ** 2 + 0) / 2)
    assert loss_d_fake(v, margin=0.1).item() == 0.0


def test_transformation_cosine_by_hand():
    a1, a2 = t([[1.0, 0.0], [0.0, 0.0]]), t([[0.0, 0.0], [0.0, 2.0]])  # a1 - a2: (1, 0), (0, -2)
    ab1, ab2 = t([[2.0, 2.0], [1.0, 1.0]]), t([[0.0, 0.0], [1.0, 3.0]])  # ab1 - ab2: (2, 2), (0, -2)
    expected = (1 / math.sqrt(2) + 1.0) / 2  # 45 degrees, then parallel
    assert transformation_cosine(a1, a2, ab1, ab2).item() == pytest.approx(expected, rel=1e-12)
    assert loss_transformation(a1, a2, ab1, ab2).item() == pytest.approx(1 - expected, rel=1e-12)
    assert loss_transformation(a1, a2, a1, a2).item() == pytest.approx(0.0, abs=1e-12)
    assert loss_transformation(a1, a2, a2, a1).item() == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("size", [(16, 16), (32, 48), (64, 20)])
def test_generator_is_fully_convolutional(size):
    G = Generator(TINY).double()
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    y = G(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError, match="multiples of 4"):
        G(torch.rand(1, 3, 18, 16))


def test_residual_generator_starts_near_identity_and_plain_one_does_not():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    residual = Generator(TINY)(x)
    plain = Generator(SiameseConfig(**{**TINY.__dict__, "residual": False}))(x)
    assert (residual - x).abs().mean() < (plain - x).abs().mean()


def test_discriminator_maps_2s_images_to_lenvec():
    D = Discriminator(TINY)
    assert D(torch.rand(5, 3, 32, 32)).shape == (5, 8)
    with pytest.raises(ValueError, match="32x32"):
        D(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="at least 32"):
        Discriminator(TINY, size=16)


def test_config_round_trip():
    d = TINY.to_dict()
    assert d["architecture"] == "siamese-gan"
    assert SiameseConfig.from_dict({**d, "trained_steps": 5}) == TINY


def test_bilinear_upsampling_prints_no_grid_on_flat_features():
    """With the same weights, nearest upsampling copies each low-resolution feature into a 2x2
    block, bilinear interpolates: on a smooth ramp the nearest model's output repeats with a 4-px
    period (two 2x upsamplings) that the bilinear one does not have. Old configs read as nearest."""
    from dataclasses import replace

    from stylegan_lib.instnorm import receptive_radius

    torch.manual_seed(0)
    nearest = Generator(replace(TINY, residual=False)).double().eval()
    bilinear = Generator(replace(TINY, residual=False, upsample="bilinear")).double().eval()
    bilinear.load_state_dict(nearest.state_dict())  # no weights differ: the upsampling has none
    ramp = torch.linspace(0, 1, 64, dtype=torch.float64).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()

    def period4(G):  # energy of the 4-px-periodic part of the row profile against the rest
        row = G(ramp)[0, :, 32, 8:56].mean(0)  # away from the borders
        spectrum = torch.fft.rfft(row - row.mean()).abs().square()
        return (spectrum[len(row) // 4] / spectrum[1:].sum()).item()

    assert period4(nearest) > 5 * period4(bilinear)  # 7.7x with these (seeded) weights
    modes = [m.mode for G in (nearest, bilinear) for m in G.modules() if isinstance(m, torch.nn.Upsample)]
    assert modes == ["nearest"] * 2 + ["bilinear"] * 2
    assert receptive_radius(bilinear.net) > receptive_radius(nearest.net)  # bilinear reads one more neighbour
    assert SiameseConfig.from_dict({k: v for k, v in TINY.to_dict().items() if k != "upsample"}).upsample == "nearest"
    with pytest.raises(ValueError, match="upsample"):
        SiameseConfig(upsample="transpose")


def test_shift_equivariance_loss_by_hand():
    """Zero for any G that follows the picture (here pointwise); for patterns locked to G's own
    pixels, which an odd shift turns into their negative, the pattern's full step in the
    directions that flip it: a checkerboard in both, a line screen in one (half of the mean)."""
    from stylegan_lib.siamese import shift_equivariance_loss, shift_windows

    x = torch.rand(3, 3, 20, 20, dtype=torch.float64)
    windows = shift_windows(x, tile=16)
    assert windows.shape == (9, 3, 16, 16)
    assert torch.equal(windows[3], x[0, :, :16, 1:17]) and torch.equal(windows[6], x[0, :, 1:17, :16])
    assert shift_equivariance_loss(windows.square()).item() == 0.0  # pointwise: follows the picture
    ii, jj = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker, lines = 0.1 * (-1.0) ** (ii + jj).double(), 0.1 * (-1.0) ** ii.double()  # in the window's pixels
    assert shift_equivariance_loss(windows + checker).item() == pytest.approx(0.2, abs=1e-12)
    assert shift_equivariance_loss(windows + lines).item() == pytest.approx(0.1, abs=1e-12)
    even = shift_windows(x, tile=16, shift=2)
    assert shift_equivariance_loss(even + checker, shift=2).item() == pytest.approx(0.0, abs=1e-12)  # in phase
    with pytest.raises(ValueError, match="no 16-px windows"):
        shift_windows(x[..., :16, :16], tile=16)
