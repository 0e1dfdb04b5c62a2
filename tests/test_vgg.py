"""The VGG19 extractor against an independent float64 conv chain on the real weights."""

import pytest
import torch
import torch.nn.functional as F

from stylegan_lib import hub
from stylegan_lib.vgg import CONVENTIONS, LAYER_NAMES, build_vgg19, min_input_side

CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
POOL_AFTER = {1, 3, 7, 11, 15}  # conv positions followed by pooling


def reference_features(state, image, *, pool):
    """relu{b}_{i} outputs by hand: Caffe preprocessing, 3x3 convs, ReLU, 2x2 pooling (float64)."""
    x = image.double().flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64).view(1, 3, 1, 1)
    out, block, conv = {}, 1, 1
    for position, index in enumerate(CONV_INDICES):
        x = F.conv2d(x, state[f"features.{index}.weight"].double(), state[f"features.{index}.bias"].double(), padding=1)
        x = x.clamp_min(0)
        out[f"relu{block}_{conv}"] = x
        conv += 1
        if position in POOL_AFTER:
            x = F.max_pool2d(x, 2) if pool == "max" else F.avg_pool2d(x, 2)
            block, conv = block + 1, 1
    return out


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_features_match_float64_reference(hub_cache, pool):
    resolved = hub.resolve("vgg19-caffe")
    model = build_vgg19(resolved, pooling=pool, dtype=torch.float64)
    state = hub.load_state_dict(resolved, dtype=torch.float64)
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    layers = ["relu1_1", "relu3_1", "relu5_2"]
    got = model(image, layers)
    expected = reference_features(state, image, pool=pool)
    assert list(got) == layers
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-9, atol=1e-9)
    assert got["relu5_2"].abs().max() > 1  # real weights give real activations


def test_torchvision_convention():
    conv = CONVENTIONS["torchvision"]
    from stylegan_lib.vgg import VGG19Features

    model = VGG19Features(convention=conv).double()
    x = torch.rand(1, 3, 2, 2, dtype=torch.float64)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(model.preprocess(x), (x - mean) / std)


def test_layer_names_and_errors(vgg):
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-1] == "pool5"
    out = vgg(torch.rand(1, 3, 32, 32), ["pool5", "conv1_1"])
    assert out["pool5"].shape == (1, 512, 1, 1) and out["conv1_1"].shape == (1, 64, 32, 32)
    with pytest.raises(ValueError, match="Unknown VGG19 layers"):
        vgg(torch.rand(1, 3, 8, 8), ["block5_conv2"])
    assert not any(p.requires_grad for p in vgg.parameters())


@pytest.mark.parametrize("layer, side", [("relu1_1", 1), ("relu4_1", 8), ("pool4", 16), ("relu5_2", 16), ("pool5", 32)])
def test_min_input_side_is_what_the_network_needs(vgg, layer, side):
    assert min_input_side([layer, "conv1_1"]) == side  # the deepest layer decides
    assert vgg(torch.rand(1, 3, side, 2 * side), [layer])[layer].numel() > 0
    if side > 1:
        with pytest.raises(RuntimeError, match="too small"):  # one pixel less: torch's own error
            vgg(torch.rand(1, 3, 2 * side, side - 1), [layer])
    with pytest.raises(ValueError, match="Unknown VGG19 layers"):
        min_input_side(["block5_conv2"])


def test_a_cut_trunk_matches_the_whole_and_refuses_deeper_layers(hub_cache, tmp_path):
    """bench/pack_vgg.py's file: the trunk through relu4_1, the same features, deeper ones refused."""
    import subprocess
    import sys
    from pathlib import Path

    resolved = hub.resolve("vgg19-caffe")
    whole = build_vgg19(resolved, dtype=torch.float64)
    assert whole.through == LAYER_NAMES[-1] == "pool5" and len(whole.features) == len(LAYER_NAMES)
    cut_file = tmp_path / "vgg19-relu4_1.safetensors"
    bench = Path(__file__).resolve().parents[1] / "bench" / "pack_vgg.py"
    subprocess.run([sys.executable, str(bench), str(resolved.path), str(cut_file)], check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    cut = build_vgg19(hub.resolve("vgg19-caffe", path=cut_file), dtype=torch.float64)
    assert cut.through == "relu4_1" and len(cut.features) == LAYER_NAMES.index("relu4_1") + 1
    assert sum(p.numel() for p in cut.parameters()) < 0.2 * sum(p.numel() for p in whole.parameters())
    image = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    layers = ["relu2_1", "relu3_1", "relu4_1"]
    got, expected = cut(image, layers), whole(image, layers)
    for name in layers:
        assert torch.equal(got[name], expected[name])
    with pytest.raises(ValueError, match="through relu4_1 only.*relu5_1"):
        cut(image, ["relu3_1", "relu5_1"])


def test_building_vgg19_leaves_the_global_rng_alone(hub_cache):
    # Its throwaway random init must not move torch's global RNG, or a trainer that builds VGG19
    # between seeding and its own inits would init differently when VGG19 is already cached.
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_vgg19(hub.resolve("vgg19-caffe"))
    assert torch.equal(torch.rand(3), expected)
