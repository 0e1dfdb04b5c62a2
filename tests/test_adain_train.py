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


def test_init_starts_a_fine_tune_with_another_upsampling(hub_cache, folders, tmp_path):
    start = train_adain(config(folders, tmp_path / "start", steps=2))
    bilinear = replace(TINY, upsample="bilinear")
    # 0 steps: the new run ships exactly the weights it started from, under its own config
    weights = train_adain(config(folders, tmp_path / "copy", steps=0, init=str(tmp_path / "start"), model=bilinear))
    a, b = load_file(str(start)), load_file(str(weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    _, loaded = load_decoder(path=tmp_path / "copy")
    assert loaded == bilinear
    # a .safetensors file works too; the steps then train from those weights, not from a fresh init
    tuned = train_adain(config(folders, tmp_path / "tuned", steps=1, init=str(start), model=bilinear, lr=1e-5))
    fresh = train_adain(config(folders, tmp_path / "fresh", steps=1, model=bilinear, lr=1e-5))
    c, d = load_file(str(tuned)), load_file(str(fresh))
    moved = max((c[k] - a[k]).abs().max() for k in a)
    assert 0 < moved < 1e-4 and all((c[k] - d[k]).abs().max() > 1e-3 for k in a if k.endswith("weight"))


def test_init_refuses_another_model_config(hub_cache, folders, tmp_path):
    train_adain(config(folders, tmp_path / "start", steps=1))
    for model in (AdaINConfig(width=4), replace(TINY, eps=1e-3)):
        with pytest.raises(ValueError, match="another model config"):
            train_adain(config(folders, tmp_path / f"bad{model.width}", steps=1, init=str(tmp_path / "start"),
                               model=model))  # fmt: skip


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_fine_tune_resumes_exactly(hub_cache, folders, tmp_path, bf16):
    """A resumed fine-tune continues from its checkpoint (init no longer applies), bit for bit,
    also under bfloat16 autocast on the CPU."""
    train_adain(config(folders, tmp_path / "start", steps=1))
    kw = dict(init=str(tmp_path / "start"), model=replace(TINY, upsample="bilinear"), bf16=bf16)
    straight = train_adain(config(folders, tmp_path / "straight", **kw))
    train_adain(config(folders, tmp_path / "resumed", steps=2, **kw))
    resumed = train_adain(config(folders, tmp_path / "resumed", **kw))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_on_the_cpu_runs_in_bfloat16_and_trains(hub_cache, folders, tmp_path, monkeypatch):
    """--bf16 on the CPU: the decoder's convolutions see bfloat16 (autocast), the weights stay
    float32, and the loss falls as in float32."""
    from stylegan_lib import adain

    seen = []
    forward = adain.Decoder.forward
    monkeypatch.setattr(
        adain.Decoder, "forward", lambda self, x: seen.append(self.layers[1](x).dtype) or forward(self, x)
    )
    weights = train_adain(config(folders, tmp_path / "run", steps=30, bf16=True))
    assert seen and set(seen) == {torch.bfloat16}
    assert all(t.dtype == torch.float32 for t in load_file(str(weights)).values())
    loss = np.array([float(r["loss"]) for r in csv.DictReader(open(tmp_path / "run" / "log.csv"))])
    assert np.isfinite(loss).all() and loss[-5:].mean() < 0.6 * loss[:5].mean()


def test_cli_fine_tunes_with_bilinear_upsampling(hub_cache, folders, tmp_path):
    import json

    train_adain(config(folders, tmp_path / "start", steps=1))
    cmd = [sys.executable, "-m", "stylegan_lib", "train", "adain", "--content", str(folders / "photos"),
           "--style", str(folders / "paintings"), "--out", str(tmp_path / "ft"), "--steps", "1", "--batch", "2",
           "--crop", "32", "--width", "8", "--upsample", "bilinear", "--init", str(tmp_path / "start"),
           "--bf16", "--device", "cpu", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["upsample"] == "bilinear" and saved["training"]["init"] == str(tmp_path / "start")
    bad = subprocess.run(
        cmd[:-8] + ["--upsample", "bicubic", "--device", "cpu"], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "upsample must be one of" in bad.stderr
