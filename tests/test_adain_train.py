"""AdaIN decoder training: real steps on tiny real crops, exact resume, shipped weights, both CLIs."""

import csv
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from stylegan_lib.adain import AdaINConfig, load_decoder
from stylegan_lib.adain_train import AdaINTrainConfig, train_adain

TINY = AdaINConfig(width=8)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folders(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adain-data")
    sources = {
        "photos": shared_dir / "data" / "vangogh2photo" / "photos_train",
        "faces": shared_dir / "data" / "faces" / "train",
        "paintings": shared_dir / "data" / "vangogh2photo" / "paintings_train",
    }
    for name, folder in sources.items():
        (root / name).mkdir()
        for path in sorted(folder.glob("*.jpg"))[:4]:
            shutil.copy(path, root / name / path.name)
    return root


def config(folders, out, **kw):
    base = AdaINTrainConfig(content=[str(folders / "photos"), str(folders / "faces")],
                            style=[str(folders / "paintings")], out=str(out), steps=4, batch=2, crop=32,
                            lr=1e-3, log_every=1, sample_every=2, checkpoint_every=100, model=TINY)  # fmt: skip
    return replace(base, **kw)


def test_training_reduces_the_loss_and_ships_the_decoder(hub_cache, folders, tmp_path):
    seen = []
    weights = train_adain(config(folders, tmp_path / "run", steps=30, sample_every=15), callback=seen.append)
    assert [p.step for p in seen] == list(range(1, 31))
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    loss = np.array([float(r["loss"]) for r in rows])
    assert len(rows) == 30 and np.isfinite(loss).all()
    assert loss[-5:].mean() < 0.6 * loss[:5].mean()
    lr = [float(r["lr"]) for r in rows]  # lr / (1 + 5e-5 * step), step counted from 0
    assert lr[0] == pytest.approx(1e-3) and lr[-1] == pytest.approx(1e-3 / (1 + 5e-5 * 29), rel=1e-5)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_000015.png", "step_000030.png"]
    assert Image.open(tmp_path / "run" / "samples" / "step_000030.png").size == (2 * 32, 3 * 32)
    decoder, loaded = load_decoder(path=tmp_path / "run")
    assert loaded == TINY and set(load_file(str(weights))) == set(decoder.state_dict())
    assert not any(p.requires_grad for p in decoder.parameters())


def test_resume_continues_exactly(hub_cache, folders, tmp_path):
    straight = train_adain(config(folders, tmp_path / "straight"))
    train_adain(config(folders, tmp_path / "resumed", steps=2))
    resumed = train_adain(config(folders, tmp_path / "resumed"))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader(open(tmp_path / "resumed" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


def test_resume_refuses_another_model(hub_cache, folders, tmp_path):
    train_adain(config(folders, tmp_path / "run", steps=1))
    with pytest.raises(ValueError, match="another model config"):
        train_adain(config(folders, tmp_path / "run", steps=2, model=AdaINConfig(width=4)))


def test_cli_train_then_stylize(hub_cache, folders, tmp_path):
    run = tmp_path / "cli-run"
    cmd = [sys.executable, "-m", "stylegan_lib", "train", "adain", "--content", str(folders / "photos"),
           "--style", str(folders / "paintings"), "--out", str(run), "--steps", "1", "--batch", "2", "--crop", "32",
           "--width", "8", "--device", "cpu", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    photo = tmp_path / "photo.jpg"
    Image.open(next((folders / "photos").iterdir())).resize((50, 37)).save(photo)
    styles = sorted((folders / "paintings").iterdir())[:2]
    out = tmp_path / "styled.png"
    cmd = [sys.executable, "-m", "stylegan_lib", "adain", str(photo), *map(str, styles), "-o", str(out),
           "--decoder", str(run), "--alpha", "0.8", "--weights", "1", "2", "--preserve-colors", "--style-size", "64",
           "--device", "cpu"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (50, 37) and "wrote" in done.stdout
    bad = subprocess.run(cmd[:-2] + ["--alpha", "2"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "alpha must be in [0, 1]" in bad.stderr
