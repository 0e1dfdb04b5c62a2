"""Colour spaces and colour preservation: the one home for luma weights, YIQ, CIELAB and the
luminance-only transfer shared by the style-transfer methods.

* :data:`LUMA`: Rec. 601 luma weights, the Y row of the NTSC YIQ matrix; every luminance in the
  library (colour preservation, seam scores, edge correlation) uses them.
* :func:`rgb_to_yiq` / :func:`yiq_to_rgb`: NTSC YIQ, exact inverses.
* :func:`rgb_to_lab` / :func:`lab_to_rgb`: CIELAB under D65 (the Van Gogh tab's style-strength blend).
* :func:`luminance`, :func:`match_luminance`, :func:`with_content_colors`: colour preservation
  (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in Neural Artistic Style
  Transfer", luminance-only transfer), used by Gatys style transfer (``nst.py``), AdaIN
  (``adain.py``) and Magenta arbitrary stylization (``magenta.py``) alike.

Tensors: images are [N, 3, H, W] (or [3, H, W]), RGB, range [0, 1]; luminance is [N, 1, H, W].
"""

from __future__ import annotations

import torch

from .images import resize

__all__ = [
    "LUMA",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "rgb_to_lab",
    "lab_to_rgb",
    "luminance",
    "match_luminance",
    "with_content_colors",
]

LUMA = (0.299, 0.587, 0.114)  # Rec. 601 luma weights (R, G, B): the Y of YIQ

# Standard NTSC (FCC) RGB -> YIQ matrix; rows Y, I, Q. White maps to (1, 0, 0).
_RGB_TO_YIQ = (
    LUMA,
    (0.5959, -0.2746, -0.3213),
    (0.2115, -0.5227, 0.3112),
)


# ----------------------------------------------------------------------------- YIQ


def _yiq_matrix(t: torch.Tensor, *, inverse: bool) -> torch.Tensor:
    if not t.is_floating_point() or t.ndim not in (3, 4) or t.shape[-3] != 3:
        raise ValueError(f"Expected a float tensor [N, 3, H, W] or [3, H, W], got {t.dtype} {list(t.shape)}")
    m = torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)
    if inverse:
        m = torch.linalg.inv(m)  # computed in float64, then cast: the exact inverse of the same matrix
    return m.to(dtype=t.dtype, device=t.device)


def rgb_to_yiq(t: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB in [0, 1] -> [N, 3, H, W] YIQ (NTSC): Y in [0, 1], I in ±0.596, Q in ±0.523."""
    return torch.einsum("ij,...jhw->...ihw", _yiq_matrix(t, inverse=False), t)


def yiq_to_rgb(t: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] YIQ -> [N, 3, H, W] RGB; exact inverse of rgb_to_yiq (no clamping)."""
    return torch.einsum("ij,...jhw->...ihw", _yiq_matrix(t, inverse=True), t)


# ----------------------------------------------------------------------------- CIELAB (D65)

_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def _lab_matrix(t: torch.Tensor, *, inverse: bool) -> torch.Tensor:
    m = torch.tensor(_SRGB_TO_XYZ, dtype=torch.float64)
    m = m / torch.tensor(_WHITE_D65, dtype=torch.float64).view(3, 1)  # normalise by the white point
    return (torch.linalg.inv(m) if inverse else m).to(dtype=t.dtype, device=t.device)


def rgb_to_lab(t: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] sRGB in [0, 1] -> CIELAB (D65): L in [0, 100], a and b roughly ±110."""
    linear = torch.where(t <= 0.04045, t / 12.92, ((t.clamp_min(0) + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,...jhw->...ihw", _lab_matrix(t, inverse=False), linear)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(t: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_lab` (no clamping: out-of-gamut colours leave [0, 1])."""
    L, a, b = t.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29))
    linear = torch.einsum("ij,...jhw->...ihw", _lab_matrix(t, inverse=True), xyz)
    return torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp_min(0) ** (1 / 2.4) - 0.055)


# ----------------------------------------------------------------------------- colour preservation


def luminance(image: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB -> [N, 1, H, W], the Y of YIQ (:data:`LUMA`), in the image's dtype."""
    return rgb_to_yiq(image)[:, :1]


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Luminance histogram matching by mean and standard deviation (Gatys et al. 2016b): the
    style's luminance [N, 1, h, w] moved to the content's mean and std, clamped to [0, 1]."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - s_mean) * content_y.std() / s_std + content_y.mean()).clamp(0, 1)


def with_content_colors(image: torch.Tensor, content: torch.Tensor, preserve_colors: bool) -> torch.Tensor:
    """A stylised image in RGB: with colour preservation, its luminance plus the content's I, Q.

    ``image`` [N, 3, h, w] holds the stylised luminance in all three channels (their mean is
    taken); ``content`` [N, 3, H, W] is resized to (h, w) for its chroma. Without
    ``preserve_colors``, ``image`` is returned as it is.
    """
    if not preserve_colors:
        return image
    y = image.mean(1, keepdim=True)  # the three channels hold the same luminance
    iq = rgb_to_yiq(resize(content, tuple(image.shape[-2:])))[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], 1)).clamp(0, 1)
