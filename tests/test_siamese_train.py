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

from stylegan_lib import checkpointing
from stylegan_lib.siamese import (
    FEATURE_LAYERS,
    FeatureDiscriminator,
    Generator,
    SiameseConfig,
    content_loss,
    load_generator,
    vgg19_features,
)
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


# ----------------------------------------------------------------- VGG19-feature D, content term, warm start


def feature_config(domains, out, vgg_weights_file, **kw):
    return config(domains, out, d_backbone="vgg19", content_weight=1.0, vgg_path=str(vgg_weights_file), **kw)


def test_feature_discriminator_trains_heads_only(domains, tmp_path, vgg_weights_file):
    run = tmp_path / "feature"
    weights = train_siamese(feature_config(domains, run, vgg_weights_file, steps=2))
    state = checkpointing.load_state(run)
    # D's saved state is its heads alone: no VGG19 tensor (features.N.*) is in the train state
    assert state["D"] and all(k.startswith("heads.") for k in state["D"])
    assert {k.split(".")[1] for k in state["D"]} == set(FEATURE_LAYERS)
    # the shipped file is G alone, loadable as before
    assert set(load_file(str(weights))) == set(Generator(TINY).state_dict())
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert all(float(r["loss_content"]) > 0 for r in rows)


def test_feature_discriminator_leaves_the_backbone_frozen(vgg):
    D = FeatureDiscriminator(TINY, size=32)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    D(vgg19_features(vgg, x, D.layers)).pow(2).sum().backward()
    assert all(p.grad is not None for p in D.parameters())
    assert all(p.grad is None for p in vgg.parameters()) and not any(p.requires_grad for p in vgg.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0  # G's gradient reaches the image through the trunk
    assert not any(k.startswith("features") for k in D.state_dict())


def test_feature_discriminator_shapes_and_refusals():
    for size in (32, 64, 128):
        D = FeatureDiscriminator(TINY, size=size)
        feats = {name: torch.rand(3, (64, 128, 256, 512)[int(name[4]) - 1], size // 2 ** (int(name[4]) - 1),
                                  size // 2 ** (int(name[4]) - 1)) for name in FEATURE_LAYERS}  # fmt: skip
        assert D(feats).shape == (3, TINY.lenvec)
    with pytest.raises(ValueError, match="power of two"):
        FeatureDiscriminator(TINY, size=16)  # relu4_1 of 16 px is 2 px
    with pytest.raises(ValueError, match="layers must be among"):
        FeatureDiscriminator(TINY, size=64, layers=("relu5_1",))


def test_feature_discriminator_at_half_scale(domains, tmp_path, vgg_weights_file):
    model = replace(TINY, tile=32)  # 64-px crops, seen by D at 32 px
    run = tmp_path / "half"
    train_siamese(feature_config(domains, run, vgg_weights_file, steps=2, model=model, d_scale=0.5))
    state = checkpointing.load_state(run)
    heads = {k: tuple(v.shape) for k, v in FeatureDiscriminator(model, size=32).state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state["D"].items()} == heads  # built for what it sees
    assert heads != {k: tuple(v.shape) for k, v in FeatureDiscriminator(model, size=64).state_dict().items()}
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert all(float(r["loss_content"]) > 0 for r in rows)  # the content term still runs
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="d_scale"):
            train_siamese(feature_config(domains, tmp_path / "bad", vgg_weights_file, model=model, d_scale=bad))
    with pytest.raises(ValueError, match="d_scale < 1 needs the vgg19"):
        train_siamese(config(domains, tmp_path / "pixels", model=model, d_scale=0.5))


def test_content_loss_by_hand():
    a = {"relu4_1": torch.full((1, 2, 2, 2), 1000.0)}
    b = {"relu4_1": torch.full((1, 2, 2, 2), 3000.0)}
    assert content_loss(a, a, layer="relu4_1") == 0
    assert content_loss(b, a, layer="relu4_1").item() == pytest.approx(4.0)  # ((3000 - 1000) / 1000) ** 2


def test_feature_run_resumes_exactly(domains, tmp_path, vgg_weights_file):
    straight = train_siamese(feature_config(domains, tmp_path / "straight", vgg_weights_file, steps=4))
    train_siamese(feature_config(domains, tmp_path / "resumed", vgg_weights_file, steps=2))
    resumed = train_siamese(feature_config(domains, tmp_path / "resumed", vgg_weights_file, steps=4))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_warm_start_begins_from_given_weights(domains, tmp_path):
    first = train_siamese(config(domains, tmp_path / "first", steps=2))
    # lr 0: the new run's G stays exactly at its starting weights, which must be the given ones
    warm = train_siamese(config(domains, tmp_path / "warm", steps=1, init_g=str(first), lr_g=0.0))
    a, b = load_file(str(first)), load_file(str(warm))
    assert all(torch.equal(a[k], b[k]) for k in a)
    cold = load_file(str(train_siamese(config(domains, tmp_path / "cold", steps=1, lr_g=0.0))))
    assert not all(torch.equal(a[k], cold[k]) for k in a)
    with pytest.raises(ValueError, match="another model config"):
        train_siamese(config(domains, tmp_path / "bad", steps=1, init_g=str(first), model=replace(TINY, ngf=8)))


def test_unknown_backbone_is_refused(domains, tmp_path):
    with pytest.raises(ValueError, match="d_backbone"):
        train_siamese(config(domains, tmp_path / "x", d_backbone="resnet"))


def test_ema_ships_the_average_and_resumes_exactly(domains, tmp_path):
    """G_ema follows beta * G_ema + (1 - beta) * G after each step and is what ships; a run begun
    without it and resumed with ema_beta starts G_ema at G; straight and resumed runs agree."""
    beta = 0.5
    train_siamese(config(domains, tmp_path / "plain", steps=2))
    before = checkpointing.load_state(tmp_path / "plain")["G"]
    shipped = load_file(str(train_siamese(config(domains, tmp_path / "plain", steps=3, ema_beta=beta))))
    state = checkpointing.load_state(tmp_path / "plain")
    for k, v in shipped.items():  # one step: G_ema = beta * G(step 2) + (1 - beta) * G(step 3)
        torch.testing.assert_close(v, beta * before[k] + (1 - beta) * state["G"][k])
        torch.testing.assert_close(state["G_ema"][k], v)
    assert not all(torch.equal(shipped[k], state["G"][k]) for k in shipped)  # the average, not G
    assert load_generator(path=tmp_path / "plain")[0] is not None
    rows = np.asarray(Image.open(tmp_path / "plain" / "samples" / "step_000003.png")).shape[0]
    assert rows == 3 * 2 * TINY.tile  # A, AB and G_ema(A)

    straight = train_siamese(config(domains, tmp_path / "straight", steps=4, ema_beta=0.9))
    train_siamese(config(domains, tmp_path / "resumed", steps=2, ema_beta=0.9))
    resumed = train_siamese(config(domains, tmp_path / "resumed", steps=4, ema_beta=0.9))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="ema_beta"):
        train_siamese(config(domains, tmp_path / "bad", ema_beta=1.0))


def test_warm_start_may_change_the_upsampling_only(domains, tmp_path):
    # the upsampling has no weights: a nearest-upsampling G fine-tunes as a bilinear one
    first = train_siamese(config(domains, tmp_path / "first", steps=1))
    bilinear = replace(TINY, upsample="bilinear")
    warm = train_siamese(config(domains, tmp_path / "warm", steps=1, init_g=str(first), lr_g=0.0, model=bilinear))
    a, b = load_file(str(first)), load_file(str(warm))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_generator(path=tmp_path / "warm")[1].upsample == "bilinear"


def test_equivariance_term_is_logged_and_trains_g(domains, tmp_path):
    # the term enters G's loss: with everything else off (adversarial weight stays), G differs
    plain = train_siamese(config(domains, tmp_path / "plain", steps=2))
    eq = train_siamese(config(domains, tmp_path / "eq", steps=2, equivariance_weight=10.0))
    rows = list(csv.DictReader(open(tmp_path / "eq" / "log.csv")))
    assert all(float(r["loss_eq"]) > 0 for r in rows)
    assert all(float(r["loss_eq"]) == 0 for r in csv.DictReader(open(tmp_path / "plain" / "log.csv")))
    a, b = load_file(str(plain)), load_file(str(eq))
    assert not all(torch.equal(a[k], b[k]) for k in a)
    # D's step saw the same AB: G's extra windows ride in the same batch without changing it
    with pytest.raises(ValueError, match="Combo"):
        train_siamese(config(domains, tmp_path / "naive", combo=False, equivariance_weight=1.0))
    with pytest.raises(ValueError, match="equivariance_weight"):
        train_siamese(config(domains, tmp_path / "neg", equivariance_weight=-1.0))


def test_a_log_from_an_older_trainer_takes_the_new_header_on_resume(tmp_path):
    """A run logged without a column added since (here loss_eq) is resumed: one header, the old
    rows under their own column names and empty in the new one, the new rows complete."""
    from stylegan_lib.siamese_train import LOG_FIELDS
    from stylegan_lib.training import RunLog

    old_fields = [f for f in LOG_FIELDS if f != "loss_eq"]
    (tmp_path / "log.csv").write_text(
        ",".join(old_fields) + "\n" + ",".join(str(i) for i in range(len(old_fields))) + "\n"
    )
    with RunLog(tmp_path, LOG_FIELDS, elapsed=0.0, time_limit_s=None) as run:
        run.write(list(range(100, 100 + len(LOG_FIELDS))))
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert list(rows[0]) == list(LOG_FIELDS) and len(rows) == 2
    assert rows[0]["loss_eq"] == "" and rows[0]["step"] == "0" and rows[0]["seconds"] == str(len(old_fields) - 1)
    assert rows[1]["loss_eq"] == str(100 + LOG_FIELDS.index("loss_eq"))
