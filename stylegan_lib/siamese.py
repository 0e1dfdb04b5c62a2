"""Siamese GAN for unpaired HD image translation by tiles.

G maps an S x S tile to an S x S tile (fully convolutional). D is a *Siamese* network: it
maps a 2S x 2S image to a vector of length ``lenvec`` instead of a real/fake logit. Real
B images sit near the origin, translations are pushed beyond a margin, and the
transformation vectors D(A1) - D(A2) and D(AB1) - D(AB2) must point the same way, which
keeps the content (the idea TraVeLGAN, Amodio & Krishnaswamy 2019, calls the TraVeL loss).

Training uses the article's Combo model (``tiling.combo``): 2S x 2S crops are cut into four
S x S tiles, G runs on each, the tiles are stitched back and D judges the stitched image,
so every tile border has to look real. At inference G runs tile by tile on any size
(``tiling.translate_hd``).

Tensors: images are [N, 3, H, W], RGB, range [0, 1]; D outputs [N, lenvec].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import instnorm
from .checkpointing import config_from_dict


@dataclass
class SiameseConfig:
    tile: int = 64  # S: G's tile size; D sees 2S x 2S
    lenvec: int = 128  # length of D's output vector (LENVEC)
    margin: float = 1.0  # `cost`: fakes are pushed beyond this distance from the origin
    ngf: int = 32  # G width at full resolution
    n_blocks: int = 4  # residual blocks at 1/4 resolution
    ndf: int = 32  # D width of its first convolution
    residual: bool = True  # G predicts a change added to its input tile (starts near the identity)
    spectral_norm: bool = True  # spectral normalisation of D's layers instead of instance norm
    upsample: str = "nearest"  # G's 2x upsamplings before its 3x3 convolutions: nearest or bilinear

    def __post_init__(self):
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {list(UPSAMPLING)}, got {self.upsample!r}")

    def to_dict(self) -> dict:
        return {"architecture": "siamese-gan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> SiameseConfig:
        return config_from_dict(cls, d, architecture="siamese-gan")


# Resize-convolution (Odena et al. 2016, "Deconvolution and checkerboard artifacts"): nearest
# neighbour copies each feature into a 2x2 block, and a 3x3 convolution trained on such blocks can
# still print a 2- and 4-px grid; bilinear interpolation leaves no block to print. Both have no
# weights, so a model trained with one can be fine-tuned with the other (siamese_train's init_g).
UPSAMPLING = ("nearest", "bilinear")


def _upsample(mode: str) -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))


def _res_block(ch: int) -> instnorm.ResidualBlock:
    return instnorm.ResidualBlock(
        nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(True),
        nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True),
    )  # fmt: skip


class Generator(nn.Module):
    """Tile -> tile: c7 (ngf), two stride-2 downsamplings, residual blocks, two upsamplings, c7 -> 3.

    With ``residual`` the output is a change added to the input tile (then clamped to
    [0, 1]), so an untrained G starts near the identity and training only has to learn the
    change of style; without it G predicts the tile outright, as in the article.
    """

    def __init__(self, config: SiameseConfig):
        super().__init__()
        c = config.ngf
        norm = lambda ch: nn.InstanceNorm2d(ch, affine=True)  # noqa: E731
        up = lambda: _upsample(config.upsample)  # noqa: E731
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), norm(c), nn.ReLU(True),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, padding_mode="reflect"), norm(2 * c), nn.ReLU(True),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1, padding_mode="reflect"), norm(4 * c), nn.ReLU(True),
            *[_res_block(4 * c) for _ in range(config.n_blocks)],
            up(), nn.ReflectionPad2d(1), nn.Conv2d(4 * c, 2 * c, 3), norm(2 * c), nn.ReLU(True),
            up(), nn.ReflectionPad2d(1), nn.Conv2d(2 * c, c, 3), norm(c), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh(),
        )  # fmt: skip
        self.residual = config.residual

    def forward(self, x: torch.Tensor, *, norm_stats: instnorm.NormStats | None = None) -> torch.Tensor:
        # [N, 3, S, S] in [0, 1] -> [N, 3, S, S] in [0, 1]; S a multiple of 4
        # norm_stats (from norm_stats()): normalise with those statistics instead of each tile's own
        self._check_size(x)
        x2 = x * 2 - 1  # [-1, 1]
        out = self.net(x2) if norm_stats is None else instnorm.run(self.net, x2, stats=norm_stats)
        return (x + out).clamp(0, 1) if self.residual else (out + 1) / 2

    def norm_stats(self, x: torch.Tensor) -> instnorm.NormStats:
        """The instance-norm statistics of G on ``x`` ([1, 3, H, W] in [0, 1], H and W multiples of
        4: a thumbnail of the whole photo), for ``forward(tiles, norm_stats=...)``."""
        self._check_size(x)
        return instnorm.record(self.net, x * 2 - 1)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on (47 for the shipped config)."""
        return instnorm.receptive_radius(self.net)

    @staticmethod
    def _check_size(x: torch.Tensor) -> None:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"Generator tiles must be multiples of 4 pixels, got {tuple(x.shape[-2:])}")


class Discriminator(nn.Module):
    """2S x 2S image -> vector of length lenvec: four stride-2 4x4 convolutions, then a linear map."""

    def __init__(self, config: SiameseConfig, *, size: int | None = None):
        super().__init__()
        c, size = config.ndf, size or 2 * config.tile  # 2S for Combo training, S for naive tiles
        if size < 32 or size % 16:
            raise ValueError(f"the discriminator needs a multiple of 16 pixels, at least 32, got {size}")
        sn = nn.utils.parametrizations.spectral_norm if config.spectral_norm else (lambda m: m)
        layers, in_ch = [], 3
        for i, out_ch in enumerate((c, 2 * c, 4 * c, 8 * c)):
            layers += [sn(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1))]
            if i > 0 and not config.spectral_norm:
                layers += [nn.InstanceNorm2d(out_ch, affine=True)]
            layers += [nn.LeakyReLU(0.2, True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = sn(nn.Linear(in_ch * (size // 16) ** 2, config.lenvec))
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [N, 3, 2S, 2S] in [0, 1] -> [N, lenvec]
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"the discriminator takes {self.size}x{self.size} images, got {tuple(x.shape[-2:])}")
        return self.head(self.features(x * 2 - 1).flatten(1))


# Typical RMS of the Caffe VGG19's activations on 128-px crops of the Van Gogh paintings
# (photos run about 20 % lower); dividing by them brings every layer to about unit scale, so
# the heads' spectral norms and the margin of 1 see comparable inputs from each layer.
FEATURE_SCALE = {"relu1_1": 50.0, "relu2_1": 250.0, "relu3_1": 300.0, "relu4_1": 1000.0}
FEATURE_LAYERS = ("relu2_1", "relu3_1", "relu4_1")


class FeatureDiscriminator(nn.Module):
    """Frozen VGG19 features of a 2S x 2S image -> vector of length lenvec.

    A Siamese D in the manner of Projected GANs (Sauer et al., NeurIPS 2021) and Vision-aided
    GANs (Kumari et al., CVPR 2022): the pretrained trunk stays frozen and only small heads
    learn, which gives a small data set (360 paintings) far more signal per step than a D
    learning its features from pixels. Each layer in ``layers`` gets a head (1x1 convolution,
    then 4x4 stride-2 convolutions down to 4x4, then a linear map to lenvec, spectral norm
    throughout); the heads' vectors are summed, so the article's five losses apply unchanged.

    ``forward`` takes the features, not the image: the trainer runs the trunk once per batch
    (:func:`vgg19_features`) and shares it with the content loss. The trunk is not part of
    this module, so its state dict and parameters are the heads alone.
    """

    def __init__(self, config: SiameseConfig, *, size: int, layers: tuple[str, ...] = FEATURE_LAYERS):
        super().__init__()
        from .vgg import LAYER_INDEX, LAYER_NAMES

        unknown = [name for name in layers if name not in FEATURE_SCALE]
        if unknown or not layers:
            raise ValueError(f"feature discriminator layers must be among {list(FEATURE_SCALE)}, got {list(layers)}")
        sn = nn.utils.parametrizations.spectral_norm
        c, heads = config.ndf, {}
        for name in layers:
            block = int(name[4])  # reluB_i
            channels = (64, 128, 256, 512)[block - 1]
            pools = sum(n.startswith("pool") for n in LAYER_NAMES[: LAYER_INDEX[name]])
            side = size // 2**pools
            if side < 4 or side & (side - 1):
                raise ValueError(f"{name} of a {size}-px image is {side} px; the heads need a power of two >= 4")
            layers_ = [sn(nn.Conv2d(channels, c, 1)), nn.LeakyReLU(0.2, True)]
            ch = c
            while side > 4:
                layers_ += [sn(nn.Conv2d(ch, min(2 * ch, 8 * c), 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
                ch, side = min(2 * ch, 8 * c), side // 2
            layers_ += [nn.Flatten(), sn(nn.Linear(ch * 16, config.lenvec))]
            heads[name] = nn.Sequential(*layers_)
        self.heads = nn.ModuleDict(heads)
        self.size = size

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.heads)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        # {layer: [N, C, h, w]} from vgg19_features -> [N, lenvec]
        return sum(head(features[name] / FEATURE_SCALE[name]) for name, head in self.heads.items())


def vgg19_features(vgg: nn.Module, x: torch.Tensor, layers) -> dict[str, torch.Tensor]:
    """``vgg`` (a frozen VGG19Features) on images [N, 3, H, W] in [0, 1], channels_last: {layer: features}."""
    return vgg(x.contiguous(memory_format=torch.channels_last), tuple(layers))


def shift_windows(x: torch.Tensor, *, tile: int, shift: int = 1) -> torch.Tensor:
    """Three ``tile``-pixel windows of each crop in ``x`` [N, 3, H, W]: at the corner, ``shift``
    pixels to the right, ``shift`` pixels down: [3N, 3, tile, tile] (all first windows, then all
    second, then all third). One direction alone is blind to some patterns: a checkerboard is the
    same one pixel down and to the right, a line screen the same along its lines."""
    if x.shape[-2] < tile + shift or x.shape[-1] < tile + shift:
        raise ValueError(f"crops of {tuple(x.shape[-2:])} px hold no {tile}-px windows {shift} px apart")
    s = shift
    return torch.cat([x[..., :tile, :tile], x[..., :tile, s : s + tile], x[..., s : s + tile, :tile]])


def shift_equivariance_loss(y: torch.Tensor, *, shift: int = 1, margin: int = 4) -> torch.Tensor:
    """Mean |G(moved window) - G(window) moved| over the pixels both show, less ``margin`` px
    along the borders, for the right and the down window; ``y``: G's output [3N, 3, t, t] on
    :func:`shift_windows`.

    A translator should paint the same strokes on a picture wherever its tiles fall. Patterns
    locked to G's own pixel lattice (the 2- and 4-px grid of its upsamplings: checkerboards, line
    screens) stay where the lattice is when the picture moves by an odd number of pixels, so they
    cost here, while strokes that follow the picture do not (Zhang 2019, "Making convolutional
    networks shift-invariant again"; Karras et al. 2021, alias-free GANs, for the cause). The
    residual input tile cancels exactly; what remains is G's change to it.
    """
    n, t, s, m = y.shape[0] // 3, y.shape[-1], shift, margin
    base, right, down = y[:n], y[n : 2 * n], y[2 * n :]
    inner = slice(m, t - m - s)  # in the moved window; the same pixels sit s further in the base one
    moved = slice(s + m, t - m)
    horizontal = (base[..., inner, moved] - right[..., inner, inner]).abs().mean()
    vertical = (base[..., moved, inner] - down[..., inner, inner]).abs().mean()
    return (horizontal + vertical) / 2


def content_loss(
    features_ab: dict[str, torch.Tensor], features_a: dict[str, torch.Tensor], *, layer: str
) -> torch.Tensor:
    """Mean squared difference of scaled VGG19 features of the translation and its photo.

    A perceptual content term in the spirit of the style-aware content loss of Sanakoyeu et
    al. (ECCV 2018), measured in the frozen VGG19 instead of the generator's own encoder: it
    keeps the photo's forms while the adversarial terms change its texture and colour.
    """
    scale = FEATURE_SCALE[layer]
    return (features_ab[layer].float() / scale - features_a[layer].float() / scale).pow(2).mean()


# ----------------------------------------------------------------------------- losses


def squared_norm(v: torch.Tensor) -> torch.Tensor:
    """Eucl(v)^2 per row, averaged over the batch: [N, L] -> scalar."""
    return v.pow(2).sum(1).mean()


def loss_d_real(d_b: torch.Tensor) -> torch.Tensor:
    """LossD1 = Eucl(D(B))^2: real B images near the origin."""
    return squared_norm(d_b)


def loss_d_fake(d_ab: torch.Tensor, *, margin: float) -> torch.Tensor:
    """LossD2 = max(0, cost - Eucl(D(AB)))^2: translations pushed beyond the margin."""
    return F.relu(margin - d_ab.norm(dim=1)).pow(2).mean()


def loss_g_adv(d_ab: torch.Tensor) -> torch.Tensor:
    """LossG1 = Eucl(D(AB))^2: G pulls its translations to the origin."""
    return squared_norm(d_ab)


def transformation_cosine(d_a1, d_a2, d_ab1, d_ab2, *, eps: float = 1e-8) -> torch.Tensor:
    """cos(D(A1) - D(A2), D(AB1) - D(AB2)) per pair, averaged: 1 when content is kept."""
    return F.cosine_similarity(d_a1 - d_a2, d_ab1 - d_ab2, dim=1, eps=eps).mean()


def loss_transformation(d_a1, d_a2, d_ab1, d_ab2) -> torch.Tensor:
    """LossD3 = LossG2 = 1 - cos(...): both networks keep the transformation vectors aligned."""
    return 1 - transformation_cosine(d_a1, d_a2, d_ab1, d_ab2)


def loss_siamese_spread(d_a1: torch.Tensor, d_a2: torch.Tensor, *, margin: float) -> torch.Tensor:
    """max(0, margin - Eucl(D(A1) - D(A2)))^2: keeps D's embedding of different A images apart.

    Not one of the article's five losses: TraVeLGAN's contrastive term, which stops D from
    collapsing the transformation vectors (then the cosine terms carry no content signal).
    """
    return F.relu(margin - (d_a1 - d_a2).norm(dim=1)).pow(2).mean()


def build_models(config: SiameseConfig, *, combo: bool = True) -> tuple[Generator, Discriminator]:
    """G and D; with ``combo`` D judges stitched 2S x 2S images, otherwise single S x S tiles."""
    return Generator(config), Discriminator(config, size=None if combo else config.tile)


def load_generator(
    name: str = "siamese-vangogh",
    *,
    path: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Generator, SiameseConfig]:
    """A shipped generator (resolved by hub.py), frozen and in eval mode."""
    from . import hub

    return hub.load_frozen(name, Generator, SiameseConfig, path=path, device=device, dtype=dtype)
