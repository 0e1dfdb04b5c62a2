"""DiffAugment (augment.py): each transform against an independent reference, gradients, seeding."""

import pytest
import torch

from stylegan_lib.augment import POLICIES, color, cutout, diff_augment, parse_policy, translation


def test_parse_policy():
    assert parse_policy("") == ()
    assert parse_policy(" color, cutout ,") == ("color", "cutout")
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_policy("color,flip")


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: out[i, j] = img[i - dy, j - dx], zero where that falls outside."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


@pytest.mark.parametrize("h, w", [(16, 16), (8, 12), (4, 4)])
def test_translation_is_a_zero_filled_integer_shift_of_at_most_an_eighth(h, w):
    x = torch.arange(1, 1 + 6 * 2 * h * w, dtype=torch.float64).view(6, 2, h, w)  # every value distinct, none 0
    out = translation(x, generator=torch.Generator().manual_seed(1))
    sy, sx = int(h / 8 + 0.5), int(w / 8 + 0.5)
    shifts = []
    for img, got in zip(x, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-sy, sy + 1)
            for dx in range(-sx, sx + 1)
            if torch.equal(got, _shifted(img, dy, dx))
        ]
        assert len(matches) == 1
        shifts += matches
    assert len(set(shifts)) > 1  # per image, not one shift for the batch


def test_cutout_zeroes_one_clipped_square_of_half_the_side():
    x = torch.rand(64, 3, 16, 16, dtype=torch.float64) + 0.5  # no zeros of its own
    out = cutout(x, generator=torch.Generator().manual_seed(2))
    sizes = set()
    for img, got in zip(x, out, strict=True):
        hole = got == 0
        assert torch.equal(hole[0], hole[1]) and torch.equal(hole[0], hole[2])  # all channels
        assert torch.equal(got[~hole], img[~hole])
        rows, cols = hole[0].any(1).nonzero().flatten(), hole[0].any(0).nonzero().flatten()
        assert hole[0].sum() == len(rows) * len(cols)  # one rectangle...
        assert torch.equal(rows, torch.arange(rows[0], rows[-1] + 1)) and torch.equal(
            cols, torch.arange(cols[0], cols[-1] + 1)
        )
        assert 4 <= len(rows) <= 8 and 4 <= len(cols) <= 8  # ...of side 8, clipped at most to half
        sizes.add((len(rows), len(cols)))
    assert (8, 8) in sizes and len(sizes) > 1


def test_color_matches_a_float64_reference_with_the_documented_draws():
    x = torch.rand(5, 3, 6, 6, dtype=torch.float64) * 2 - 1
    out = color(x, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    u = [torch.rand(5, generator=g).double() for _ in range(3)]  # brightness, saturation, contrast: in that order
    for i in range(5):
        img = x[i] + (u[0][i] - 0.5)
        gray = img.mean(0)
        img = gray + (img - gray) * 2 * u[1][i]
        mean = img.mean()
        img = mean + (img - mean) * (u[2][i] + 0.5)
        torch.testing.assert_close(out[i], img, rtol=0, atol=1e-12)


def test_the_full_policy_is_differentiable_and_seeded():
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, requires_grad=True)

    def augment(x):  # the same draws on every call, as gradcheck needs
        return diff_augment(x, policy=POLICIES, generator=torch.Generator().manual_seed(4))

    assert torch.autograd.gradcheck(augment, (x,))
    assert torch.equal(augment(x), augment(x))
    other = diff_augment(x, policy=POLICIES, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(augment(x), other)
    assert diff_augment(x, policy=(), generator=torch.Generator()) is x
