"""Siamese GAN training: a few real steps on tiny real crops, resume, shipped weights, CLI."""

import csv
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from stylegan_lib.siamese import SiameseConfig, load_generator
from stylegan_lib.siamese_train import SiameseTrainConfig, train_siamese

TINY = SiameseConfig(tile=16, lenvec=8, ngf=4, n_blocks=1, ndf=4)
REPO = Path(__file__).resolve().parents[1]


def config(domains, out, **kw):
    a, b = domains
    base = SiameseTrainConfig(domain_a=[str(a)], domain_b=[str(b)], out=str(out), steps=6, batch=2, log_every=1,
                              sample_every=3, checkpoint_every=100, model=TINY)  # fmt: skip
    return replace(base, **kw)


def test_training_logs_losses_and_ships_the_generator(domains, tmp_path):
    seen = []
    weights = train_siamese(config(domains, tmp_path / "run"), callback=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(rows) == 6 and all(np.isfinite(float(r[k])) for r in rows for k in r)
    assert all(0.0 <= float(r["loss_d3"]) <= 2.0 for r in rows)  # 1 - cos lies in [0, 2]
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
    assert set(load_file(str(weights))) == {k for k in load_generator(path=weights)[0].state_dict()}
    G, loaded = load_generator(path=tmp_path / "run")
    assert loaded == TINY and not any(p.requires_grad for p in G.parameters())


def test_resume_continues_exactly(domains, tmp_path):
    straight = train_siamese(config(domains, tmp_path / "straight"))
    train_siamese(config(domains, tmp_path / "resumed", steps=3))
    resumed = train_siamese(config(domains, tmp_path / "resumed", steps=6))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader(open(tmp_path / "resumed" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_another_model(domains, tmp_path):
    train_siamese(config(domains, tmp_path / "run", steps=1))
    with pytest.raises(ValueError, match="another model config"):
        train_siamese(config(domains, tmp_path / "run", steps=2, model=replace(TINY, ngf=8)))


def test_naive_baseline_trains_on_single_tiles(domains, tmp_path):
    weights = train_siamese(config(domains, tmp_path / "naive", steps=2, combo=False, model=replace(TINY, tile=32)))
    assert weights.is_file()
    assert '"combo": false' in (tmp_path / "naive" / "config.json").read_text()


def test_cli_train_then_translate(domains, tmp_path):
    a, b = domains
    run = tmp_path / "cli-run"
    cmd = [sys.executable, "-m", "stylegan_lib", "train", "siamese", "--domain-a", str(a), "--domain-b", str(b),
           "--out", str(run), "--steps", "2", "--batch", "2", "--tile", "16", "--ngf", "4", "--n-blocks", "1",
           "--ndf", "4", "--lenvec", "8", "--device", "cpu", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    photo = tmp_path / "photo.jpg"
    Image.open(next(a.iterdir())).resize((100, 70)).save(photo)
    out = tmp_path / "painted.png"
    cmd = [sys.executable, "-m", "stylegan_lib", "translate", str(photo), "-o", str(out), "--weights", str(run),
           "--device", "cpu", "--overlap", "4", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (100, 70)
