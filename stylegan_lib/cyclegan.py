"""CycleGAN for unpaired image translation (Zhu, Park, Isola & Efros, ICCV 2017).

Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017 (arXiv:1703.10593). Two generators map A -> B and B -> A, two
PatchGAN discriminators judge each domain with least-squares (LSGAN) losses, and a cycle loss
(weight 10) asks F(G(a)) = a and G(F(b)) = b; an optional identity loss asks G(b) = b.

Paper names -> code names (domain A = X = photos, domain B = Y = paintings):

    paper              here       junyanz/pytorch-CycleGAN-and-pix2pix
    G: X -> Y          G_AB       netG_A
    F: Y -> X          G_BA       netG_B
    D_Y (judges Y)     D_B        netD_A
    D_X (judges X)     D_A        netD_B
    lambda = 10        cycle_weight
    0.5 * lambda       identity_weight (absolute, 0 = off)
    image buffer, 50   HistoryPool(size=50)

Generator (paper appendix 7.2): c7s1-ngf, d(2 ngf), d(4 ngf), R(4 ngf) x n_blocks, u(2 ngf), u(ngf),
c7s1-3 + tanh; reflection padding, instance norm (no affine, biased convolutions, as the
reference code). Discriminator: the 70x70 PatchGAN C64-C128-C256-C512 (no norm on C64, the last
C512 at stride 1), then a 4x4 convolution to one channel.

Tensors: images at this module's boundary are [N, 3, H, W], RGB, range [0, 1]; the networks
work in [-1, 1] inside. D outputs [N, 1, h, w] patch scores (real = 1, fake = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import instnorm
from .checkpointing import config_from_dict


@dataclass
class CycleGANConfig:
    ngf: int = 32  # G width at full resolution (the source article: 32; paper: 64)
    n_blocks: int = 6  # residual blocks at 1/4 resolution (the source article: 6; paper, 256 px: 9)
    ndf: int = 64  # D width of its first convolution (64-128-256-512)
    upsample: str = "transpose"  # transpose: the paper's u-k layers; resize: nearest 2x + 3x3 convolution

    def __post_init__(self):
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {list(UPSAMPLING)}, got {self.upsample!r}")

    def to_dict(self) -> dict:
        return {"architecture": "cyclegan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> CycleGANConfig:
        return config_from_dict(cls, d, architecture="cyclegan")


UPSAMPLING = ("transpose", "resize")
SEED_CONFIG = CycleGANConfig(ngf=32, n_blocks=6)  # the source article's generator (ngf 32, 6 blocks)
PAPER_CONFIG = CycleGANConfig(ngf=64, n_blocks=9)  # the paper's ResNet-9 for 256x256 images
MIN_SIDE = 8  # smallest image side G accepts (reflection padding at 1/4 resolution needs 2 pixels)


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch)  # affine=False, as the reference implementation


def _res_block(ch: int) -> instnorm.ResidualBlock:
    """R_k: two 3x3 convolutions with reflection padding, instance norm, a skip connection."""
    return instnorm.ResidualBlock(
        nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch), nn.ReLU(True),
        nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch),
    )  # fmt: skip


def _upsample_transpose(i: int, o: int) -> list[nn.Module]:
    """u-k as in the paper: a 3x3 fractionally-strided convolution, stride 1/2."""
    return [nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1)]


def _upsample_resize(i: int, o: int) -> list[nn.Module]:
    """u-k as resize-convolution (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard
    Artifacts"): nearest 2x upsampling, then a 3x3 convolution. A stride-2 transposed 3x3
    kernel covers even and odd output pixels with different numbers of taps, which paints a
    2-px checkerboard until training balances them; here every output pixel sees the same."""
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(i, o, 3)]


class Generator(nn.Module):
    """ResNet generator, fully convolutional: any H, W >= 8 (padded to multiples of 4 and cropped back)."""

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        self.config = config
        c = config.ngf
        up = _upsample_resize if config.upsample == "resize" else _upsample_transpose
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), _norm(c), nn.ReLU(True),  # c7s1-ngf
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c), nn.ReLU(True),  # d(2 ngf)
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), _norm(4 * c), nn.ReLU(True),  # d(4 ngf)
            *[_res_block(4 * c) for _ in range(config.n_blocks)],  # R(4 ngf) x n_blocks
            *up(4 * c, 2 * c), _norm(2 * c), nn.ReLU(True),  # u(2 ngf)
            *up(2 * c, c), _norm(c), nn.ReLU(True),  # u(ngf)
            nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh(),  # c7s1-3
        )  # fmt: skip

    def forward(self, x: torch.Tensor, *, norm_stats: instnorm.NormStats | None = None) -> torch.Tensor:
        # [N, 3, H, W] in [0, 1] -> [N, 3, H, W] in [0, 1]
        # norm_stats (from norm_stats()): normalise with those statistics instead of the input's own
        h, w = x.shape[-2:]
        x = self._prepare(x)  # [N, 3, H + ph, W + pw] in [-1, 1], multiples of 4
        y = self.net(x) if norm_stats is None else instnorm.run(self.net, x, stats=norm_stats)
        return (y[..., :h, :w] + 1) / 2

    def norm_stats(self, x: torch.Tensor) -> instnorm.NormStats:
        """The instance-norm statistics of G on ``x`` ([1, 3, H, W] in [0, 1]: a thumbnail of the
        whole photo), for ``forward(tiles, norm_stats=...)``."""
        return instnorm.record(self.net, self._prepare(x))

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on."""
        return instnorm.receptive_radius(self.net)

    @staticmethod
    def _prepare(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"the CycleGAN generator needs images of at least {MIN_SIDE}x{MIN_SIDE}, got {w}x{h}")
        ph, pw = -h % 4, -w % 4
        x = x * 2 - 1  # [-1, 1]
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        return x


class Discriminator(nn.Module):
    """70x70 PatchGAN: [N, 3, H, W] in [0, 1] -> [N, 1, H/8 - 2, W/8 - 2] scores (H, W >= 32)."""

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        c = config.ndf
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),  # C64, no norm
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), _norm(2 * c), nn.LeakyReLU(0.2, True),  # C128
            nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1), _norm(4 * c), nn.LeakyReLU(0.2, True),  # C256
            nn.Conv2d(4 * c, 8 * c, 4, stride=1, padding=1), _norm(8 * c), nn.LeakyReLU(0.2, True),  # C512
            nn.Conv2d(8 * c, 1, 4, stride=1, padding=1),  # one score per 70x70 patch
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"the PatchGAN discriminator needs images of at least 32x32, got {tuple(x.shape[-2:])}")
        return self.net(x * 2 - 1)


def resize_weights_from_transpose(G: Generator) -> dict[str, torch.Tensor]:
    """The weights of ``G`` (transposed u-k layers) for the same generator with resize-convolution
    u-k layers: a warm start that keeps what G learnt and drops its checkerboard.

    A stride-2 transposed convolution with kernel W is a convolution with W flipped over the input
    with zeros inserted between its pixels; nearest upsampling is that zero-inserted input summed
    over a 2x2 box. So a resize-convolution with W flipped (and in/out channels swapped), divided
    by 4, computes exactly the transposed layer's output averaged over each 2x2 window (up to the
    bias, which passes through; away from the border): a box filter that is zero at the period-2
    frequency of the checkerboard and keeps the rest, shifted by half an output pixel. Every other
    weight is copied.
    """
    if G.config.upsample != "transpose":
        raise ValueError(f"G already has {G.config.upsample!r} upsampling")
    target = Generator(CycleGANConfig(**{**asdict(G.config), "upsample": "resize"}))
    transposed = {f"{name}.weight" for name, m in G.named_modules() if isinstance(m, nn.ConvTranspose2d)}
    out = {}
    # the two nets hold the same parameters in the same order; only the u-k modules' indices differ
    source, names = G.state_dict(), list(target.state_dict())
    for (key, value), new_key in zip(source.items(), names, strict=True):
        out[new_key] = (value.transpose(0, 1).flip(-2, -1) / 4).contiguous() if key in transposed else value.clone()
    return out


def init_weights(module: nn.Module, *, std: float = 0.02) -> nn.Module:
    """N(0, std) convolution weights and zero biases, as the paper (uses torch's global RNG)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
    return module


def build_models(config: CycleGANConfig) -> dict[str, nn.Module]:
    """The four networks, initialised: G_AB, G_BA (generators), D_A, D_B (discriminators)."""
    return {
        "G_AB": init_weights(Generator(config)),
        "G_BA": init_weights(Generator(config)),
        "D_A": init_weights(Discriminator(config)),
        "D_B": init_weights(Discriminator(config)),
    }


# ----------------------------------------------------------------------------- losses


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's least-squares loss: 0.5 * (mean (D(real) - 1)^2 + mean D(fake)^2)."""
    return 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """G's least-squares loss: mean (D(G(x)) - 1)^2."""
    return (d_fake - 1).pow(2).mean()


def cycle_loss(reconstructed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 distance in the paper's [-1, 1] units (images here are [0, 1], so 2 * mean |a - b|).

    Used for the cycle terms |F(G(a)) - a| and |G(F(b)) - b| and the identity terms |G(b) - b|,
    |F(a) - a|; in [-1, 1] units the paper's weights (10, 5) keep their meaning.
    """
    return 2 * (reconstructed - real).abs().mean()


# ----------------------------------------------------------------------------- history pool


class HistoryPool:
    """The paper's buffer of 50 past translations that D is also shown (Shrivastava et al. 2017).

    ``query(images)``: per image, while the pool holds fewer than ``size`` images the image is
    stored and returned; afterwards, with probability 1/2 a random stored image is returned
    and replaced by the new one, otherwise the new image is returned. Images are stored
    detached. The RNG is its own CPU generator, saved by :meth:`state_dict` with the images.
    """

    def __init__(self, size: int = 50, *, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []  # each [3, H, W]
        self._rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        # [N, 3, H, W] -> [N, 3, H, W], detached
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self._rng).item() < 0.5:
                k = int(torch.randint(self.size, (), generator=self._rng))
                out.append(self.images[k])
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": list(self.images), "rng": self._rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.images = [t.clone() for t in state["images"]]
        self._rng.set_state(state["rng"])


# ----------------------------------------------------------------------------- learning rate


def learning_rate(step: int, *, lr: float, steps: int, decay_start: int) -> float:
    """Adam's rate for 0-based ``step``: ``lr`` before ``decay_start``, then linear to 0 at ``steps``.

    The paper: 2e-4 for 100 epochs, then linearly to 0 over the next 100.
    """
    if not 0 <= decay_start <= steps:
        raise ValueError(f"decay_start must be in [0, steps={steps}], got {decay_start}")
    if step < decay_start:
        return lr
    if step >= steps:
        return 0.0
    return lr * (steps - step) / (steps - decay_start)


def load_generator(
    name: str = "cyclegan-vangogh",
    *,
    path: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Generator, CycleGANConfig]:
    """A shipped A -> B generator (resolved by hub.py), frozen and in eval mode."""
    from . import hub

    return hub.load_frozen(name, Generator, CycleGANConfig, path=path, device=device, dtype=dtype)
