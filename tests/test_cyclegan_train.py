"""CycleGAN training on tiny real crops: learning, exact resume, shipped weights, CLI, full-frame inference."""

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from stylegan_lib import checkpointing, translate
from stylegan_lib.cyclegan import CycleGANConfig, Generator, cycle_loss, load_generator, resize_weights_from_transpose
from stylegan_lib.cyclegan_train import CycleGANTrainConfig, train_cyclegan
from stylegan_lib.data import CropConfig, CropSampler, list_images
from stylegan_lib.domain import structure_preservation
from stylegan_lib.images import open_image, pil_to_tensor

TINY = CycleGANConfig(ngf=4, n_blocks=1, ndf=8)
REPO = Path(__file__).resolve().parents[1]


def config(domains, out, **kw):
    a, b = domains
    base = CycleGANTrainConfig(domain_a=[str(a)], domain_b=[str(b)], out=str(out), steps=6, batch=2, crop=32,
                               pool_size=3, log_every=1, sample_every=3, checkpoint_every=100, model=TINY)  # fmt: skip
    return replace(base, **kw)


def fixed_cycle_loss(run: Path, crops_a: torch.Tensor, crops_b: torch.Tensor) -> float:
    state = checkpointing.load_state(run)
    G_AB, G_BA = Generator(TINY), Generator(TINY)
    G_AB.load_state_dict(state["G_AB"])
    G_BA.load_state_dict(state["G_BA"])
    with torch.no_grad():
        return float(cycle_loss(G_BA(G_AB(crops_a)), crops_a) + cycle_loss(G_AB(G_BA(crops_b)), crops_b))


def test_a_few_steps_reduce_the_cycle_loss_and_ship_g_ab(domains, tmp_path):
    crops_a, crops_b = (CropSampler(list_images(d), CropConfig(crop=32, seed=99)).sample(8) for d in domains)
    run, seen = tmp_path / "run", []
    train_cyclegan(config(domains, run, steps=0))  # the initial networks
    before = fixed_cycle_loss(run, crops_a, crops_b)
    weights = train_cyclegan(config(domains, run, steps=40, lr=2e-3, identity_weight=0.0), callback=seen.append)
    after = fixed_cycle_loss(run, crops_a, crops_b)
    assert after < 0.85 * before, (before, after)  # about 0.95 -> 0.71 on the same 8 + 8 crops
    assert [p.step for p in seen] == list(range(1, 41))
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert len(rows) == 40 and all(np.isfinite(float(r[k])) for r in rows for k in r)
    assert {r["loss_idt_a"] for r in rows} == {"0.0"}  # identity off
    assert sorted(p.name for p in (run / "samples").iterdir())[:2] == ["step_000003.png", "step_000006.png"]
    with Image.open(run / "samples" / "step_000003.png") as grid:
        assert grid.size == (4 * 32, 5 * 32)  # four fixed crops; rows A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B)
    state = checkpointing.load_state(run)
    shipped = load_file(str(weights))
    assert set(shipped) == set(state["G_AB"]) and all(torch.equal(shipped[k], state["G_AB"][k]) for k in shipped)
    G, loaded = load_generator(path=run)
    assert loaded == TINY and not any(p.requires_grad for p in G.parameters())
    assert '"direction": "A->B"' in (run / "config.json").read_text()


def test_resume_is_exact(domains, tmp_path):
    kw = dict(steps=6, decay_start=2, identity_weight=5.0)  # the rate decays; the 3-image pools fill and swap
    straight = checkpointing.load_state(Path(train_cyclegan(config(domains, tmp_path / "straight", **kw))).parent)
    for _ in range(6):  # one step per call: time_limit_s=0 stops (with a checkpoint) after every step
        train_cyclegan(config(domains, tmp_path / "resumed", time_limit_s=0.0, **kw))
    resumed = checkpointing.load_state(tmp_path / "resumed")
    assert resumed["step"] == straight["step"] == 6
    for net in ("G_AB", "G_BA", "D_A", "D_B"):
        assert all(torch.equal(straight[net][k], resumed[net][k]) for k in straight[net]), net
    for pool in ("pool_a", "pool_b"):
        assert len(straight[pool]["images"]) == 3
        assert all(torch.equal(a, b) for a, b in zip(straight[pool]["images"], resumed[pool]["images"], strict=True))
    rows = list(csv.DictReader(open(tmp_path / "resumed" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["lr"] for r in rows] == ["0.0002", "0.0002", "0.0002", "0.00015", "0.0001", "5e-05"]  # rate of each step


def test_resume_refuses_another_model(domains, tmp_path):
    train_cyclegan(config(domains, tmp_path / "run", steps=1))
    with pytest.raises(ValueError, match="another model config"):
        train_cyclegan(config(domains, tmp_path / "run", steps=2, model=replace(TINY, ngf=8)))


def test_init_g_converts_a_transposed_generator_and_g_ema_ships(domains, tmp_path):
    teacher = Path(train_cyclegan(config(domains, tmp_path / "teacher", steps=2))).parent  # transposed u-k
    G_t, _ = load_generator(path=teacher)
    resize = replace(TINY, upsample="resize")
    run = tmp_path / "run"
    train_cyclegan(config(domains, run, steps=0, model=resize, init_g=str(teacher), ema_beta=0.9))
    start = checkpointing.load_state(run)
    expected = resize_weights_from_transpose(G_t)
    assert all(torch.equal(start["G_AB"][k], expected[k]) for k in expected)  # G_AB starts converted
    assert all(torch.equal(start["G_ema"][k], expected[k]) for k in expected)  # G_ema starts as G_AB
    kw = dict(steps=4, model=resize, init_g=str(teacher), ema_beta=0.9)
    weights = train_cyclegan(config(domains, run, **kw))
    state, shipped = checkpointing.load_state(run), load_file(str(weights))
    for k in shipped:  # G_ema = 0.9^4 of the start + the rest from the steps: between the start and G_AB
        assert torch.equal(shipped[k], state["G_ema"][k])
    moved = [k for k in shipped if not torch.equal(state["G_AB"][k], start["G_AB"][k])]
    assert moved and all(not torch.equal(shipped[k], state["G_AB"][k]) for k in moved)
    info = json.loads((run / "config.json").read_text())["training"]
    assert info["init"] == str(teacher) and info["ema_beta"] == 0.9 and info["trained_steps"] == 4
    for _ in range(4):  # exact resume, G_ema included
        train_cyclegan(config(domains, tmp_path / "resumed", time_limit_s=0.0, **kw))
    resumed = checkpointing.load_state(tmp_path / "resumed")
    for net in ("G_AB", "G_ema", "D_B"):
        assert all(torch.equal(state[net][k], resumed[net][k]) for k in state[net]), net
    with pytest.raises(ValueError, match="another model config"):  # a wider teacher does not fit
        train_cyclegan(config(domains, tmp_path / "wide", model=replace(resize, ngf=8), init_g=str(teacher)))
    with pytest.raises(ValueError, match="ema_beta"):
        train_cyclegan(config(domains, tmp_path / "bad", ema_beta=1.0))


def test_d_scale_shows_both_discriminators_every_crop_antialiased_at_that_size(domains, tmp_path, monkeypatch):
    from stylegan_lib import cyclegan_train, training

    seen = []

    def recording_view(x, *, size):
        seen.append((tuple(x.shape[-2:]), size))
        return training.discriminator_view(x, size=size)

    monkeypatch.setattr(cyclegan_train, "discriminator_view", recording_view)
    train_cyclegan(config(domains, tmp_path / "half", steps=2, crop=64, d_scale=0.5, bf16=True))  # bf16: G hands D bf16
    # per step: G's two adversarial terms, then each D on real and pooled crops
    assert seen == [((64, 64), 32)] * 12
    info = json.loads((tmp_path / "half" / "config.json").read_text())["training"]
    assert info["d_scale"] == 0.5
    seen.clear()
    train_cyclegan(config(domains, tmp_path / "full", steps=1, crop=64))
    assert seen == [((64, 64), 64)] * 6  # d_scale 1: the crops as they are
    assert "d_scale" not in json.loads((tmp_path / "full" / "config.json").read_text())["training"]
    with pytest.raises(ValueError, match="d_scale must be in"):
        train_cyclegan(config(domains, tmp_path / "bad", d_scale=0.0))
    with pytest.raises(ValueError, match="at least 32x32"):  # 32-px crops at half size: too small for the PatchGAN
        train_cyclegan(config(domains, tmp_path / "small", steps=1, d_scale=0.5))


def test_cli_trains_then_translates_with_method_cyclegan(domains, tmp_path):
    a, b = domains
    run = tmp_path / "cli-run"
    cmd = [sys.executable, "-m", "stylegan_lib", "train", "cyclegan", "--domain-a", str(a), "--domain-b", str(b),
           "--out", str(run), "--steps", "2", "--crop", "32", "--ngf", "4", "--n-blocks", "1", "--ndf", "8",
           "--device", "cpu", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {run / 'model.safetensors'}" in done.stdout
    assert '"trained_steps": 2' in (run / "config.json").read_text()
    photo = tmp_path / "photo.jpg"
    Image.open(next(a.iterdir())).resize((101, 70)).save(photo)
    for extra, name in (([], "whole.png"), (["--tile", "48", "--overlap", "8"], "tiled.png")):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "stylegan_lib", "translate", str(photo), "-o", str(out), "--method", "cyclegan",
               "--weights", str(run), "--device", "cpu", "-q", *extra]  # fmt: skip
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert Image.open(out).size == (101, 70)
    G, _ = load_generator(path=run)
    with torch.no_grad():
        x = torch.from_numpy(np.array(Image.open(photo).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        direct = G(x)[0].permute(1, 2, 0).mul(255).round().numpy()
    whole = np.asarray(Image.open(tmp_path / "whole.png"), dtype=np.float64)
    assert np.abs(whole - direct).max() <= 1  # the whole frame in one call (uint8 rounding only)


def test_translate_picks_whole_frame_or_feathered_tiles(domains, tmp_path):
    torch.manual_seed(0)
    G = load_generator(path=Path(train_cyclegan(config(domains, tmp_path / "run", steps=3))).parent)[0]
    photo = np.asarray(Image.open(next(domains[0].iterdir())).convert("RGB"))  # 256 x 256
    calls = []
    kw = dict(tile=96, overlap=16, callback=calls.append)
    whole = translate.translate_image(G, photo, whole_frame_pixels=256 * 256, **kw)
    assert [(p.done, p.total) for p in calls] == [(1, 1)]
    tiled = translate.translate_image(G, photo, whole_frame_pixels=0, **kw)
    assert calls[-1].total == 9 and whole.shape == tiled.shape == photo.shape
    # instance norm sees each tile's own statistics: close to the whole frame, not identical
    assert 0 < np.abs(whole.astype(int) - tiled.astype(int)).mean() < 12
    assert translate.default_overlap("siamese", 32) == 0 and translate.default_overlap("cyclegan", 512) == 64
    assert translate.whole_frame_pixels("siamese", "cuda") == 0
    assert translate.whole_frame_pixels("cyclegan", "cuda") >= 3840 * 2160
    with pytest.raises(ValueError, match="unknown method"):
        translate.load_generator("cycle-gan")


def test_shipped_checkpoint_paints_a_held_out_photo(shared_dir):
    weights = REPO / "checkpoints" / "cyclegan-vangogh" / "model.safetensors"
    assert weights.stat().st_size <= 16 * 2**20
    G, tile = translate.load_translator("cyclegan")  # through hub.py: checkpoints/cyclegan-vangogh
    assert tile == translate.CYCLEGAN_TILE["cpu"] and sum(p.numel() for p in G.parameters()) == 1_965_059
    photo = open_image(sorted((shared_dir / "data" / "vangogh2photo" / "photos_heldout").glob("*.jpg"))[0])
    whole = translate.whole_frame_pixels("cyclegan", "cpu")
    painted = translate.translate_image(G, photo, tile=tile, whole_frame_pixels=whole)
    assert painted.shape == (photo.height, photo.width, 3)
    assert np.abs(painted.astype(int) - np.asarray(photo, dtype=int)).mean() > 10  # it paints
    edges = structure_preservation(pil_to_tensor(photo), torch.from_numpy(painted).permute(2, 0, 1)[None] / 255)
    assert edges > 0.2  # and keeps the photo's edges (a random painting: about 0.03)
