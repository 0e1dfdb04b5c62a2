"""A discriminator on frozen pretrained features, for GANs trained on few images.

Projected GAN (Sauer, Chitta, Müller and Geiger, NeurIPS 2021, arXiv:2111.01007) and
Vision-aided GAN (Kumari, Zhang, Shechtman and Zhu, CVPR 2022, arXiv:2112.09130): D looks at an
image through a frozen network pretrained on ImageNet, and only small heads on its features are
trained. The pretrained features already separate natural-image statistics, so the heads need
far fewer real images than a D trained from scratch, and G's gradient comes from features that
mean something from the first step on.

Here the backbone is the project's Caffe VGG19 (``vgg.py``). Images of any side are resized
(bilinear) to ``size`` px first, so that the same heads judge every stage of a progressive
generator. One head per layer in ``layers`` (Projected GAN's multi-scale discriminators): a 1x1
convolution to ``width`` channels, then 4x4 stride-2 convolutions down to 4x4, then a 1x1
convolution to one logit per position; every convolution is spectrally normalised (Miyato et al.
2018), as in Projected GAN's heads. The logits of all heads are concatenated, [N, K].

The backbone is held outside the module's parameters and state (``FeatureDiscriminator.backbone``
is not a submodule): it gets no gradient, no optimiser sees it, and ``state_dict()`` holds the
heads only, so a saved training state does not carry 80 MB of fixed ImageNet weights.

Loss: hinge (Lim & Ye 2017; Projected GAN's loss): D minimises ``relu(1 - D(x)) + relu(1 +
D(G(z)))``, G minimises ``-D(G(z))``. Once a logit is past its margin, D stops pushing it,
which bounds how far D can memorise a small training set.

Tensors: images ``[N, 3, r, r]`` in [-1, 1] (the trainer's range).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .vgg import VGG19Features, min_input_side

BACKBONES = ("vgg19",)


def parse_layers(layers: str) -> tuple[str, ...]:
    """``"relu2_1,relu3_1"`` -> ``("relu2_1", "relu3_1")``; unknown names raise ValueError."""
    names = tuple(filter(None, (name.strip() for name in layers.split(","))))
    if not names:
        raise ValueError("the feature discriminator needs at least one VGG19 layer, e.g. 'relu2_1,relu3_1,relu4_1'")
    min_input_side(names)  # checks the names
    return names


class _Head(nn.Module):
    """[N, C, s, s] features -> [N, P] logits, P = min(s, 4) ** 2."""

    def __init__(self, in_ch: int, side: int, *, width: int):
        super().__init__()
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(in_ch, width, 1)), nn.LeakyReLU(0.2)]
        while side > 4:
            layers += [spectral_norm(nn.Conv2d(width, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            side //= 2
        layers.append(spectral_norm(nn.Conv2d(width, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class FeatureDiscriminator(nn.Module):
    """Trainable heads on frozen VGG19 features; ``forward(images)`` -> logits ``[N, K]``."""

    def __init__(self, backbone: VGG19Features, *, layers: Sequence[str], size: int = 64, width: int = 64):
        super().__init__()
        self.layers = tuple(layers)
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.size = size
        if size < min_input_side(self.layers):
            raise ValueError(
                f"layers {list(self.layers)} need an input of >= {min_input_side(self.layers)} px, got {size}"
            )
        with torch.no_grad():  # the feature maps' (channels, side), from one blank image through the backbone
            probe = backbone(torch.zeros(1, 3, size, size, device=backbone.mean.device), self.layers)
        shapes = {name: (f.shape[1], f.shape[-1]) for name, f in probe.items()}
        self.heads = nn.ModuleDict({name: _Head(c, s, width=width) for name, (c, s) in shapes.items()})
        # Caffe-convention VGG19 activations are in the hundreds; each layer is divided by its RMS over
        # real images (:meth:`calibrate`, once at the start of a run; saved with the heads) so that the
        # heads see features of order 1 whatever the layer
        self.register_buffer("scales", torch.ones(len(self.layers)))
        # a plain list, not a submodule: no parameters, no state_dict entries, no .to() from the trainer
        self._backbone = [backbone.requires_grad_(False).eval()]

    @property
    def backbone(self) -> VGG19Features:
        return self._backbone[0]

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The frozen backbone's features of ``images`` [N, 3, r, r] in [-1, 1], resized to ``size`` px."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got {list(images.shape)}")
        x = images.add(1).div(2)  # [N, 3, r, r] in [0, 1], the backbone's convention
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.backbone(x, self.layers)

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor) -> None:
        """Set ``scales`` to each layer's RMS activation over ``images`` [N, 3, r, r] in [-1, 1] (real ones)."""
        features = self.features(images)
        rms = [features[name].float().square().mean().sqrt() for name in self.layers]
        self.scales.copy_(torch.stack(rms).clamp_min(1e-6))

    def judge(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``[N, K]`` of the heads on precomputed features (those of :meth:`features`)."""
        scaled = (features[name] / self.scales[i].to(features[name].dtype) for i, name in enumerate(self.layers))
        return torch.cat([self.heads[name](f) for name, f in zip(self.layers, scaled, strict=True)], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.judge(self.features(images))


def d_loss_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], each averaged over every logit."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_loss_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.mean()
