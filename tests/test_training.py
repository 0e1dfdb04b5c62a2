"""What the trainers share (training.py, precision.py): the run state, RunLog's decisions, one meaning of bf16."""

import json
import shutil

import pytest
import torch

from stylegan_lib import checkpointing
from stylegan_lib.adain import AdaINConfig
from stylegan_lib.adain_train import AdaINTrainConfig, train_adain
from stylegan_lib.cyclegan import CycleGANConfig
from stylegan_lib.cyclegan_train import CycleGANTrainConfig, train_cyclegan
from stylegan_lib.data import CropConfig, CropSampler, list_images
from stylegan_lib.precision import training_autocast, training_channels_last
from stylegan_lib.progan import ProGANConfig
from stylegan_lib.progan_train import ProGANTrainConfig, train_progan
from stylegan_lib.siamese import SiameseConfig
from stylegan_lib.siamese_train import SiameseTrainConfig, train_siamese
from stylegan_lib.training import RunLog, discriminator_view, restore_run, save_run

# ----------------------------------------------------------------------------- the run state


def test_save_run_then_restore_run_gives_back_every_part(domains, tmp_path):
    def parts(seed):
        torch.manual_seed(seed)
        net = torch.nn.Conv2d(3, 2, 3)
        opt = torch.optim.Adam(net.parameters(), lr=0.1)
        net(torch.rand(1, 3, 5, 5)).sum().backward()
        opt.step()
        samplers = [CropSampler(list_images(domains[0]), CropConfig(crop=16, seed=seed)) for _ in range(2)]
        samplers[0].sample(3)
        return {"net": net, "opt": opt, "samplers": samplers, "rng": torch.Generator().manual_seed(seed), "off": None}

    saved, model = parts(1), {"width": 2}
    torch.randn(4, generator=saved["rng"])  # move the generator on from its seed
    torch.manual_seed(7)
    save_run(tmp_path, saved, counters={"step": 5, "config": {"model": model}}, shipped=saved["net"],
             model={"architecture": "toy", **model}, training={"trained_steps": 5})  # fmt: skip
    expected = (torch.rand(3), torch.randn(2, generator=saved["rng"]), saved["samplers"][0].sample(2))

    fresh = parts(2)
    state = checkpointing.load_state(tmp_path)
    torch.manual_seed(0)  # restore_run sets the torch RNG back to the saved one
    restore_run(tmp_path, state, fresh, model=model)
    assert state["step"] == 5 and "off" not in state
    net, net_saved = fresh["net"].state_dict(), saved["net"].state_dict()
    assert all(torch.equal(net[k], net_saved[k]) for k in net_saved)
    moments, moments_saved = (p["opt"].state_dict()["state"][0]["exp_avg"] for p in (fresh, saved))
    assert torch.equal(moments, moments_saved)
    assert torch.equal(torch.rand(3), expected[0]) and torch.equal(torch.randn(2, generator=fresh["rng"]), expected[1])
    assert torch.equal(fresh["samplers"][0].sample(2), expected[2])
    shipped = json.loads((tmp_path / "config.json").read_text())
    assert shipped == {"architecture": "toy", "width": 2, "training": {"trained_steps": 5}}

    with pytest.raises(ValueError, match="another model config"):
        restore_run(tmp_path, state, parts(3), model={"width": 3})
    with pytest.raises(ValueError, match=r"without \['extra'\]"):
        restore_run(tmp_path, state, {**parts(3), "extra": torch.nn.Linear(1, 1)}, model=model)


# ----------------------------------------------------------------------------- RunLog's decisions


def test_runlog_decides_when_to_log_sample_stop_and_finish(tmp_path):
    saved = []
    with RunLog(tmp_path, ("step", "loss"), elapsed=12.0, time_limit_s=None, steps=10) as run:
        assert [s for s in range(1, 11) if run.due(s, 4)] == [4, 8, 10]  # every 4 steps and the last
        assert [s for s in range(1, 11) if run.due(s, 4, last=s == 5)] == [4, 5, 8]  # the caller's last
        assert run.elapsed >= 12.0 and not run.out_of_time()
        assert run.report(None, "progress") is False
        assert run.report(lambda p: p == "stop", "go on") is False and run.report(lambda p: p == "stop", "stop")
        assert run.report(lambda p: None, "x") is False
        run.write([1, 0.5])
        assert run.finish(lambda: saved.append(True)) == tmp_path / "model.safetensors" and saved == [True]
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,loss", "1,0.5"]
    with RunLog(tmp_path / "late", ("step",), elapsed=0.0, time_limit_s=0.0) as run:
        assert run.out_of_time()


def test_every_trainer_config_takes_the_run_settings_once():
    from dataclasses import fields

    from stylegan_lib.cli import field_comments
    from stylegan_lib.training import RunSettings

    shared = {f.name for f in fields(RunSettings)}
    assert shared == {"seed", "device", "bf16", "log_every", "sample_every", "checkpoint_every", "keep_snapshots",
                      "time_limit_s"}  # fmt: skip
    for config in (SiameseTrainConfig, CycleGANTrainConfig, AdaINTrainConfig, ProGANTrainConfig):
        assert issubclass(config, RunSettings) and not shared & set(config.__annotations__)  # none redefined
        assert field_comments(config)["bf16"] == field_comments(RunSettings)["bf16"]  # the CLI's --help, inherited
        assert field_comments(config)["time_limit_s"] == "stop (with a checkpoint) after this many seconds"


# ----------------------------------------------------------------------------- bf16: one meaning in every trainer


def test_training_autocast_and_layout():
    assert training_autocast("cpu", False) is None and training_autocast("cuda", False) is None
    assert training_autocast("cpu", True) is torch.bfloat16 and training_autocast("cuda:1", True) is torch.bfloat16
    with pytest.raises(ValueError, match="CUDA or CPU"):
        training_autocast("mps", True)
    assert training_channels_last("cpu", torch.bfloat16) and training_channels_last("cuda", None)
    assert not training_channels_last("cpu", None)


@pytest.fixture(scope="module")
def folders(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("bf16-data")
    sources = {"photos": "vangogh2photo/photos_train", "paintings": "vangogh2photo/paintings_train",
               "faces": "faces/train"}  # fmt: skip
    for name, folder in sources.items():
        (root / name).mkdir()
        for path in sorted((shared_dir / "data" / folder).glob("*.jpg"))[:4]:
            shutil.copy(path, root / name / path.name)
    return root


def _one_step(trainer: str, folders, out, bf16: bool, *, steps: int = 1, **settings):
    """``steps`` steps of a tiny run of ``trainer`` (ProGAN: its two phases), a checkpoint at each."""
    a, b = [str(folders / "photos")], [str(folders / "paintings")]
    common = {"out": str(out), "bf16": bf16, "log_every": 1, "sample_every": 1, "checkpoint_every": 1, **settings}
    if trainer == "siamese":
        model = SiameseConfig(tile=16, lenvec=8, ngf=4, n_blocks=1, ndf=4)
        train_siamese(SiameseTrainConfig(domain_a=a, domain_b=b, steps=steps, batch=2, model=model, **common))
    elif trainer == "siamese-vgg19":
        model = SiameseConfig(tile=16, lenvec=8, ngf=4, n_blocks=1, ndf=4)
        train_siamese(SiameseTrainConfig(domain_a=a, domain_b=b, steps=steps, batch=2, model=model,
                                         d_backbone="vgg19", content_weight=1.0, **common))  # fmt: skip
    elif trainer == "cyclegan":
        model = CycleGANConfig(ngf=4, n_blocks=1, ndf=8)
        train_cyclegan(CycleGANTrainConfig(domain_a=a, domain_b=b, steps=steps, batch=2, crop=32, model=model,
                                           **common))  # fmt: skip
    elif trainer == "adain":
        train_adain(AdaINTrainConfig(content=a, style=b, steps=steps, batch=2, crop=32, model=AdaINConfig(width=8),
                                     **common))  # fmt: skip
    else:
        model = ProGANConfig(z_dim=8, img_resolution=16, fmap_base=32, fmap_max=16)
        train_progan(ProGANTrainConfig(data=str(folders / "faces"), kimg_per_phase=0.004, batch=4, batch_per_res="",
                                       crop_box="", num_samples=2, model=model, **common))  # fmt: skip


TRAINERS = ["siamese", "siamese-vgg19", "cyclegan", "adain", "progan"]


@pytest.mark.parametrize("trainer", TRAINERS)
def test_bf16_means_the_same_in_every_trainer(trainer, folders, tmp_path, hub_cache):
    """With bf16 every convolution the run makes (training steps, frozen VGG19, sample grids) runs
    under bfloat16 autocast on channels_last weights; without it, none does and the CPU layout is
    the default one. What ships and what resumes stays float32 either way."""
    calls = []

    def record(module, inputs, output):
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.nn.Parameter) and weight.ndim == 4 and isinstance(output, torch.Tensor):
            big = weight.shape[-1] > 1 and weight.shape[1] > 1  # else both layouts are the same strides
            channels_last = weight.is_contiguous(memory_format=torch.channels_last) if big else None
            calls.append((type(module).__name__, torch.is_autocast_enabled("cpu"), output.dtype, channels_last))

    for bf16 in (False, True):
        calls.clear()
        handle = torch.nn.modules.module.register_module_forward_hook(record)
        try:
            _one_step(trainer, folders, tmp_path / str(bf16), bf16)
        finally:
            handle.remove()
        assert len(calls) > 4
        if bf16:
            assert all(on and dtype == torch.bfloat16 and last is not False for _, on, dtype, last in calls), calls
        else:
            assert all(not on and dtype == torch.float32 and not last for _, on, dtype, last in calls), calls
        floats = [t for t in _tensors(checkpointing.load_state(tmp_path / str(bf16))) if t.is_floating_point()]
        assert floats and all(t.dtype == torch.float32 for t in floats)  # weights, moments, pools, G_ema


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def test_discriminator_view_hides_the_upsampling_lattice():
    ramp = torch.linspace(0, 1, 64).expand(1, 3, 64, 64).contiguous()  # smooth content
    idx = torch.arange(64)
    checker2 = 0.1 * (-1.0) ** (idx[:, None] + idx[None, :])  # the 2-px lattice of a 2x nearest upsampling
    squares4 = 0.1 * (-1.0) ** (idx[:, None] // 2 + idx[None, :] // 2)  # the 4-px one (2-px squares)
    base = discriminator_view(ramp, size=32)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # the filter is renormalised at the border
    assert (discriminator_view(ramp + checker2, size=32) - base)[inner].abs().max() < 1e-6
    assert (discriminator_view(ramp + squares4, size=32) - base)[inner].abs().max() < 0.4 * 0.1
    # the content passes: the view is the ramp sampled at the half-size pixel centres
    centres = (torch.arange(32) * 2 + 0.5) / 63
    assert torch.allclose(base[0, 0, 5, 1:-1], centres[1:-1], atol=1e-5)
    assert discriminator_view(ramp, size=64) is ramp
    half = discriminator_view(ramp.bfloat16(), size=32)  # what a bf16-autocast G hands its discriminator
    image = ramp.clone().requires_grad_(True)  # G's adversarial gradient passes through the view
    discriminator_view(image, size=32).sum().backward()
    torch.testing.assert_close(image.grad.sum(), torch.tensor(3 * 32 * 32.0))  # each output pixel's weights sum to 1
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), base, atol=1e-2)


@pytest.mark.parametrize("trainer", ["siamese", "cyclegan", "adain", "progan"])
def test_keep_snapshots_keeps_every_checkpoints_model(trainer, folders, tmp_path):
    """With keep_snapshots each checkpoint's shipped pair stays in snapshots/, named by its step
    (ProGAN: images shown); the newest is the run's model, earlier ones differ from it; without
    it there is no snapshots/."""
    from safetensors.torch import load_file

    _one_step(trainer, folders, tmp_path / "plain", False, steps=2)
    assert not (tmp_path / "plain" / "snapshots").exists()
    out = tmp_path / "kept"
    _one_step(trainer, folders, out, False, steps=2, keep_snapshots=True)
    kept = sorted((out / "snapshots").iterdir())
    assert len(kept) >= 2, kept
    if trainer != "progan":
        assert [k.name for k in kept] == ["step_000001", "step_000002"]
    shipped, newest, first = (load_file(f / "model.safetensors") for f in (out, kept[-1], kept[0]))
    assert shipped.keys() == newest.keys() and all(torch.equal(shipped[k], newest[k]) for k in shipped)
    assert any(not torch.equal(shipped[k], first[k]) for k in shipped)
    assert (kept[-1] / "config.json").read_text() == (out / "config.json").read_text()
