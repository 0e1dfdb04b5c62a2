"""Frozen VGG19 feature extractor (Simonyan & Zisserman 2015) for perceptual losses.

Input is the library's convention, RGB in [0, 1], shape [N, 3, H, W]; the module applies
the input convention of the weights it was built for (Caffe: BGR, 0-255, mean-subtracted;
torchvision: RGB, ImageNet mean/std). Layers are named as in the Gatys paper:
``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``.

Note on names: the Keras layer ``block5_conv2`` that the Gatys article's code uses includes its ReLU, and
Caffe's in-place ReLU makes the paper's ``conv5_2`` post-activation too; both are our
``relu5_2``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from . import hub

_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block
_WIDTHS = (64, 128, 256, 512, 512)


def _layer_names() -> list[str]:
    names = []
    for block, count in enumerate(_BLOCKS, start=1):
        for i in range(1, count + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())  # index == torchvision features.N
LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}


def _check_layers(layers: Sequence[str]) -> None:
    unknown = [name for name in layers if name not in LAYER_INDEX]
    if unknown:
        raise ValueError(f"Unknown VGG19 layers {unknown}; valid names: {', '.join(LAYER_NAMES)}")


def min_input_side(layers: Sequence[str]) -> int:
    """The smallest image side (px) from which VGG19 reaches all of ``layers``.

    Each 2x2 pooling floors the side, and one with a side under 2 px leaves an empty map (a
    torch error), so the input needs 2 ** (poolings up to the deepest layer): 16 px for
    relu5_x, after pool1-pool4; 32 px for pool5. Checked against the network itself in
    tests/test_vgg.py.
    """
    _check_layers(layers)
    last = max((LAYER_INDEX[name] for name in layers), default=-1)
    return 2 ** sum(name.startswith("pool") for name in LAYER_NAMES[: last + 1])


@dataclass(frozen=True)
class InputConvention:
    bgr: bool  # flip RGB -> BGR before the first convolution
    scale: float  # multiply [0, 1] pixels by this
    mean: tuple[float, float, float]  # in the network's channel order, after scaling
    std: tuple[float, float, float]


CONVENTIONS = {
    "caffe": InputConvention(bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
    "torchvision": InputConvention(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
}


class VGG19Features(nn.Module):
    """VGG19 convolutional trunk; ``forward(x, layers)`` returns ``{name: [N, C, h, w]}``.

    ``through``: the deepest layer the trunk holds (default: all of it). A trunk cut after
    relu4_1 has 3.5 M of the 20 M weights: enough for losses on relu1_1-relu4_1, and a file small
    enough to travel to a device machine beside the training data (bench/pack_vgg.py).
    """

    def __init__(self, *, convention: InputConvention, pooling: str = "max", through: str = LAYER_NAMES[-1]):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        _check_layers([through])
        layers: list[nn.Module] = []
        in_ch = 3
        for count, width in zip(_BLOCKS, _WIDTHS, strict=True):
            for _ in range(count):
                layers += [nn.Conv2d(in_ch, width, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_ch = width
            layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.through = through
        self.features = nn.Sequential(*layers[: LAYER_INDEX[through] + 1])  # keys features.N.* as torchvision
        self.convention = convention
        self.register_buffer(
            "mean", torch.tensor(convention.mean, dtype=torch.float64).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(convention.std, dtype=torch.float64).view(1, 3, 1, 1), persistent=False
        )

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        # [N, 3, H, W] RGB in [0, 1] -> the weights' own input convention
        x = image * self.convention.scale
        if self.convention.bgr:
            x = x.flip(1)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(
        self, image: torch.Tensor, layers: Sequence[str], *, autocast: torch.dtype | None = None
    ) -> dict[str, torch.Tensor]:
        """``{name: [N, C, h, w]}`` for ``layers``; ``autocast`` (precision.py, e.g. ``torch.bfloat16``):
        every layer after conv1_1 runs under torch.autocast on channels_last activations, and the
        features come back in ``image``'s dtype. conv1_1 stays in ``image``'s dtype: in bfloat16 the
        Caffe input (0-255, mean-subtracted) would be rounded to about one grey level, which biased
        Gatys' optimisation measurably (2 % higher loss after 50 steps), and its 3 input channels
        make it cheap."""
        _check_layers(layers)
        wanted = set(layers)
        last = max(LAYER_INDEX[name] for name in layers)
        if last >= len(self.features):
            deeper = [name for name in layers if LAYER_INDEX[name] >= len(self.features)]
            raise ValueError(f"This VGG19 holds the trunk through {self.through} only; {deeper} need the whole "
                             "network (load the full weights)")  # fmt: skip
        x = self.preprocess(image)
        out = {}
        with contextlib.ExitStack() as stack:
            for index in range(last + 1):
                if index == 1 and autocast is not None:  # after conv1_1
                    stack.enter_context(torch.autocast(image.device.type, dtype=autocast))
                    x = x.contiguous(memory_format=torch.channels_last)
                x = self.features[index](x)
                if LAYER_NAMES[index] in wanted:
                    out[LAYER_NAMES[index]] = x
        return {name: f.to(image.dtype) for name, f in out.items()} if autocast is not None else out


def build_vgg19(
    resolved: hub.ResolvedWeights,
    *,
    pooling: str = "max",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> VGG19Features:
    """A frozen, eval-mode VGG19 from resolved weights (strict load). A file that holds the first
    convolutions only (bench/pack_vgg.py) gives the trunk through the ReLU after its last one."""
    name = resolved.config.get("input_convention")
    if name not in CONVENTIONS:
        raise ValueError(f"{resolved.path}: config input_convention must be one of {list(CONVENTIONS)}, got {name!r}")
    # The random init that the weights overwrite must not advance the global RNG: a trainer's
    # later random inits would otherwise depend on whether VGG19 was already cached in the process.
    with torch.random.fork_rng(devices=[]):
        model = VGG19Features(convention=CONVENTIONS[name], pooling=pooling, through=_deepest_relu(resolved))
    hub.load_model_weights(model, resolved)
    return model.requires_grad_(False).eval().to(device=device, dtype=dtype)


def _deepest_relu(resolved: hub.ResolvedWeights) -> str:
    # the ReLU after the deepest convolution in the file (strict loading then refuses any gap)
    from safetensors import safe_open

    with safe_open(str(resolved.path), framework="pt", device="cpu") as f:
        indices = [int(k.split(".")[1]) for k in f.keys() if k.startswith("features.") and k.endswith(".weight")]
    if not indices:
        raise ValueError(f"{resolved.path} holds no VGG19 convolution weights (features.N.weight)")
    deepest = LAYER_NAMES[max(indices) + 1]
    return LAYER_NAMES[-1] if deepest == "relu5_4" else deepest  # all convolutions: the whole trunk, pool5 too


WEIGHT_SOURCES = {"caffe": "vgg19-caffe"}  # torchvision's retraining: a local file (path=...) only, see hub.py


@functools.lru_cache(maxsize=4)
def _cached_vgg19(weights: str, path: str | None, pooling: str, device: str, dtype: torch.dtype) -> VGG19Features:
    resolved = hub.resolve(WEIGHT_SOURCES[weights], path=path)
    return build_vgg19(resolved, pooling=pooling, device=device, dtype=dtype)


def load_vgg19(
    weights: str = "caffe",
    *,
    path: str | None = None,
    pooling: str = "max",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> VGG19Features:
    """The shared, frozen VGG19 for ``weights`` ('caffe'; or any file at ``path``), cached per process.

    The returned module is never mutated by the library, so threads may share it.
    """
    if weights not in WEIGHT_SOURCES:
        raise ValueError(f"weights must be one of {list(WEIGHT_SOURCES)}, got {weights!r}")
    return _cached_vgg19(weights, None if path is None else str(path), pooling, str(torch.device(device)), dtype)
