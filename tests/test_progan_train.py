"""ProGAN / DCGAN training: the progressive schedule, exact resume, shipped G_ema, on a few real faces."""

import copy
import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from stylegan_lib import checkpointing, progan
from stylegan_lib.progan import DCGANConfig, ProGANConfig, load_generator
from stylegan_lib.progan_train import (
    BN_CALIBRATION,
    FaceImages,
    Phase,
    ProGANTrainConfig,
    face_targets,
    fade_reals,
    position,
    schedule,
    train_progan,
)
from stylegan_lib.training import recalibrate_batch_norm

TINY = ProGANConfig(z_dim=8, img_resolution=16, fmap_base=32, fmap_max=16)  # stages 4, 8, 16


def config(faces, out, **kw):
    base = ProGANTrainConfig(data=str(faces), out=str(out), kimg_per_phase=0.016, batch=4, batch_per_res="4:8",
                             log_every=1, sample_every=4, checkpoint_every=100, num_samples=6, model=TINY)  # fmt: skip
    return replace(base, **kw)


def test_schedule_grows_with_fade_ins():
    c = ProGANTrainConfig(data="d", out="o", kimg_per_phase=1, kimg_final=2, model=TINY)
    assert schedule(c) == [
        Phase(0, False, 0, 1000),
        Phase(1, True, 1000, 1000),
        Phase(1, False, 2000, 1000),
        Phase(2, True, 3000, 1000),
        Phase(2, False, 4000, 2000),
    ]
    phases = schedule(c)
    assert position(phases, 0) == (0, 1.0)
    assert position(phases, 1250) == (1, 0.25)
    assert position(phases, 3999) == (2, 0.999)
    assert position(phases, 10_000) == (2, 1.0)
    dcgan = replace(c, model=DCGANConfig(img_resolution=16))
    assert schedule(dcgan) == [Phase(2, False, 0, 2000)]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"bf16": True, "device": "mps"}, "CUDA or CPU"),
        ({"d_backbone": "resnet"}, "d_backbone"),
        ({"d_backbone": "vgg19", "d_layers": "relu9_1"}, "Unknown VGG19 layers"),
        ({"d_backbone": "vgg19", "d_layers": ""}, "at least one VGG19 layer"),
        ({"d_backbone": "vgg19", "d_feature_lr": 0.0}, "must be > 0"),
        ({"d_pixel": False}, "no discriminator"),
        ({"d_backbone": "vgg19", "model": DCGANConfig(img_resolution=16)}, "not the DCGAN"),
        ({"batch_per_res": "4-8"}, "batch_per_res"),
        ({"batch_per_res": "4:0"}, ">= 1"),
        ({"crop_box": "0,0,10,20"}, "square"),
        ({"kimg_per_phase": 0}, "> 0"),
        ({"augment": "color,rotate"}, "unknown augmentation"),
        ({"snapshot_kimg": 0}, "snapshot_kimg"),
        ({"r1_gamma": 1.0}, "own gradient penalty"),  # TINY trains with WGAN-GP
        ({"r1_gamma": -1.0, "model": replace(TINY, loss="ns")}, "r1_gamma"),
        ({"r1_gamma": 1.0, "r1_every": 0, "model": replace(TINY, loss="ns")}, "r1_every"),
    ],
)
def test_bad_configs_fail_early(kw, match):
    with pytest.raises(ValueError, match=match):
        ProGANTrainConfig(**{"data": "d", "out": "o", "model": TINY, **kw})


def test_faces_are_cropped_flipped_and_pooled(faces):
    data = FaceImages(faces, resolution=16, box=(0, 10, 89, 99), flip=True, seed=3)
    assert data.images.shape == (24, 3, 16, 16) and data.images.dtype == torch.uint8
    state = data.state_dict()
    a = data.sample(5, resolution=8)
    assert a.shape == (5, 3, 8, 8) and a.min() >= -1 and a.max() <= 1
    data.load_state_dict(state)
    assert torch.equal(data.sample(5, resolution=8), a)
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(fade_reals(x, 1.0), x)
    assert torch.allclose(fade_reals(x, 0.0), F.interpolate(F.avg_pool2d(x, 2), scale_factor=2))


@pytest.mark.parametrize("crop_box, box", [("0,10,89,99", (0, 10, 89, 99)), ("", None)])
def test_face_targets_are_the_training_pixels_in_0_1(faces, crop_box, box):
    # the search's held-out targets must be cut exactly as the model's training faces were
    data = FaceImages(faces, resolution=16, box=box, flip=False, seed=0)
    targets = face_targets(faces, resolution=16, crop_box=crop_box, count=5)
    assert targets.dtype == torch.float32 and torch.equal(targets, data.images[:5].float() / 255)
    assert face_targets(faces, resolution=16, crop_box=crop_box).shape == (24, 3, 16, 16)


def test_progressive_run_visits_every_stage_and_ships_g_ema(faces, tmp_path):
    seen = []
    weights = train_progan(config(faces, tmp_path / "run"), callback=seen.append)
    # 16 images per phase: stage 0 (batch 8) 2 steps, then fade/stabilise at 8 and 16 (batch 4) 4 steps each
    assert [(p.stage, p.alpha) for p in seen] == [
        (0, 1.0), (0, 1.0),
        (1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0), (1, 1.0), (1, 1.0), (1, 1.0),
        (2, 0.0), (2, 0.25), (2, 0.5), (2, 0.75), (2, 1.0), (2, 1.0), (2, 1.0), (2, 1.0),
    ]  # fmt: skip
    assert seen[-1].images_shown == seen[-1].images_total == 80
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(rows) == 18 and all(np.isfinite(float(r[k])) for r in rows for k in r)
    samples = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert samples == [f"step_{s:06d}.png" for s in (4, 8, 12, 16, 18)]

    info = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert info["images_shown"] == 80 and info["final_stage"] == 2 and info["complete"] is True
    G, loaded = load_generator(path=tmp_path / "run")
    assert loaded == TINY and not any(p.requires_grad for p in G.parameters())
    state = checkpointing.load_state(tmp_path / "run")
    shipped = load_file(str(weights))
    assert all(torch.equal(shipped[k], v) for k, v in state["G_ema"].items())  # G_ema ships, not G
    assert any(not torch.equal(shipped[k], v) for k, v in state["G"].items())
    with torch.no_grad():
        assert G(torch.randn(2, 8)).shape == (2, 3, 16, 16)


@pytest.mark.parametrize(
    "loss, extra",
    [
        ("wgan-gp", {}),
        ("ns", {}),
        ("ns", {"augment": "color,translation,cutout"}),
        ("ns", {"augment": "translation", "r1_gamma": 1.0, "r1_every": 3}),  # R1 at steps 0, 3 (before), 6, 9...
        ("ns", {"pl_weight": 2.0, "pl_every": 3}),  # the path-length mean is restored with the run
    ],
)
def test_resume_mid_fade_is_bit_identical(faces, tmp_path, loss, extra):
    model = replace(TINY, loss=loss)
    straight = train_progan(config(faces, tmp_path / "straight", model=model, **extra))
    train_progan(config(faces, tmp_path / "resumed", model=model, **extra), callback=lambda p: p.step == 4)
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["training"]["final_alpha"] == 0.5
    resumed = train_progan(config(faces, tmp_path / "resumed", model=model, **extra))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [int(r["step"]) for r in csv.DictReader(open(tmp_path / "resumed" / "log.csv"))]
    assert steps == list(range(1, 19))


def test_time_limit_stops_with_a_log_row_a_grid_and_a_checkpoint_of_the_last_step(faces, tmp_path):
    # a 10-minute device command must bring back the G_ema it ends with and that G_ema's own samples
    run = tmp_path / "run"
    train_progan(config(faces, run, log_every=100, sample_every=100, time_limit_s=0.0))  # one step, then stop
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000001.png"]
    info = json.loads((run / "config.json").read_text())["training"]
    assert info["train_steps"] == 1 and info["complete"] is False
    assert checkpointing.load_state(run)["step"] == 1
    train_progan(config(faces, run, log_every=100, sample_every=100, time_limit_s=0.0))  # resumes: step 2
    assert [int(r["step"]) for r in csv.DictReader(open(run / "log.csv"))] == [1, 2]
    assert (run / "samples" / "step_000002.png").is_file()


def test_resume_refuses_another_model(faces, tmp_path):
    train_progan(config(faces, tmp_path / "run", kimg_per_phase=0.008))
    with pytest.raises(ValueError, match="another model config"):
        train_progan(config(faces, tmp_path / "run", model=replace(TINY, fmap_max=8)))


def test_dcgan_baseline_trains_at_one_resolution(faces, tmp_path):
    dcgan = DCGANConfig(z_dim=8, img_resolution=16, g_width=16, d_width=4)
    seen = []
    train_progan(config(faces, tmp_path / "dc", model=dcgan, kimg_per_phase=0.016), callback=seen.append)
    assert [(p.stage, p.alpha) for p in seen] == [(2, 1.0)] * 4
    info = json.loads((tmp_path / "dc" / "config.json").read_text())
    assert info["architecture"] == "dcgan" and info["training"]["images_shown"] == 16
    assert (tmp_path / "dc" / "samples" / "step_000004.png").is_file()
    with pytest.raises(ValueError, match="not a ProGAN generator"):
        load_generator(path=tmp_path / "dc")


@pytest.mark.parametrize("ema_beta, same_as", [(0.0, "G"), (1.0, "init")])
def test_g_ema_follows_ema_beta(faces, tmp_path, ema_beta, same_as):
    weights = train_progan(config(faces, tmp_path / "run", kimg_per_phase=0.008, ema_beta=ema_beta, ema_rampup=None))
    torch.manual_seed(0)
    expected = (
        progan.Generator(TINY).state_dict() if same_as == "init" else checkpointing.load_state(tmp_path / "run")["G"]
    )
    shipped = load_file(str(weights))
    assert all(torch.equal(shipped[k], v) for k, v in expected.items())


def test_augmentation_changes_training_and_snapshots_keep_g_ema_along_the_way(faces, tmp_path):
    plain = load_file(str(train_progan(config(faces, tmp_path / "plain"))))
    run, kw = tmp_path / "aug", {"augment": "color,translation,cutout", "snapshot_kimg": 0.032}
    augmented = load_file(str(train_progan(config(faces, run, **kw))))
    assert any(not torch.equal(plain[k], augmented[k]) for k in plain)  # D saw other images, so G learnt otherwise
    assert json.loads((run / "config.json").read_text())["training"]["augment"] == "color,translation,cutout"
    snapshots = sorted(p.name for p in (run / "snapshots").iterdir())
    assert snapshots == ["images000000032", "images000000064"]  # 80 images in all: 32 and 64 crossed
    for name in snapshots:
        G, loaded = load_generator(path=run / "snapshots" / name)
        info = json.loads((run / "snapshots" / name / "config.json").read_text())["training"]
        assert loaded == TINY and info["images_shown"] == int(name[6:])
    stopped = train_progan(config(faces, tmp_path / "stopped", **kw), callback=lambda p: p.images_shown == 64)
    at_64, snapshot = (
        load_file(str(stopped)),
        load_file(str(run / "snapshots" / "images000000064" / "model.safetensors")),
    )
    assert all(torch.equal(at_64[k], snapshot[k]) for k in at_64)  # the G_ema of that moment...
    assert any(not torch.equal(snapshot[k], augmented[k]) for k in snapshot)  # ...not of the end


def test_r1_regularises_d_every_r1_every_steps(faces, tmp_path):
    model = replace(TINY, loss="ns")
    plain = load_file(str(train_progan(config(faces, tmp_path / "plain", model=model, kimg_per_phase=0.008))))
    run = tmp_path / "r1"
    weights = train_progan(config(faces, run, model=model, kimg_per_phase=0.008, r1_gamma=10.0, r1_every=4))
    regularised = load_file(str(weights))
    assert any(not torch.equal(plain[k], regularised[k]) for k in plain)  # D was trained otherwise, so G was
    rows = list(csv.DictReader(open(run / "log.csv")))
    penalty = [float(r["penalty"]) for r in rows]  # the latest R1 term: computed at steps 0, 4, 8 (before each)
    assert penalty[0] > 0 and penalty[0] == penalty[1] == penalty[2] == penalty[3] != penalty[4]
    assert json.loads((run / "config.json").read_text())["training"]["r1_gamma"] == 10.0
    plain_rows = list(csv.DictReader(open(tmp_path / "plain" / "log.csv")))
    assert all(float(r["penalty"]) == 0 for r in plain_rows)


# ----------------------------------------------------------------------------- the feature discriminator (#22)

FEATURES = {"d_backbone": "vgg19", "d_layers": "relu2_1,relu3_1", "d_feature_size": 16, "d_feature_width": 8}


def test_feature_discriminator_trains_its_heads_only(vgg):
    from stylegan_lib.projected import FeatureDiscriminator, d_loss_hinge, g_loss_hinge

    backbone = copy.deepcopy(vgg)
    torch.manual_seed(0)
    FD = FeatureDiscriminator(backbone, layers=("relu2_1", "relu3_1"), size=32, width=8)
    assert {k.split(".")[0] for k in FD.state_dict()} == {"heads", "scales"}  # no VGG19 tensor in its state
    assert len(list(FD.parameters())) == sum(1 for _ in FD.heads.parameters())
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    FD.calibrate(real)
    seen = FD.backbone(F.interpolate((real + 1) / 2, size=32, mode="bilinear"), ["relu2_1", "relu3_1"])
    expected = [float(seen[n].double().square().mean().sqrt()) for n in ("relu2_1", "relu3_1")]
    assert FD.scales.tolist() == pytest.approx(expected, rel=1e-5)
    logits = FD(fake)
    assert logits.shape == (4, 16 + 16)  # 32-px input: relu2_1 16x16 and relu3_1 8x8, each head down to 4x4
    (d_loss_hinge(FD(real), logits) + g_loss_hinge(logits)).backward()
    assert all(p.grad is None for p in backbone.parameters())  # frozen: no gradient reaches VGG19
    assert all(p.grad is not None for p in FD.parameters()) and fake.grad is not None  # heads and G's image get one


def test_hinge_losses_by_hand():
    from stylegan_lib.projected import d_loss_hinge, g_loss_hinge

    real, fake = torch.tensor([[2.0, 0.5], [-1.0, 1.0]]), torch.tensor([[-3.0, 0.0], [0.5, -1.0]])
    # real: relu(1 - x) = 0, 0.5, 2, 0 -> 0.625; fake: relu(1 + x) = 0, 1, 1.5, 0 -> 0.625
    assert float(d_loss_hinge(real, fake)) == pytest.approx(1.25)
    assert float(g_loss_hinge(fake)) == pytest.approx(0.875)


def test_feature_run_keeps_vgg19_frozen_and_out_of_the_checkpoints(faces, tmp_path, vgg_weights_file, monkeypatch):
    from safetensors.torch import load_file as load_weights

    from stylegan_lib import progan_train

    built, build = [], progan_train.load_vgg19

    def spy(*args, **kw):  # the trainer's own VGG19, kept for inspection
        built.append(build(*args, **kw))
        return built[-1]

    monkeypatch.setattr(progan_train, "load_vgg19", spy)
    run = tmp_path / "run"
    weights = train_progan(config(faces, run, model=replace(TINY, loss="ns"), d_backbone_weights=str(vgg_weights_file),
                                  augment="translation", **FEATURES))  # fmt: skip
    (backbone,) = built
    assert all(p.grad is None and not p.requires_grad for p in backbone.parameters())
    original = load_weights(str(vgg_weights_file))
    assert all(torch.equal(v, original[k].float()) for k, v in backbone.state_dict().items())  # never stepped
    assert set(load_file(str(weights))) == set(progan.Generator(TINY).state_dict())  # G_ema only
    state = checkpointing.load_state(run)
    assert {k.split(".")[0] for k in state["D_feat"]} == {"heads", "scales"}
    assert not any(k.startswith("features") for k in state["D_feat"]) and "D" in state
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert all(float(r["f_real"]) != 0 and float(r["d_real"]) != 0 for r in rows)  # both discriminators judged
    info = json.loads((run / "config.json").read_text())["training"]
    assert info["d_backbone"] == "vgg19" and info["d_pixel"] is True


@pytest.mark.parametrize("extra", [{}, {"d_pixel": False, "bf16": True}])
def test_feature_run_resumes_bit_identical(faces, tmp_path, vgg_weights_file, extra):
    kw = {"model": replace(TINY, loss="ns"), "augment": "color,translation,cutout", **FEATURES, **extra,
          "d_backbone_weights": str(vgg_weights_file)}  # fmt: skip
    straight = train_progan(config(faces, tmp_path / "straight", **kw))
    train_progan(config(faces, tmp_path / "resumed", **kw), callback=lambda p: p.step == 4)
    resumed = train_progan(config(faces, tmp_path / "resumed", **kw))
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    heads_a = checkpointing.load_state(tmp_path / "straight")["D_feat"]
    heads_b = checkpointing.load_state(tmp_path / "resumed")["D_feat"]
    assert all(torch.equal(heads_a[k], heads_b[k]) for k in heads_a)
    if not extra:  # a run with the feature D differs from one without it
        plain = load_file(
            str(train_progan(config(faces, tmp_path / "plain", model=kw["model"], augment=kw["augment"])))
        )
        assert any(not torch.equal(plain[k], a[k]) for k in a)
    else:
        assert "D" not in checkpointing.load_state(tmp_path / "straight")  # Projected GAN: no ProGAN D at all
    with pytest.raises(ValueError, match="other discriminators"):
        train_progan(config(faces, tmp_path / "straight", **{**kw, "d_pixel": not kw.get("d_pixel", True)}))


def test_bf16_autocast_on_cpu_tracks_float32(faces, tmp_path, vgg_weights_file):
    # the first step's losses (same init, same batch) in bf16 autocast against float32
    kw = {"model": replace(TINY, loss="ns"), **FEATURES, "d_backbone_weights": str(vgg_weights_file)}
    rows = {}
    for bf16 in (False, True):
        train_progan(config(faces, tmp_path / str(bf16), bf16=bf16, **kw), callback=lambda p: p.step == 3)
        rows[bf16] = list(csv.DictReader(open(tmp_path / str(bf16) / "log.csv")))
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "f_real", "f_fake"):
        a, b = float(rows[False][0][key]), float(rows[True][0][key])
        assert b == pytest.approx(a, rel=0.05, abs=0.02), key
    assert any(rows[False][0][k] != rows[True][0][k] for k in ("loss_d", "loss_g"))  # bf16 did run


def test_batch_norm_recalibration_matches_one_train_mode_pass_and_leaves_g_alone():
    torch.manual_seed(0)
    G = progan.DCGANGenerator(DCGANConfig(z_dim=8, img_resolution=16, g_width=32))
    with torch.no_grad():  # stale statistics, as an EMA of the weights would carry
        for m in G.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 3)
                m.running_var.uniform_(5, 9)
    before = copy.deepcopy(G.state_dict())
    z = torch.randn(96, 8, dtype=torch.float64).float()
    R = recalibrate_batch_norm(G, z, batch=32)  # three batches, each normalised by its own statistics
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items()) and G.training
    assert not R.training and not any(p.requires_grad for p in R.parameters())
    # independent reference in float64: each layer's input over all 96 latents, through batches of 32
    ref = copy.deepcopy(G).double().train()
    inputs = {}
    for name, m in ref.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.register_forward_hook(lambda m, i, o, name=name: inputs.setdefault(name, []).append(i[0]))
    with torch.no_grad():
        for chunk in z.double().split(32):
            ref(chunk)
    for name, m in R.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            x = torch.cat(inputs[name]).transpose(0, 1).flatten(1)  # [C, everything else]
            torch.testing.assert_close(m.running_mean.double(), x.mean(1), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(m.running_var.double(), x.var(1), rtol=1e-4, atol=1e-5)
    whole = recalibrate_batch_norm(G, z, batch=96)  # one batch: eval mode reproduces that train-mode pass
    with torch.no_grad():  # (up to the unbiased variance's factor 96/95)
        torch.testing.assert_close(whole(z), copy.deepcopy(G).train()(z), rtol=0, atol=0.01)
    ProG = progan.Generator(TINY)
    assert recalibrate_batch_norm(ProG, z, batch=32) is ProG  # no batch norm: nothing to do


def test_a_shipped_dcgan_carries_statistics_of_its_own_weights(faces, tmp_path):
    dcgan = DCGANConfig(z_dim=8, img_resolution=16, g_width=16, d_width=4)
    weights = train_progan(config(faces, tmp_path / "dc", model=dcgan, kimg_per_phase=0.016, ema_beta=0.9,
                                  ema_rampup=None))  # fmt: skip
    shipped, state = load_file(str(weights)), checkpointing.load_state(tmp_path / "dc")
    G_ema = progan.DCGANGenerator(dcgan)
    G_ema.load_state_dict(state["G_ema"])  # the EMA weights with the trained G's copied statistics
    z = progan.sample_latents(BN_CALIBRATION, z_dim=8, seed=1)
    expected = recalibrate_batch_norm(G_ema, z, batch=64).state_dict()
    assert all(torch.equal(shipped[k], v) for k, v in expected.items())
    assert not torch.equal(shipped["dense.1.running_mean"], state["G_ema"]["dense.1.running_mean"])
