"""Progressive Growing of GANs (Karras et al. 2018, arXiv:1710.10196) and a DCGAN baseline (Radford et al. 2016).

ProGAN grows G and D together from 4x4: stage k works at resolution ``4 * 2**k``; the last stage
is ``log2(img_resolution) - 2``. When stage k is added its new layers fade in: with ``alpha < 1``
G outputs ``(1 - alpha) * upsample(toRGB_{k-1}(h_{k-1})) + alpha * toRGB_k(h_k)`` and D mirrors it
on the input side. Paper names -> code names: equalized learning rate -> ``EqualConv2d`` /
``EqualLinear``; pixelwise feature vector normalization -> ``pixel_norm``; minibatch standard
deviation -> ``minibatch_std``; toRGB / fromRGB -> ``G.to_rgb[k]`` / ``D.from_rgb[k]``.

Channels at resolution r: ``min(2 * fmap_base // r, fmap_max)`` (the paper's ``fmap_base /
2**(log2(r) - 1)``, capped), so the defaults give 256 channels up to 32x32, then 128 at 64x64.

The DCGAN baseline (Radford et al. 2016) has the same calling conventions, so one trainer drives both.

Tensors: z ``[N, z_dim]`` standard normal; G's output ``[N, 3, R, R]`` RGB, range [-1, 1] (ProGAN's
toRGB is linear as in the paper: trained towards [-1, 1], not clamped; DCGAN ends in tanh);
:func:`generate` returns ``[N, 3, R, R]`` in [0, 1], the library convention; D's output ``[N]`` logits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpointing import config_from_dict

LOSSES = ("wgan-gp", "ns")
PADDINGS = ("zeros", "reflect")


def _check_resolution(res: int) -> None:
    if isinstance(res, bool) or not isinstance(res, int) or res < 8 or res & (res - 1):
        raise ValueError(f"img_resolution must be a power of 2 >= 8, got {res!r}")


@dataclass
class ProGANConfig:
    """ProGAN hyperparameters; ``loss`` names the objective the trainer uses.

    ``loss="wgan-gp"`` is the default because it is what the paper trained every result with
    (WGAN-GP, lambda = 10, plus the drift term 0.001 * E[D(x)^2] that keeps D's output near 0), and
    the rest of its recipe (Adam lr 0.001, betas (0, 0.99), no batch norm, one D step per G step)
    was tuned for it. ``"ns"`` (non-saturating logistic loss) needs no double backward, so it is
    cheaper per step; StyleGAN later switched to it.
    """

    z_dim: int = 512  # the paper's latent size
    img_resolution: int = 64  # final R, a power of 2 >= 8 (the faces model uses 128: a config, not code)
    fmap_base: int = 4096  # channels at resolution r: min(2 * fmap_base // r, fmap_max)
    fmap_max: int = 256  # the paper uses 512 at 1024x1024
    mbstd_group: int = 4  # minibatch-std group size
    loss: str = "wgan-gp"  # "wgan-gp" or "ns"
    g_padding: str = "zeros"  # how G's 3x3 convs pad: "zeros" (the paper) or "reflect"

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.g_padding not in PADDINGS:
            raise ValueError(f"g_padding must be one of {PADDINGS}, got {self.g_padding!r}")
        if self.z_dim < 1 or self.mbstd_group < 1 or self.channels(self.img_resolution) < 1:
            raise ValueError(
                f"z_dim, mbstd_group and the channels at {self.img_resolution}x{self.img_resolution} must be >= 1"
            )

    @property
    def num_stages(self) -> int:
        return int(math.log2(self.img_resolution)) - 1  # stages 0 (4x4) ... num_stages - 1

    def channels(self, res: int) -> int:
        return min(2 * self.fmap_base // res, self.fmap_max)

    def to_dict(self) -> dict:
        return {"architecture": "progan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> ProGANConfig:
        """Inverse of to_dict, strict (training info aside: checkpointing.config_from_dict)."""
        return config_from_dict(cls, d, architecture="progan")


# ----------------------------------------------------------------------------- building blocks


class EqualConv2d(nn.Module):
    """Conv2d with weights ~ N(0, 1) scaled at run time by He's constant gain / sqrt(fan_in).

    "Same" padding of ``kernel // 2``: zeros, or (``padding_mode="reflect"``) the image mirrored at
    its border, which leaves the output's border no constant to detect.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, *, gain: float = math.sqrt(2), padding_mode: str = "zeros"
    ):
        super().__init__()
        if padding_mode not in PADDINGS:
            raise ValueError(f"padding_mode must be one of {PADDINGS}, got {padding_mode!r}")
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding, self.padding_mode = kernel // 2, padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding and self.padding_mode != "zeros":
            x = F.pad(x, (self.padding,) * 4, mode=self.padding_mode)
            return F.conv2d(x, self.weight * self.scale, self.bias)
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with weights ~ N(0, 1) scaled at run time by gain / sqrt(fan_in)."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, *, eps: float = 1e-8) -> torch.Tensor:
    """Normalise the feature vector at each position to unit RMS: [N, C, ...] -> same shape."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def minibatch_std(x: torch.Tensor, *, group_size: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C + 1, H, W]: append the std over a group of samples, averaged to one value.

    Sample i belongs to group ``i % (N // G)`` with ``G = min(group_size, N)``. When G does not
    divide N the whole batch forms one group (the paper's original, ungrouped statistic).
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        g = n
    y = x.reshape(g, n // g, c, h, w)  # [G, M, C, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [M, C, H, W] std over the group
    y = y.mean(dim=(1, 2, 3)).repeat(g)  # [N]: sample i gets its group's value
    return torch.cat([x, y.reshape(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


def _stage(config: ProGANConfig, stage: int | None, alpha: float) -> int:
    k = config.num_stages - 1 if stage is None else stage
    if not 0 <= k < config.num_stages:
        raise ValueError(f"stage must be in 0..{config.num_stages - 1} (resolution 4 * 2**stage), got {stage}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if k == 0 and alpha < 1:
        raise ValueError("stage 0 (4x4) has no previous stage to fade in from: use alpha=1")
    return k


# ----------------------------------------------------------------------------- ProGAN G and D


class _GBlock(nn.Module):
    """Upsample x2 (nearest) -> conv3x3 -> lrelu -> PN -> conv3x3 -> lrelu -> PN."""

    def __init__(self, in_ch: int, out_ch: int, *, padding_mode: str):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, out_ch, 3, padding_mode=padding_mode)
        self.conv1 = EqualConv2d(out_ch, out_ch, 3, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return pixel_norm(lrelu(self.conv1(pixel_norm(lrelu(self.conv0(x))))))


class Generator(nn.Module):
    """z -> image. 4x4: dense (the paper's 4x4 conv on a 1x1 input) and a 3x3 conv; then one block per stage."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        self.config, self.z_dim, self.img_resolution = config, config.z_dim, config.img_resolution
        res = [4 * 2**k for k in range(config.num_stages)]
        c4 = config.channels(4)
        self.dense = EqualLinear(config.z_dim, c4 * 16)
        pad = config.g_padding
        self.conv4 = EqualConv2d(c4, c4, 3, padding_mode=pad)
        self.blocks = nn.ModuleList(
            _GBlock(config.channels(r // 2), config.channels(r), padding_mode=pad) for r in res[1:]
        )
        self.to_rgb = nn.ModuleList(EqualConv2d(config.channels(r), 3, 1, gain=1.0) for r in res)

    def forward(self, z: torch.Tensor, *, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        # [N, z_dim] -> [N, 3, R, R], R = 4 * 2**stage, range [-1, 1]
        k = _stage(self.config, stage, alpha)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        h = lrelu(self.dense(pixel_norm(z))).view(z.shape[0], -1, 4, 4)  # [N, C4, 4, 4]
        h = pixel_norm(lrelu(self.conv4(pixel_norm(h))))
        for block in self.blocks[: max(k - 1, 0)]:
            h = block(h)  # -> [N, C, R/2, R/2] at stage k - 1
        if k == 0:
            return self.to_rgb[0](h)
        prev, h = h, self.blocks[k - 1](h)  # [N, C', R, R]
        out = self.to_rgb[k](h)
        if alpha < 1:
            skip = F.interpolate(self.to_rgb[k - 1](prev), scale_factor=2, mode="nearest")
            out = torch.lerp(skip, out, alpha)
        return out


class _DBlock(nn.Module):
    """conv3x3 -> lrelu -> conv3x3 -> lrelu -> average pool x2."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)


class Discriminator(nn.Module):
    """image -> logit; the 4x4 head is minibatch std, conv3x3, dense, dense -> 1."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        self.config, self.img_resolution = config, config.img_resolution
        res = [4 * 2**k for k in range(config.num_stages)]
        c4 = config.channels(4)
        self.from_rgb = nn.ModuleList(EqualConv2d(3, config.channels(r), 1) for r in res)
        self.blocks = nn.ModuleList(_DBlock(config.channels(r), config.channels(r // 2)) for r in res[1:])
        self.conv4 = EqualConv2d(c4 + 1, c4, 3)
        self.dense = EqualLinear(c4 * 16, c4)
        self.out = EqualLinear(c4, 1, gain=1.0)

    def forward(self, x: torch.Tensor, *, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        # [N, 3, R, R] in [-1, 1], R = 4 * 2**stage -> [N]
        k = _stage(self.config, stage, alpha)
        r = 4 * 2**k
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, r, r):
            raise ValueError(f"stage {k} takes images [N, 3, {r}, {r}], got {list(x.shape)}")
        h = lrelu(self.from_rgb[k](x))
        if k > 0:
            h = self.blocks[k - 1](h)  # [N, C, R/2, R/2]
            if alpha < 1:
                skip = lrelu(self.from_rgb[k - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(skip, h, alpha)
            for block in reversed(self.blocks[: k - 1]):
                h = block(h)  # -> [N, C4, 4, 4]
        h = minibatch_std(h, group_size=self.config.mbstd_group)  # [N, C4 + 1, 4, 4]
        h = lrelu(self.conv4(h))
        return self.out(lrelu(self.dense(h.flatten(1)))).squeeze(1)


# ----------------------------------------------------------------------------- DCGAN baseline (Radford et al. 2016)


@dataclass
class DCGANConfig:
    z_dim: int = 100  # the source article's noise vector
    img_resolution: int = 32  # 32 or 64 (any power of 2 >= 8)
    g_width: int = 128  # G channels at 4x4 (the source article's 4x4x128), halved per upsampling
    d_width: int = 64  # D channels after its first strided conv, doubled per downsampling
    loss: str = "ns"  # the source article's non-saturating loss; "wgan-gp" also works (D has batch norm, though)

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.g_width >> (self.num_stages - 2) < 1 or self.d_width < 1 or self.z_dim < 1:
            raise ValueError(f"z_dim, d_width and g_width / 2**{self.num_stages - 2} must be >= 1")

    @property
    def num_stages(self) -> int:  # ProGAN numbering: only the last stage exists
        return int(math.log2(self.img_resolution)) - 1

    def to_dict(self) -> dict:
        return {"architecture": "dcgan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> DCGANConfig:
        return config_from_dict(cls, d, architecture="dcgan")


def _dcgan_checks(config: DCGANConfig, stage: int | None, alpha: float) -> None:
    if stage not in (None, config.num_stages - 1) or alpha != 1:
        raise ValueError(f"DCGAN has no progressive stages: use stage=None (or {config.num_stages - 1}) and alpha=1")


def _dcgan_init(module: nn.Module) -> None:
    for m in module.modules():  # the DCGAN paper's N(0, 0.02) initialisation
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """dense -> 4x4xC -> (transposed conv 4x4 stride 2, batch norm, ReLU)* -> transposed conv -> tanh."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config, self.z_dim, self.img_resolution = config, config.z_dim, config.img_resolution
        c = config.g_width
        self.dense = nn.Sequential(nn.Linear(config.z_dim, c * 16), nn.BatchNorm1d(c * 16), nn.ReLU(True))
        layers = []
        for _ in range(config.num_stages - 2):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        self.net = nn.Sequential(*layers, nn.ConvTranspose2d(c, 3, 4, 2, 1), nn.Tanh())
        _dcgan_init(self)

    def forward(self, z: torch.Tensor, *, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        # [N, z_dim] -> [N, 3, R, R] in [-1, 1]
        _dcgan_checks(self.config, stage, alpha)
        return self.net(self.dense(z).view(z.shape[0], self.config.g_width, 4, 4))


class DCGANDiscriminator(nn.Module):
    """(conv 4x4 stride 2, batch norm except the first, LeakyReLU 0.2)* down to 4x4 -> linear -> logit."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config, self.img_resolution = config, config.img_resolution
        c = config.d_width
        layers = [nn.Conv2d(3, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(config.num_stages - 2):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(c * 16, 1)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor, *, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        # [N, 3, R, R] in [-1, 1] -> [N]
        _dcgan_checks(self.config, stage, alpha)
        return self.out(self.net(x).flatten(1)).squeeze(1)


# ----------------------------------------------------------------------------- losses (pure functions)


def d_loss_ns(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), averaged: softplus(-real) + softplus(fake)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_ns(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss -log sigmoid(D(G(z))) = softplus(-fake), averaged."""
    return F.softplus(-fake_logits).mean()


def d_loss_wgan(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss E[D(G(z))] - E[D(x)]."""
    return fake_logits.mean() - real_logits.mean()


def g_loss_wgan(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def gradient_penalty(
    D, real: torch.Tensor, fake: torch.Tensor, *, stage: int | None, alpha: float, generator=None, eps=None
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(|grad_x D(x_hat)| - 1)^2] at x_hat = eps real + (1 - eps) fake.

    eps ~ U[0, 1] per sample (from ``generator`` when given), or the given ``eps`` [N, 1, 1, 1] (a
    process's rows of a global draw in multi-process training). The caller multiplies by lambda (10
    in the paper). The graph is kept (create_graph) so the penalty can be backpropagated into D.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator, dtype=real.dtype)
    eps = eps.to(device=real.device, dtype=real.dtype)
    x_hat = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_(True)  # [N, 3, R, R]
    (grad,) = torch.autograd.grad(D(x_hat, stage=stage, alpha=alpha).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def r1_penalty(D, real: torch.Tensor, *, stage: int | None, alpha: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[|grad_x D(x)|^2] at the real images x, D's logits taken in float32.

    The caller multiplies by gamma / 2. It pushes D towards zero gradient on the data, which keeps
    it from sharpening around the few thousand faces it has seen. The graph is kept (create_graph)
    so the penalty can be backpropagated into D.
    """
    x = real.detach().requires_grad_(True)  # [N, 3, R, R]
    (grad,) = torch.autograd.grad(D(x, stage=stage, alpha=alpha).float().sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(1).mean()


def drift_penalty(real_logits: torch.Tensor) -> torch.Tensor:
    """E[D(x)^2]; the paper adds 0.001 times this to D's loss so its output does not drift."""
    return real_logits.square().mean()


class PathLengthPenalty(nn.Module):
    """StyleGAN2's path-length regulariser (Karras et al. 2020, arXiv:1912.04958, sec. 3.2), on z.

    For latents z and a random image-space direction y ~ N(0, I) / sqrt(R * R), the length
    ``|J(z)^T y|`` (J = d G(z) / d z) is pulled towards ``mean``, an exponential moving average
    of the lengths seen (``decay`` per call). Its minimum is a J whose singular values are equal:
    a step in any latent direction changes the image by the same amount, which is what the latent
    tools need (the closest-latent search and interpolation fold when G ignores most of z). ``mean``
    is a buffer, so a checkpoint holds it and a resumed run continues exactly. Returns the mean
    squared deviation; the caller weights it.
    """

    def __init__(self, *, decay: float = 0.01):
        super().__init__()
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self.decay = decay
        self.register_buffer("mean", torch.zeros(()))

    def lengths(self, G, z: torch.Tensor, *, y: torch.Tensor, stage: int | None, alpha: float) -> torch.Tensor:
        """``|J(z)^T y|`` per latent, [N], with the graph kept for a backward into G."""
        z = z.detach().requires_grad_(True)  # [N, z_dim]
        images = G(z, stage=stage, alpha=alpha)  # [N, 3, r, r]
        wide = torch.promote_types(images.dtype, torch.float32)  # bfloat16 under autocast: sum in float32
        (grad,) = torch.autograd.grad((images.to(wide) * y.to(wide)).sum(), z, create_graph=True)
        return grad.norm(dim=1)  # z's dtype: float32, or float64 in a float64 check

    def forward(self, G, z: torch.Tensor, *, y: torch.Tensor, stage: int | None, alpha: float) -> torch.Tensor:
        lengths = self.lengths(G, z, y=y, stage=stage, alpha=alpha)
        with torch.no_grad():
            self.mean.lerp_(lengths.mean().to(self.mean), self.decay)
        return (lengths - self.mean).square().mean()

    @staticmethod
    def direction(images_shape: torch.Size, *, generator: torch.Generator) -> torch.Tensor:
        """y for images of ``images_shape`` ([N, 3, r, r]): N(0, I) / r, drawn on the CPU."""
        return torch.randn(images_shape, generator=generator) / images_shape[-1]


# ----------------------------------------------------------------------------- sampling and loading


def sample_latents(
    n: int, *, z_dim: int, seed: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """[n, z_dim] standard normal latents, the same for a given seed on every device (drawn on the CPU)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=gen, dtype=dtype).to(device)


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, *, stage: int | None = None) -> torch.Tensor:
    """[N, z_dim] -> [N, 3, R, R] in [0, 1] (clamped). G's train/eval mode is left to the caller."""
    return G(z, stage=stage).add(1).div(2).clamp(0, 1)


# The shipped face generators: hub.py name -> (config.json's architecture, the model's name, G, config)
FACE_MODELS: dict[str, tuple[str, str, type[nn.Module], type]] = {
    "progan-faces": ("progan", "ProGAN", Generator, ProGANConfig),
    "dcgan-faces": ("dcgan", "DCGAN", DCGANGenerator, DCGANConfig),
}


def load_generator(
    *,
    model: str = "progan-faces",
    path: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Generator | DCGANGenerator, ProGANConfig | DCGANConfig]:
    """A shipped face generator (G_ema, resolved by hub.py), frozen and in eval mode: ``model`` is
    a key of :data:`FACE_MODELS`; ``path`` (a folder or .safetensors) must hold that architecture."""
    from . import hub

    if model not in FACE_MODELS:
        raise ValueError(f"Unknown model {model!r}: choose one of {', '.join(FACE_MODELS)}.")
    architecture, title, build, config_type = FACE_MODELS[model]
    return hub.load_frozen(model, build, config_type, path=path, architecture=architecture,
                           kind=f"{title} generator", device=device, dtype=dtype)  # fmt: skip
