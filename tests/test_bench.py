"""The benchmark scripts start from anywhere (they find the package without installing it), and
the one device call a GPU session gets (bench/gpu_session.sh) runs through on the CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_bench_script_runs(script, tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def _bench_progan():
    spec = importlib.util.spec_from_file_location("bench_progan", BENCH / "progan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pruning_replays_schedules_by_hand():
    bench = _bench_progan()
    # 4 starts, 3 evaluations (steps 0, 1, 2); losses[step][start]
    losses = [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [9.0, 8.0, 7.0, 7.5]]
    assert bench._pruned_winner(losses, 4, ()) == 2  # lowest final loss
    assert bench._pruned_winner(losses, 2, ()) == 1  # only the first two run
    assert bench._pruned_winner(losses, 4, (0,)) == 1  # step 0 keeps 0 and 1; 1 ends lower
    assert bench._pruned_winner(losses, 4, (1,)) == 2  # step 1 keeps 3 and 2; 2 ends lower
    assert bench._pruned_winner(losses, 4, (0, 1)) == 1  # 4 -> {0, 1} -> {1}
    assert bench._pruned_cost(16, (), 200) == 16 * 200
    assert bench._pruned_cost(16, (25, 50, 100), 200) == 16 * 25 + 8 * 25 + 4 * 50 + 2 * 100
    assert bench._pruned_cost(1, (10,), 20) == 20  # one start is never dropped


def test_border_step_by_hand():
    bench = _bench_progan()
    a, c, r = 0.01, 0.1, 8
    ramp = (a * torch.arange(r, dtype=torch.float64)).expand(2, 3, r, r).clone()  # x[..., i, j] = a j
    # the horizontal steps are all a, the vertical ones 0: the same mix at the border as inside
    assert bench._border_step(ramp) == {"edge_over_inner": 1.0, "ring_offset_rgb": [0.0, 0.0, 0.0]}
    framed = ramp.clone()
    framed[..., 0] += c  # a brighter left column: the border's four sides step by c - a, a, 0, 0
    step = bench._border_step(framed)
    assert step["edge_over_inner"] == pytest.approx(c / 4 / (a / 2), abs=1e-3)  # 5.0
    # ring minus the ring two pixels in: top and bottom 0, left c - 2a, right 2a
    assert step["ring_offset_rgb"] == pytest.approx([c / 4 * 255] * 3, abs=0.1)  # rounded to 0.1


def test_gpu_session_script_runs_through_on_the_cpu(shared_dir, tmp_path):
    # a GPU session has one 10-minute call: a broken step there costs the whole session's device time
    def pack(source, dest, *options):
        command = [sys.executable, str(BENCH / "pack_images.py"), str(source), str(dest), *options]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    data = shared_dir / "data"
    for folder, options in (("faces/train", ["--face"]), ("faces/heldout", ["--face"]),
                            ("vangogh2photo/paintings_train", []), ("vangogh2photo/photos_train", [])):  # fmt: skip
        few = tmp_path / folder
        few.mkdir(parents=True)
        for path in sorted((data / folder).glob("*.jpg"))[:12]:
            shutil.copy(path, few / path.name)
        pack(few, tmp_path / f"{folder.split('/')[0]}.zip", *options)
    vgg = tmp_path / "vgg19-relu4_1.safetensors"
    whole = shared_dir / "weights" / "vgg19-caffe.safetensors"
    command = [sys.executable, str(BENCH / "pack_vgg.py"), str(whole), str(vgg)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    out = tmp_path / "out"
    env = {
        **os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "OUT": str(out), "WORK": str(tmp_path / "work"),
        "FACES": str(tmp_path / "faces.zip"), "VANGOGH": str(tmp_path / "vangogh2photo.zip"), "VGG": str(vgg),
        "SIAMESE_S": "30", "SIAMESE_ARGS": "--batch 2 --steps 2 --sample-every 1",
        "CYCLEGAN_S": "30", "CYCLEGAN_ARGS": "--steps 2 --decay-start 1 --batch 1 --crop 64 --sample-every 1",
        "PROGAN_S": "2", "KIMG": "0.02", "SIZE": "128x72", "TRANSLATE": "--norm image;--norm tile",
        "PROGAN_TRAIN_ARGS": "--img-resolution 16 --fmap-base 128 --fmap-max 32",
        "QUALITY_ARGS": "--steps 2 --settings 0.05:1:2", "PROGAN_ARGS": "--resolutions 16 --steps 2 --frames 4",
        "NST_VGG": str(whole), "NST_ARGS": f"--sizes 48x30 --steps 2 --warmup-steps 1 --data {data}",
    }  # fmt: skip
    done = subprocess.run(["bash", str(BENCH / "gpu_session.sh")], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    log = (out / "gpu_session.log").read_text()
    assert done.returncode == 0 and "== done" in log, log[-3000:]
    exits = [line.split()[2] for line in log.splitlines() if line.startswith("== rc ")]
    # Siamese, CycleGAN, ProGAN, its quality, 2 translate variants, pytest, ProGAN speed, Gatys
    assert exits == ["0"] * 9 and "== skipped" not in log, log[-3000:]
    back = sorted(p.name for p in out.iterdir())
    assert back == sorted(["cyclegan.tar", "gpu_session.log", "nst_speed.json", "progan.tar", "progan_quality.json",
                           "progan_speed.json", "siamese.tar"])  # fmt: skip
    assert len(back) <= 8  # the device tool brings back at most 8 files

    def unpack(name):
        with tarfile.open(out / f"{name}.tar") as tar:
            names = tar.getnames()
            tar.extractall(tmp_path / "back" / name, filter="data")
        assert {"model.safetensors", "config.json", "log.csv"} <= set(names), names
        assert any(n.startswith("samples/step_") for n in names), names
        return json.loads((tmp_path / "back" / name / "config.json").read_text())

    siamese = unpack("siamese")  # warm started from the shipped model, G_ema shipped
    assert siamese["training"]["trained_steps"] == 2 and siamese["training"]["ema_beta"] == 0.999
    assert siamese["ngf"] == 32
    assert siamese["upsample"] == "bilinear"
    cyclegan = unpack("cyclegan")  # warm started from the shipped model, G_ema shipped
    assert cyclegan["upsample"] == "resize" and cyclegan["ngf"] == 32
    assert cyclegan["training"]["init"] == "checkpoints/cyclegan-vangogh" and cyclegan["training"]["ema_beta"] == 0.998
    info = unpack("progan")
    assert info["img_resolution"] == 16 and info["training"]["crop_box"] == "" and info["training"]["complete"] is False
    assert info["training"]["augment"] == "color,translation" and info["loss"] == "ns"  # progan-faces v3's recipe
    assert info["training"]["ema_beta"] == 0.999
    rows = json.loads((out / "progan_quality.json").read_text())["rows"]
    assert [(r["task"], r.get("targets")) for r in rows] == [
        ("jacobian", None), ("quality", "generated"), ("quality", "heldout")]  # fmt: skip
    assert 0 < rows[0]["top20_energy"] <= 1 and -1 <= rows[1]["latent_cos_mean"] <= 1
    assert log.count("siamese, 128x72") == 2  # both translate variants printed their summary line
    nst = json.loads((out / "nst_speed.json").read_text())["rows"]  # on the CPU: no graph, the same losses
    assert [(r["size"], r["variant"], r["cuda_graph"]) for r in nst] == [
        ("48x30", "reference", False), ("48x30", "graph-bf16", False), ("48x30", "graph", False)]  # fmt: skip
    assert nst[2]["loss_ratio"] == 1.0 and abs(nst[1]["loss_ratio"] - 1) < 0.02


def test_progan_card_redraws_the_shipped_sample_grid(shared_dir, tmp_path):
    # the card's samples.png must be what its model.safetensors draws on the app's seeds 0..63, and the
    # right half of its before/after figure too; --before with the same weights draws two equal halves
    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "progan-faces"
    folder = tmp_path / "progan-faces"
    shutil.copytree(shipped, folder)
    args = ["--weights", str(folder), "--faces", str(shared_dir / "data" / "faces"), "--num", "2", "--steps", "2"]
    args += ["--before", str(shipped)]
    command = [sys.executable, str(BENCH / "progan_card.py"), *args, "--json", str(tmp_path / "card.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    drawn, committed = (np.asarray(Image.open(f / "samples.png"), dtype=np.int16) for f in (folder, shipped))
    assert drawn.shape == committed.shape == (512, 512, 3) and np.abs(drawn - committed).max() <= 1
    both = np.asarray(Image.open(folder / "samples_before_after.png"), dtype=np.int16)
    assert both.shape == (512, 512 + 8 + 512, 3) and (both[:, 512:520] == 255).all()  # the white gap
    assert np.abs(both[:, :512] - drawn).max() <= 1 and np.abs(both[:, 520:] - drawn).max() <= 1
    pair = np.asarray(Image.open(shipped / "samples_before_after.png"), dtype=np.int16)
    assert np.abs(pair[:, 520:] - committed).max() <= 1  # the committed comparison shows the shipped weights
    assert Image.open(folder / "closest_latent_heldout.png").size == (128, 128)  # 2 targets over their 2 results
    row = json.loads((tmp_path / "card.json").read_text())
    assert len(row["psnr"]) == 2 and all(10 < v < 60 for v in row["psnr"])


def test_the_fast_style_sheet_keeps_a_column_no_pair_has(tmp_path):
    """bench/fast_style.py's contact sheet with Gatys left out of every pair (--gatys-pairs 0): the
    other columns at 1:1, the empty one a narrow white strip."""
    import torch
    from PIL import Image

    spec = importlib.util.spec_from_file_location("bench_fast_style", BENCH / "fast_style.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    red = torch.zeros(1, 3, 20, 30)
    red[:, 0] = 1
    module.contact_sheet([[red, red, None, red, red], [red, red, None, red, red]], tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB")).astype(int)
    pad, head = 4, 16
    assert sheet.shape == (head + 2 * 20 + 3 * pad, 4 * 30 + head + 6 * pad, 3)
    gatys_x = pad + 2 * (30 + pad)  # the third column
    assert (sheet[head + pad : head + pad + 20, gatys_x : gatys_x + head] == 255).all()  # empty: white
    assert (sheet[head + pad + 5, pad + 5] == [255, 0, 0]).all()  # a photo tile's own pixel
