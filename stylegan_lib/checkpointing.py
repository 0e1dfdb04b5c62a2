"""Saving and resuming training runs, safetensors only (no pickles).

A run folder holds what ships (``model.safetensors`` + ``config.json``) and what resumes
(``train_state.safetensors`` for every tensor: weights, optimizer moments, RNG states;
``train_state.json`` for everything else: step, optimizer hyperparameters, logs). Nested
dicts and lists are flattened to dotted keys; tensors go to the safetensors file and the
rest to JSON, so the two together rebuild the original structure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .files import atomic_write

_TENSOR = "__tensor__"  # JSON placeholder for a tensor stored in the safetensors file


def _split(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _split(v, f"{key}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {
            "__list__": [_split(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)],
            "tuple": isinstance(obj, tuple),
        }
    return obj


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and _TENSOR in obj:
        return tensors[obj[_TENSOR]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _join(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, dict) and "__list__" in obj:
        items = [_join(v, tensors) for v in obj["__list__"]]
        return tuple(items) if obj["tuple"] else items
    return obj


def save_state(folder: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a nested state (module/optimizer state dicts, RNG states, counters) to ``folder``."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _split(state, "state", tensors)
    folder = Path(folder)
    atomic_write(folder / "train_state.safetensors", lambda p: save_file(tensors, p))
    atomic_write(folder / "train_state.json", lambda p: Path(p).write_text(json.dumps(structure)))


def load_state(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The state saved by :func:`save_state`, or None when ``folder`` holds none."""
    folder = Path(folder)
    if not (folder / "train_state.json").is_file():
        return None
    tensors = load_file(str(folder / "train_state.safetensors"))
    return _join(json.loads((folder / "train_state.json").read_text()), tensors)


def save_model(folder: str | os.PathLike, module: torch.nn.Module, config: dict) -> Path:
    """The shippable pair: ``model.safetensors`` (float32 state dict) and ``config.json``."""
    folder = Path(folder)
    state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
    atomic_write(folder / "model.safetensors", lambda p: save_file(state, p))
    atomic_write(folder / "config.json", lambda p: Path(p).write_text(json.dumps(config, indent=2) + "\n"))
    return folder / "model.safetensors"
