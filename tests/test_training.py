"""What the trainers share (training.py): the run state and RunLog's decisions."""

import json

import pytest
import torch

from stylegan_lib import checkpointing
from stylegan_lib.data import CropConfig, CropSampler, list_images
from stylegan_lib.training import RunLog, restore_run, save_run

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
