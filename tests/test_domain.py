"""domain.py: the photo-vs-painting classifier, painting_share, structure_preservation, weights."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from stylegan_lib import hub
from stylegan_lib.data import CropConfig, CropSampler, list_images
from stylegan_lib.domain import (
    DomainClassifier,
    DomainClassifierConfig,
    load_domain_classifier,
    painting_share,
    save_domain_classifier,
    structure_preservation,
    tile_logits,
)
from stylegan_lib.domain_train import train_domain_classifier
from stylegan_lib.images import open_image, pil_to_tensor

TINY = DomainClassifierConfig(tile=16, width=4, depth=2)
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "domain-classifier"


class Brightness(nn.Module):
    """Stub classifier: a tile is a 'painting' when its mean is above 0.5."""

    def forward(self, x):
        return x.mean(dim=(1, 2, 3)) - 0.5  # [N]


def structured_image(h=48, w=64, seed=0):
    """[1, 3, h, w] in [0.2, 0.8]: rectangles and a gradient, so it has clear edges."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.2, 0.5, w).expand(3, h, w).clone()
    for _ in range(6):
        y0, x0 = (int(v) for v in torch.randint(0, min(h, w) - 12, (2,), generator=g))
        x[:, y0 : y0 + 12, x0 : x0 + 16] = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
    return x.unsqueeze(0)


# ----------------------------------------------------------------------------- the module


def test_classifier_output_shapes_and_size():
    model = DomainClassifier(TINY)
    assert model(torch.rand(5, 3, 16, 16)).shape == (5,)
    assert model(torch.rand(2, 3, 40, 72)).shape == (2,)  # fully convolutional
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        model(torch.rand(3, 16, 16))
    default = DomainClassifier()
    assert default(torch.rand(3, 3, 64, 64)).shape == (3,)
    assert 4 * sum(p.numel() for p in default.parameters()) < 1_000_000  # < 1 MB of float32 weights


# ----------------------------------------------------------------------------- painting_share


def test_painting_share_counts_non_overlapping_tiles_exactly():
    img = torch.zeros(1, 3, 32, 48)  # 2 x 3 tiles of 16
    img[..., 0:16, 16:32] = 1.0  # tile (0, 1)
    img[..., 16:32, 32:48] = 0.9  # tile (1, 2)
    assert painting_share(Brightness(), img, tile=16) == pytest.approx(2 / 6)
    assert len(tile_logits(Brightness(), img, tile=16)) == 6
    assert painting_share(Brightness(), img, tile=32) == 0.0  # 1 tile (the 32 x 32 centre): mean 0.25


def test_painting_share_over_a_list_of_sizes_ignores_the_margins():
    bright = torch.ones(3, 16, 16)  # a [3, H, W] image: 1 painting tile
    framed = torch.ones(1, 3, 35, 20)  # 2 x 1 tiles, grid centred at top 1, left 2; margins bright
    framed[..., 1:33, 2:18] = 0.0
    batch = torch.zeros(2, 3, 16, 33)  # 2 images x 2 tiles, all dark
    images = [bright, framed, batch]
    assert len(tile_logits(Brightness(), images, tile=16)) == 1 + 2 + 4
    assert painting_share(Brightness(), images, tile=16) == pytest.approx(1 / 7)


def test_painting_share_with_a_fixed_sign_stub_and_chunking():
    always = lambda sign: type("Fixed", (nn.Module,), {"forward": lambda self, x: torch.full((len(x),), sign)})()  # noqa: E731
    images = torch.rand(3, 3, 64, 80)
    assert painting_share(always(1.0), images, tile=16) == 1.0
    assert painting_share(always(-1.0), images, tile=16) == 0.0
    assert painting_share(always(0.0), images, tile=16) == 0.0  # logit > 0 is a painting; 0 is not
    assert len(tile_logits(always(1.0), images, tile=16, batch=7)) == 3 * 4 * 5


def test_painting_share_rejects_bad_inputs():
    with pytest.raises(ValueError, match="smaller than one"):
        painting_share(Brightness(), torch.rand(1, 3, 10, 40), tile=16)
    with pytest.raises(ValueError, match="No images"):
        painting_share(Brightness(), [], tile=16)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        painting_share(Brightness(), torch.rand(1, 1, 32, 32), tile=16)


# ----------------------------------------------------------------------------- structure_preservation


def numpy_structure_preservation(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference: (3, H, W) arrays, luma, valid-region Sobel magnitude, np.corrcoef."""

    def edges(x):
        y = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
        gx = (y[:-2, 2:] + 2 * y[1:-1, 2:] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[1:-1, :-2] + y[2:, :-2])
        gy = (y[2:, :-2] + 2 * y[2:, 1:-1] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[:-2, 1:-1] + y[:-2, 2:])
        return np.hypot(gx, gy).ravel()

    return float(np.corrcoef(edges(a.astype(np.float64)), edges(b.astype(np.float64)))[0, 1])


def test_structure_preservation_matches_numpy_reference():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 11, 9, generator=g), torch.rand(3, 11, 9, generator=g)
    b = 0.5 * a + 0.5 * b  # partly related
    got = structure_preservation(a, b)
    assert got == pytest.approx(numpy_structure_preservation(a.numpy(), b.numpy()), abs=1e-10)
    assert 0.2 < got < 0.95


def test_structure_preservation_reference_cases():
    x = structured_image()
    assert structure_preservation(x, x) == pytest.approx(1.0, abs=1e-12)
    assert structure_preservation(x, (x + 0.15).clamp(0, 1)) > 0.9  # brightness shift
    assert structure_preservation(x, x[0]) == pytest.approx(1.0, abs=1e-12)  # [3, H, W] accepted
    noise = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    assert abs(structure_preservation(x, noise)) < 0.3
    big = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")
    assert structure_preservation(x, big) > 0.9  # the result is resized to the source's size


def test_structure_preservation_rejects_flat_and_batched_images():
    with pytest.raises(ValueError, match="flat"):
        structure_preservation(torch.full((1, 3, 16, 16), 0.5), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="one image"):
        structure_preservation(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))


# ----------------------------------------------------------------------------- training


def _write_set(folder: Path, *, painting: bool, n: int = 4) -> Path:
    """Synthetic 'photos' (smooth dark gradients) and 'paintings' (bright noisy strokes)."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(int(painting))
    for i in range(n):
        if painting:
            a = rng.integers(128, 256, (40, 40, 3))
        else:
            a = np.broadcast_to(np.linspace(0, 100, 40)[None, :, None] + 10 * i, (40, 40, 3))
        Image.fromarray(np.ascontiguousarray(a).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_training_separates_an_easy_synthetic_task(tmp_path):
    torch.set_num_threads(1)
    photos = CropSampler(list_images(_write_set(tmp_path / "p", painting=False)), CropConfig(crop=32))
    paintings = CropSampler(list_images(_write_set(tmp_path / "v", painting=True)), CropConfig(crop=32, seed=1))
    seen = []
    model = train_domain_classifier(
        photos, paintings, steps=60, batch=8, lr=1e-2, config=TINY, callback=lambda p: seen.append(p)
    )
    assert [p.step for p in seen] == list(range(1, 61)) and seen[-1].steps == 60
    assert isinstance(model, DomainClassifier) and not model.training
    assert painting_share(model, paintings.sample(8), tile=16) == 1.0
    assert painting_share(model, photos.sample(8), tile=16) == 0.0
    # the callback can stop the run
    stopped = []
    train_domain_classifier(
        photos, paintings, steps=50, batch=2, config=TINY, callback=lambda p: stopped.append(p) or p.step == 3
    )
    assert len(stopped) == 3
    with pytest.raises(ValueError, match="less than the tile"):
        train_domain_classifier(photos, paintings, steps=1, config=DomainClassifierConfig(tile=64, width=4))


# ----------------------------------------------------------------------------- weights


def test_save_and_load_round_trip(tmp_path):
    model = DomainClassifier(TINY)
    save_domain_classifier(model, tmp_path / "dc", training={"steps": 1})
    config = json.loads((tmp_path / "dc" / "config.json").read_text())
    assert config["architecture"] == "domain-classifier" and config["width"] == 4 and config["depth"] == 2
    loaded = load_domain_classifier(path=tmp_path / "dc")
    assert loaded.config == TINY and not loaded.training
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(loaded(x), model(x))


def test_load_is_strict_and_checks_the_architecture(tmp_path):
    save_domain_classifier(DomainClassifier(TINY), tmp_path / "dc")
    state = load_file(tmp_path / "dc" / "model.safetensors")
    state.pop("head.bias")
    save_file(state, tmp_path / "dc" / "model.safetensors")
    with pytest.raises(ValueError, match="does not fit"):
        load_domain_classifier(path=tmp_path / "dc")
    (tmp_path / "dc" / "config.json").write_text(json.dumps({"architecture": "siamese-gan"}))
    with pytest.raises(ValueError, match="architecture"):
        load_domain_classifier(path=tmp_path / "dc")


def test_shipped_classifier_tells_held_out_paintings_from_photos(shared_dir, monkeypatch):
    if not (SHIPPED / "model.safetensors").is_file():
        pytest.skip(f"no shipped classifier at {SHIPPED}")
    monkeypatch.setenv("STYLEGAN_LIB_CHECKPOINTS", str(SHIPPED.parent))
    assert hub.resolve("domain-classifier").source == "checkpoints"
    model = load_domain_classifier()
    assert (SHIPPED / "README.md").is_file()
    assert (SHIPPED / "model.safetensors").stat().st_size < 1_000_000

    vg = shared_dir / "data" / "vangogh2photo"
    if not (vg / "paintings_heldout").is_dir():
        pytest.skip("vangogh2photo held-out folders not found")
    load = lambda folder: [pil_to_tensor(open_image(p)) for p in list_images(vg / folder)[:10]]  # noqa: E731
    assert painting_share(model, load("paintings_heldout")) > 0.5
    assert painting_share(model, load("photos_heldout")) < 0.5
