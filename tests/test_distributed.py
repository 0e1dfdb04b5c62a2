"""Data-parallel training (stylegan_lib.distributed): 2 gloo processes train the 1-process model.

Each test launches 2 CPU processes (torch.multiprocessing, gloo, the environment torchrun would
set) on tiny models and real crops, and checks the run folder rank 0 wrote against a 1-process
run of the same config (float32): the same global batch gives the same weights, to float
rounding, and a run resumes across process counts. The tolerance is set against how far the
weights moved, so a run that trained on other data, or only on its shard, fails.
"""

import csv
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from stylegan_lib import checkpointing, distributed
from stylegan_lib.adain import AdaINConfig, Decoder
from stylegan_lib.adain_train import AdaINTrainConfig, train_adain
from stylegan_lib.cyclegan import CycleGANConfig, Discriminator
from stylegan_lib.cyclegan import Generator as CycleGANGenerator
from stylegan_lib.cyclegan import build_models as build_cyclegan
from stylegan_lib.cyclegan_train import CycleGANTrainConfig, train_cyclegan
from stylegan_lib.data import CropConfig, CropSampler, list_images
from stylegan_lib.domain import DomainClassifier, DomainClassifierConfig, save_domain_classifier
from stylegan_lib.domain_train import train_domain_classifier
from stylegan_lib.progan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, ProGANConfig
from stylegan_lib.progan_train import ProGANTrainConfig, build_models, train_progan
from stylegan_lib.siamese import Generator, SiameseConfig
from stylegan_lib.siamese_train import SiameseTrainConfig, train_siamese

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, size: int, port: int, runs: list) -> None:
    # what torchrun sets for each process
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    for train, config, *stop_after in runs:
        stop = None if not stop_after else lambda progress, last=stop_after[0]: progress.step >= last  # on rank 0
        train(config, callback=stop)


def run_ranks(size: int, *runs) -> None:
    """Each ``(train, config)`` or ``(train, config, stop_after_step)`` of ``runs`` in turn, in ``size``
    processes (gloo on the CPU)."""
    mp.start_processes(_rank, args=(size, _free_port(), list(runs)), nprocs=size, join=True, start_method="fork")


def state(run: Path, key: str) -> dict[str, torch.Tensor]:
    return checkpointing.load_state(run)[key]


def assert_close_to(got: torch.Tensor, want: torch.Tensor, start: torch.Tensor) -> None:
    """``got`` equals ``want`` to float rounding: off by less than 1/1000 of how far ``want`` moved from ``start``."""
    moved, diff = float((want - start).abs().max()), float((got - want).abs().max())
    assert moved > 1e-3, moved
    assert diff < 1e-3 * moved, (diff, moved)


def assert_same_weights(got: dict, want: dict, start: dict) -> None:
    assert got.keys() == want.keys()
    flat = lambda d: torch.cat([d[k].flatten() for k in sorted(d) if d[k].is_floating_point()])  # noqa: E731
    assert_close_to(flat(got), flat(want), flat(start))


def assert_same_function(build, got: dict, want: dict, start: dict, x: torch.Tensor) -> None:
    """The networks of three state dicts compared by their outputs on ``x``.

    For networks with a convolution's bias before an instance norm: the norm cancels the bias, so its
    gradient is float noise around zero, which Adam scales to +-lr on one process and on two alike
    (differently); what the network computes does not depend on it.
    """
    outs = []
    for sd in (got, want, start):
        net = build()
        net.load_state_dict(sd)
        with torch.no_grad():
            outs.append(net(x))
    assert_close_to(*outs)


# ----------------------------------------------------------------------------- helpers


def test_one_process_world_is_a_no_op(monkeypatch):
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    world = distributed.init("cpu")
    assert (world.rank, world.size, world.main, world.distributed) == (0, 1, True, False)
    x = torch.arange(6.0).view(6, 1)
    module = torch.nn.Linear(1, 1)
    assert world.shard(x) is x and world.gather(x) is x and world.wrap(module) is module
    assert world.local_batch(7) == 7 and world.decide(True) and world.mean([1.0, torch.tensor(2.0)]) == [1.0, 2.0]


def test_shards_are_strided_rows_and_batches_must_divide():
    x = torch.arange(8.0).view(8, 1)
    assert distributed.World(1, 2).shard(x).flatten().tolist() == [1.0, 3.0, 5.0, 7.0]
    assert distributed.World(0, 4).shard(x).flatten().tolist() == [0.0, 4.0]
    with pytest.raises(ValueError, match=r"batch \(6\) is the global batch.*multiple of 4"):
        distributed.World(0, 4).local_batch(6)


def test_per_sample_transforms_draw_what_one_process_draws():
    def jitter(x, generator):  # a per-sample random op, as DiffAugment's
        return x + torch.rand(x.shape[0], 1, generator=generator)

    x = torch.randn(6, 3)
    whole = jitter(x, torch.Generator().manual_seed(0))
    for rank in range(3):
        world = distributed.World(rank, 3)
        part = world.per_sample(lambda t: jitter(t, torch.Generator().manual_seed(0)), world.shard(x))
        torch.testing.assert_close(part, world.shard(whole), rtol=0, atol=0)


# ----------------------------------------------------------------------------- trainers

SIAMESE = SiameseConfig(tile=16, lenvec=8, ngf=4, n_blocks=1, ndf=4)


def siamese(domains, out, **kw) -> SiameseTrainConfig:
    a, b = domains
    base = SiameseTrainConfig(domain_a=[str(a)], domain_b=[str(b)], out=str(out), steps=3, batch=4, log_every=1,
                              sample_every=100, checkpoint_every=100, ema_beta=0.9, identity_weight=1.0,
                              equivariance_weight=1.0, lr_g=1e-3, lr_d=1e-3, model=SIAMESE)  # fmt: skip
    return replace(base, **kw)


def test_siamese_two_processes_train_the_one_process_model_and_resume_across_counts(domains, tmp_path):
    one, two = siamese(domains, tmp_path / "one"), siamese(domains, tmp_path / "two")
    init = siamese(domains, tmp_path / "init", steps=0)
    # 1 -> 2: two ranks resume a 1-process checkpoint; 2 -> 1: the other way round
    one_two, two_one = siamese(domains, tmp_path / "one_two", steps=2), siamese(domains, tmp_path / "two_one", steps=2)
    train_siamese(one)
    train_siamese(init)
    train_siamese(one_two)
    run_ranks(2, (train_siamese, two), (train_siamese, two_one), (train_siamese, replace(one_two, steps=3)))
    train_siamese(replace(two_one, steps=3))

    want, start = tmp_path / "one", tmp_path / "init"
    tiles = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for run in (tmp_path / "two", tmp_path / "one_two", tmp_path / "two_one"):
        assert_same_weights(state(run, "D"), state(want, "D"), state(start, "D"))
        for key in ("G", "G_ema"):
            got = state(run, key)
            assert_same_function(lambda: Generator(SIAMESE), got, state(want, key), state(start, key), tiles)
    rows = list(csv.DictReader(open(tmp_path / "two" / "log.csv")))
    ref = list(csv.DictReader(open(tmp_path / "one" / "log.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3"]  # rank 0 alone wrote, once per step
    assert float(rows[0]["loss_d1"]) == pytest.approx(float(ref[0]["loss_d1"]), rel=1e-4)  # the global batch's


CYCLEGAN = CycleGANConfig(ngf=4, n_blocks=1, ndf=8)


def cyclegan(domains, out, **kw) -> CycleGANTrainConfig:
    a, b = domains
    base = CycleGANTrainConfig(domain_a=[str(a)], domain_b=[str(b)], out=str(out), steps=3, decay_start=1, batch=4,
                               crop=32, pool_size=3, log_every=1, sample_every=100, checkpoint_every=100,
                               model=CYCLEGAN)  # fmt: skip
    return replace(base, **kw)


def test_cyclegan_two_processes_train_the_one_process_model_with_one_history_pool(domains, tmp_path):
    # 3 steps of 4 translations per domain: the 3-image pools fill in step 1 and swap images after
    runs = {name: cyclegan(domains, tmp_path / name) for name in ("one", "two", "two_one")}
    train_cyclegan(runs["one"])
    train_cyclegan(cyclegan(domains, tmp_path / "init", steps=0, decay_start=0))
    run_ranks(2, (train_cyclegan, runs["two"]), (train_cyclegan, runs["two_one"], 2))  # stopped after step 2
    train_cyclegan(runs["two_one"])

    want, start = tmp_path / "one", tmp_path / "init"
    crops = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for run in (tmp_path / "two", tmp_path / "two_one"):
        for key in ("G_AB", "G_BA", "D_A", "D_B"):
            build = CycleGANGenerator if key.startswith("G") else Discriminator
            got = state(run, key)
            assert_same_function(lambda b=build: b(CYCLEGAN), got, state(want, key), state(start, key), crops)
        for pool in ("pool_a", "pool_b"):  # rank 0 saved the one-process pool
            got, ref = state(run, pool)["images"], state(want, pool)["images"]
            assert len(got) == len(ref) == 3
            torch.testing.assert_close(torch.stack(got), torch.stack(ref), atol=1e-4, rtol=0)
    rows = list(csv.DictReader(open(tmp_path / "two_one" / "log.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3"]  # 2 steps on 2 processes, then 1 on 1


PROGAN = ProGANConfig(z_dim=8, img_resolution=16, fmap_base=32, fmap_max=16, mbstd_group=2)  # stages 4, 8, 16


def progan_run(faces, out, **kw) -> ProGANTrainConfig:
    # 16 images per phase: 2 steps of 8 at 4x4, then the 8x8 fade-in in steps of 4
    base = ProGANTrainConfig(data=str(faces), out=str(out), kimg_per_phase=0.016, batch=4, batch_per_res="4:8",
                             augment="color,translation,cutout", log_every=1, sample_every=100,
                             checkpoint_every=100, num_samples=4, model=PROGAN)  # fmt: skip
    return replace(base, **kw)


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(model=replace(PROGAN, loss="ns"), r1_gamma=1.0, r1_every=2)],
    ids=["wgan-gp", "ns-r1"],
)
def test_progan_two_processes_train_the_one_process_model_across_a_fade_in(faces, tmp_path, kw):
    # minibatch-std groups of 2 on 2 ranks: each rank's groups are the 1-process groups (strided shards)
    runs = {name: progan_run(faces, tmp_path / name, **kw) for name in ("one", "two", "one_two")}
    train_progan(runs["one"], callback=lambda p: p.step >= 4)  # 2 steps at 4x4, 2 into the 8x8 fade-in
    train_progan(runs["one_two"], callback=lambda p: p.step >= 1)
    run_ranks(2, (train_progan, runs["two"], 4), (train_progan, runs["one_two"], 4))

    torch.manual_seed(0)  # the initial weights, as the trainer draws them
    G0, D0 = (m.state_dict() for m in build_models(runs["one"].model))
    want = tmp_path / "one"
    for run in (tmp_path / "two", tmp_path / "one_two"):
        assert checkpointing.load_state(run)["images_shown"] == 24
        for key, start in (("G", G0), ("D", D0), ("G_ema", G0)):
            assert_same_weights(state(run, key), state(want, key), start)


@pytest.fixture(scope="module")
def adain_folders(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adain-data")
    for name, folder in (("photos", "vangogh2photo/photos_train"), ("faces", "faces/train"),
                         ("paintings", "vangogh2photo/paintings_train")):  # fmt: skip
        (root / name).mkdir()
        for path in sorted((shared_dir / "data" / folder).glob("*.jpg"))[:4]:
            shutil.copy(path, root / name / path.name)
    return root


def test_adain_two_processes_train_the_one_process_decoder(hub_cache, adain_folders, tmp_path):
    f = adain_folders
    base = AdaINTrainConfig(content=[str(f / "photos"), str(f / "faces")], style=[str(f / "paintings")],
                            out=str(tmp_path / "one"), steps=3, batch=4, crop=32, lr=1e-3, log_every=1,
                            sample_every=100, checkpoint_every=100, model=AdaINConfig(width=8))  # fmt: skip
    train_adain(base)
    run_ranks(2, (train_adain, replace(base, out=str(tmp_path / "two"))))
    torch.manual_seed(0)  # the initial decoder, as the trainer draws it
    start = Decoder(AdaINConfig(width=8)).state_dict()
    assert_same_weights(state(tmp_path / "two", "decoder"), state(tmp_path / "one", "decoder"), start)
    with pytest.raises(mp.ProcessRaisedException, match=r"ValueError: the batch \(3\) is the global batch, split"):
        run_ranks(2, (train_adain, replace(base, batch=3, out=str(tmp_path / "odd"))))


def _train_domain(config: dict, callback=None) -> None:
    """The domain classifier's training as the CLI runs it: samplers built in each process; rank 0 saves."""
    crop = CropConfig(crop=48, seed=0)
    photos = CropSampler(list_images(config["a"]), crop)
    paintings = CropSampler(list_images(config["b"]), replace(crop, seed=1))
    model = train_domain_classifier(photos, paintings, steps=3, batch=4, max_downscale=1.5,
                                    config=DomainClassifierConfig(tile=32, width=4), callback=callback)  # fmt: skip
    if distributed.init("cpu").main:
        save_domain_classifier(model, config["out"])


def test_domain_classifier_two_processes_train_the_one_process_model(domains, tmp_path):
    a, b = (str(d) for d in domains)
    _train_domain({"a": a, "b": b, "out": tmp_path / "one"})
    run_ranks(2, (_train_domain, {"a": a, "b": b, "out": tmp_path / "two"}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the initial model, as the trainer draws it
        start = DomainClassifier(DomainClassifierConfig(tile=32, width=4)).state_dict()
    got, want = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("two", "one"))
    assert_same_weights(got, want, start)


def test_dcgan_two_processes_with_synchronised_batch_norm_train_the_one_process_model(faces, tmp_path):
    model = DCGANConfig(z_dim=8, img_resolution=16, g_width=16, d_width=4)
    kw = dict(model=model, batch=4, batch_per_res="", augment="", r1_gamma=1.0, r1_every=2, kimg_per_phase=0.012)
    one, two = progan_run(faces, tmp_path / "one", **kw), progan_run(faces, tmp_path / "two", **kw)
    train_progan(one)  # 3 steps of 4
    run_ranks(2, (train_progan, two))
    torch.manual_seed(0)
    G0, D0 = (m.state_dict() for m in build_models(model))
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    for key, build, x, start in (("G", DCGANGenerator, z, G0), ("D", DCGANDiscriminator, images, D0)):
        # in training mode: batch statistics of x, and a conv bias before a batch norm does not count
        got, want = state(tmp_path / "two", key), state(tmp_path / "one", key)
        assert_same_function(lambda b=build: b(model), got, want, start, x)
    for key in ("G", "D"):  # running variances, from the global batches' (the means hold the noisy biases)
        got, want = state(tmp_path / "two", key), state(tmp_path / "one", key)
        buffers = [k for k in want if "running_var" in k]
        assert buffers
        for k in buffers:
            torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-5)


def _time_limited(config, callback=None) -> None:
    """Rank 0 runs out of time at once, the other ranks never would: they stop when rank 0 does."""
    train_siamese(replace(config, time_limit_s=0.0 if distributed.launched_rank() == 0 else None), callback=callback)


@pytest.mark.timeout(300)  # without the broadcast, rank 1 would go on alone
def test_rank_0s_time_limit_stops_every_rank_at_a_checkpoint(domains, tmp_path):
    run_ranks(2, (_time_limited, siamese(domains, tmp_path / "run", steps=50)))  # would hang if rank 1 went on
    assert checkpointing.load_state(tmp_path / "run")["step"] == 1
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_cli_trains_under_torchrun(domains, tmp_path):
    a, b = (str(d) for d in domains)
    args = ["train", "cyclegan", "--domain-a", a, "--domain-b", b, "--steps", "2", "--batch", "2", "--crop", "32",
            "--ngf", "4", "--n-blocks", "1", "--ndf", "8", "--pool-size", "2", "--device", "cpu", "-q"]  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "stylegan_lib", *args, "--out", str(tmp_path / "two")]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports
    one = CycleGANTrainConfig(domain_a=[a], domain_b=[b], out=str(tmp_path / "one"), steps=2, batch=2, crop=32,
                              pool_size=2, model=CycleGANConfig(ngf=4, n_blocks=1, ndf=8))  # fmt: skip
    train_cyclegan(one)
    crops = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    start = build_cyclegan(one.model)["G_AB"].state_dict()
    got, want = state(tmp_path / "two", "G_AB"), state(tmp_path / "one", "G_AB")
    assert_same_function(lambda: CycleGANGenerator(one.model), got, want, start, crops)


def _progan_warnings(config, callback=None) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train_progan(config, callback=lambda p: True)
    if distributed.launched_rank() == 0:
        (Path(config.out) / "warnings.txt").write_text("\n".join(str(w.message) for w in seen))


def test_progan_says_when_minibatch_std_groups_differ_from_one_process(faces, tmp_path):
    # group 4 x 2 processes does not divide the batch of 4 at 8x8 and 16x16: per-process groups there
    run_ranks(2, (_progan_warnings, progan_run(faces, tmp_path / "run", model=replace(PROGAN, mbstd_group=4))))
    said = (tmp_path / "run" / "warnings.txt").read_text()
    assert "batch at 8x8 (4) is not a multiple of mbstd_group x processes (4 x 2)" in said
    assert "4x4" not in said  # 8 = 4 x 2 there
