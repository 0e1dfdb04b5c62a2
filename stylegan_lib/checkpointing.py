"""Saving and resuming training runs, safetensors only (no pickles); the ``config.json`` format.

A run folder holds what ships (``model.safetensors`` + ``config.json``) and what resumes
(``train_state.safetensors`` for every tensor: weights, optimizer moments, RNG states;
``train_state.json`` for everything else: step, optimizer hyperparameters, logs). Nested
dicts and lists are flattened to dotted keys; tensors go to the safetensors file and the
rest to JSON, so the two together rebuild the original structure.

``config.json`` is ``{"architecture": ..., <the model config's fields>, "training": {...}}``:
the model keys rebuild the network (:func:`config_from_dict`, strict), and what the run says of
itself (steps, seconds, data, recipe) sits apart under ``"training"`` (:func:`training_info`).
Files written before that split carry their training info flat beside the model keys; the
reader knows those keys by name (:data:`FLAT_TRAINING_KEYS`) and refuses any other.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

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


def save_model(
    folder: str | os.PathLike, module: torch.nn.Module, config: dict, *, training: dict | None = None
) -> Path:
    """The shippable pair: ``model.safetensors`` (float32 state dict) and ``config.json``: the model
    config's dict (``to_dict()``) and, under ``"training"``, what the run says of itself."""
    if TRAINING in config:
        raise ValueError(f"the model config holds a {TRAINING!r} key: pass training info as training=")
    folder = Path(folder)
    state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
    text = json.dumps({**config, **({TRAINING: training} if training is not None else {})}, indent=2) + "\n"
    atomic_write(folder / "model.safetensors", lambda p: save_file(state, p))
    atomic_write(folder / "config.json", lambda p: Path(p).write_text(text))
    return folder / "model.safetensors"


# ----------------------------------------------------------------------------- config.json: model keys, training info

TRAINING = "training"  # config.json's key for the training info

# What the trainers wrote flat beside the model keys before the training info moved under
# "training" (the shipped checkpoints, runs on disk, the Hub's published config.json files),
# and the run-recipe names a hand-written file used (kimg, lr). Named one by one so that any
# other key not a model field is an error, not silently dropped.
FLAT_TRAINING_KEYS = frozenset({
    "trained_steps", "train_steps", "train_seconds", "images_shown", "final_stage", "final_alpha", "complete",
    "train_data", "crop_box", "crop", "direction", "combo", "ema_beta", "ema_rampup", "augment", "r1_gamma",
    "d_backbone", "d_layers", "d_pixel", "content_weight", "warm_start", "source", "batch", "device", "kimg", "lr",
})  # fmt: skip

Config = TypeVar("Config")


def config_from_dict(cls: type[Config], d: Mapping[str, Any], *, architecture: str) -> Config:
    """The model config dataclass ``cls`` from a ``config.json`` dict, strictly.

    ``d["architecture"]``, when present, must be ``architecture``; every field of ``cls`` present
    is taken (a missing one keeps its default: files older than the field); JSON lists become
    tuples where the field's default is a tuple. Training info is ignored under ``"training"``
    and, in a file of the old flat layout, by name (:data:`FLAT_TRAINING_KEYS`); any other key
    raises ValueError.
    """
    found = d.get("architecture", architecture)
    if found != architecture:
        raise ValueError(f"not a {architecture} config: architecture {found!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields) - {"architecture", TRAINING} - FLAT_TRAINING_KEYS)
    if unknown:
        raise ValueError(
            f"{architecture} config: unknown key(s) {unknown}; the model keys are {sorted(fields)}, "
            f"and training info belongs under {TRAINING!r}"
        )
    kw = {k: v for k, v in d.items() if k in fields}
    for k, v in kw.items():
        if isinstance(v, list) and isinstance(fields[k].default, tuple):
            kw[k] = tuple(v)
    return cls(**kw)


def training_info(d: Mapping[str, Any]) -> dict[str, Any]:
    """What a ``config.json`` dict says of its training: the ``"training"`` dict, or the
    :data:`FLAT_TRAINING_KEYS` of a file of the old flat layout ({} when it says nothing)."""
    if TRAINING in d:
        return dict(d[TRAINING])
    return {k: v for k, v in d.items() if k in FLAT_TRAINING_KEYS}
