"""config.json: model keys read strictly, training info apart (checkpointing.config_from_dict)."""

import json
from pathlib import Path

import pytest
import torch

from stylegan_lib import checkpointing
from stylegan_lib.adain import AdaINConfig
from stylegan_lib.checkpointing import FLAT_TRAINING_KEYS, save_model, training_info
from stylegan_lib.cyclegan import CycleGANConfig
from stylegan_lib.domain import DomainClassifierConfig
from stylegan_lib.magenta import MagentaConfig
from stylegan_lib.progan import DCGANConfig, ProGANConfig
from stylegan_lib.siamese import SiameseConfig

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
CONFIGS = {
    "siamese-gan": SiameseConfig,
    "cyclegan": CycleGANConfig,
    "adain-decoder": AdaINConfig,
    "magenta-arbitrary": MagentaConfig,
    "domain-classifier": DomainClassifierConfig,
    "progan": ProGANConfig,
    "dcgan": DCGANConfig,
}


@pytest.mark.parametrize("architecture, cls", CONFIGS.items())
def test_every_model_config_round_trips_and_is_strict(architecture, cls):
    config = cls()
    d = config.to_dict()
    assert d["architecture"] == architecture
    assert cls.from_dict(json.loads(json.dumps(d))) == config  # JSON lists come back as tuples where needed
    assert cls.from_dict({**d, "training": {"anything": 1}}) == config  # training info apart: not read
    assert cls.from_dict({**d, "trained_steps": 3, "train_seconds": 9}) == config  # the old flat layout
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['ngf_typo'\].*under 'training'"):
        cls.from_dict({**d, "ngf_typo": 3})
    other = next(a for a in CONFIGS if a != architecture)
    with pytest.raises(ValueError, match=f"not a {architecture} config: architecture '{other}'"):
        cls.from_dict({**d, "architecture": other})


def test_flat_training_keys_are_no_model_field():
    # a flat key that were also a model field would be read as the model's: keep the two apart
    fields = {f for cls in CONFIGS.values() for f in cls.__dataclass_fields__}
    assert not FLAT_TRAINING_KEYS & fields


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in CHECKPOINTS.glob("*/config.json")))
def test_shipped_config_files_read_strictly(folder):
    d = json.loads((CHECKPOINTS / folder / "config.json").read_text())
    config = CONFIGS[d["architecture"]].from_dict(d)
    written = json.loads(json.dumps(config.to_dict()))
    assert all(d[k] == v for k, v in written.items() if k in d)  # every model key read as in the file
    info = training_info(d)
    if d["architecture"] != "magenta-arbitrary":  # converted from TFLite, not trained here
        assert info and not set(info) & set(config.to_dict())


def test_save_model_keeps_training_apart(tmp_path):
    config = CycleGANConfig(ngf=4, n_blocks=1, ndf=8)
    module = torch.nn.Linear(2, 2)
    save_model(tmp_path, module, config.to_dict(), training={"trained_steps": 5, "crop": 32})
    d = json.loads((tmp_path / "config.json").read_text())
    assert d == {**config.to_dict(), "training": {"trained_steps": 5, "crop": 32}}
    assert CycleGANConfig.from_dict(d) == config and training_info(d) == {"trained_steps": 5, "crop": 32}
    flat = {**config.to_dict(), "trained_steps": 5, "crop": 32}  # as written before the split
    assert CycleGANConfig.from_dict(flat) == config and training_info(flat) == {"trained_steps": 5, "crop": 32}
    with pytest.raises(ValueError, match="training="):
        save_model(tmp_path, module, {**config.to_dict(), "training": {}})
    assert checkpointing.TRAINING == "training"
