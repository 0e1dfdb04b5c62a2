"""The app's pieces that need no server: cost model, share links, the ZeroGPU decorator."""

from __future__ import annotations

import base64
import inspect
import string
import sys
import types
import urllib.parse
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from stylegan_lib import latent
from webapp import common, share
from webapp.predict import PRIORS, CostModel, format_megapixels, format_seconds, nst_units


def test_estimate_is_units_times_the_measured_rate():
    costs = CostModel("cpu")
    estimate = costs.estimate("siamese", 12.0)
    assert estimate.seconds == pytest.approx(12.0 * PRIORS["cpu"]["siamese"])
    assert estimate.observed == 0 and "measured on the project's 2-core CPU" in estimate.describe(device="cpu")


def test_cuda_priors_are_the_measured_h100_figures_or_say_they_are_targets():
    """Each CUDA prior is BENCHMARKS.md's H100 row (float32, as the app runs) or says "target, not measured"."""
    import re
    from pathlib import Path

    from webapp.predict import PRIOR_SOURCES

    table = (Path(__file__).resolve().parents[1] / "BENCHMARKS.md").read_text().split("## GPU results", 1)[1]
    table = table.split("\n## ", 1)[0]

    def row(start: str) -> str:
        return next(line for line in table.splitlines() if line.startswith(f"| {start}"))

    gatys = float(re.search(r"`stylize\(\)` ([\d.]+) s", row("Gatys, 500 steps at 512²")).group(1))
    assert PRIORS["cuda"]["nst"] == pytest.approx(gatys / (0.262144 * 500), rel=0.02)
    siamese = float(re.search(r"float32: model [\d.]+–([\d.]+) s", row("Siamese G, 3840×2160")).group(1))
    cyclegan = float(re.search(r"eager float32: model \d+–(\d+) ms", row("CycleGAN G")).group(1)) / 1000
    four_k = 3840 * 2160 / 1e6
    assert PRIORS["cuda"]["siamese"] == pytest.approx(siamese / four_k, rel=0.02)
    assert PRIORS["cuda"]["cyclegan"] == pytest.approx(cyclegan / four_k, rel=0.03)
    adain = float(re.search(r"whole call ([\d.]+) ms", row("AdaIN, 512² frame")).group(1)) / 1000
    assert PRIORS["cuda"]["adain"] == pytest.approx(adain / 0.262144, rel=0.03)
    for task, source in PRIOR_SOURCES["cuda"].items():
        text = CostModel("cuda").estimate(task, 1.0).describe(device="cuda")
        assert source in text and ("measured on an H100" in source) != ("target, not measured" in source), task
    assert "target, not measured" in PRIOR_SOURCES["cuda"]["siamese:image"]


def test_observed_jobs_move_the_rate_by_the_moving_average():
    costs = CostModel("cpu", smoothing=0.5)
    prior = PRIORS["cpu"]["cyclegan"]
    costs.observe("cyclegan", 2.0, 2.0 * 10.0)  # a job at 10 s/MP
    assert costs.estimate("cyclegan", 1.0).seconds_per_unit == pytest.approx(0.5 * prior + 0.5 * 10.0)
    costs.observe("cyclegan", 4.0, 4.0 * 10.0)
    rate = costs.estimate("cyclegan", 1.0)
    assert rate.seconds_per_unit == pytest.approx(0.25 * prior + 0.75 * 10.0) and rate.observed == 2
    costs.observe("cyclegan", 0.0, 5.0)  # nothing to learn from an empty job
    costs.observe("cyclegan", 0.01, 1.0)  # nor from one that is mostly overhead (100 s/MP "measured")
    assert costs.estimate("cyclegan", 1.0).observed == 2
    assert CostModel("cpu").estimate("cyclegan", 1.0).seconds_per_unit == prior  # models do not share state


def test_cost_model_rejects_what_it_cannot_price():
    with pytest.raises(ValueError, match="no cost figures for device 'tpu'"):
        CostModel("tpu")
    with pytest.raises(KeyError, match="unknown task 'dream'"):
        CostModel("cpu").estimate("dream", 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        CostModel("cpu").estimate("nst", -1.0)


def test_nst_units_sum_pixels_over_scales():
    assert nst_units([(100, 200), (200, 400)], steps=10) == pytest.approx((20_000 + 80_000) * 10 / 1e6)


@pytest.mark.parametrize(("seconds", "text"), [(0.0123, "12 ms"), (3.21, "3.2 s"), (300, "5.0 min")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(("megapixels", "text"), [(0.006144, "0.0061 MP"), (0.5, "0.5 MP"), (12.19, "12.2 MP")])
def test_format_megapixels(megapixels, text):
    assert format_megapixels(megapixels) == text


def test_check_budget_refuses_with_the_numbers(monkeypatch):
    monkeypatch.setattr(common, "COSTS", CostModel("cpu"))
    fine = common.check_budget("siamese", 1.0)
    assert fine.seconds == pytest.approx(PRIORS["cpu"]["siamese"])
    too_much = common.LIMITS.max_job_seconds / PRIORS["cpu"]["siamese"] * 2  # megapixels
    with pytest.raises(gr.Error, match=r"would take about .* s/MP.*the limit here is"):
        common.check_budget("siamese", too_much)


def test_gpu_decorator_is_a_no_op_without_spaces(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError

    def handler():
        return 1

    assert common.gpu(duration=30)(handler) is handler


def test_gpu_decorator_is_the_handler_itself_without_zerogpu():
    def handler(x):
        return x + 1

    assert not common.ZERO_GPU and common.gpu(duration=30)(handler) is handler


def test_gpu_decorator_on_zerogpu_brings_the_job_times_back(monkeypatch):
    """On ZeroGPU: spaces.GPU(duration) wraps a function run in the worker; what it returns is pickled back
    (here in-process: tests/test_zerogpu.py runs the real package), with the times measured there."""
    import pickle

    calls = []

    def GPU(*, duration):  # noqa: N802 (the spaces API)
        def wrap(func):
            calls.append(duration)
            if inspect.isgeneratorfunction(func):
                return lambda *a, **k: (pickle.loads(pickle.dumps(item)) for item in func(*a, **k))
            return lambda *a, **k: pickle.loads(pickle.dumps(func(*a, **k)))

        return wrap

    monkeypatch.setattr(common, "ZERO_GPU", True)
    monkeypatch.setattr(common, "spaces", types.SimpleNamespace(GPU=GPU))
    monkeypatch.setattr(common, "COSTS", CostModel("cpu", min_seconds=0.0))

    def handler(x):
        with common.timed("adain", 2.0):
            return x + 1

    def streaming(n):
        with common.timed("nst", 1.0):
            yield from range(n)

    assert common.gpu(duration=30)(handler)(1) == 2
    assert list(common.gpu(duration=40)(streaming)(3)) == [0, 1, 2]
    assert inspect.isgeneratorfunction(common.gpu(duration=40)(streaming))  # Gradio still streams it
    assert calls == [30, 40, 40]
    # in one process the "worker" and the main process share COSTS: each job is learnt once by each
    assert common.COSTS.estimate("adain", 1.0).observed == 2 and common.COSTS.estimate("nst", 1.0).observed == 2


def test_stop_flag_is_a_file_per_session():
    one, two = types.SimpleNamespace(session_hash="one"), types.SimpleNamespace(session_hash="../two")
    common.request_stop(one)  # no job running: nothing to stop, nothing left behind
    assert not any(common.STOP_FLAGS.iterdir())
    with common.stop_event(one) as flag, common.stop_event(two) as other:
        assert not flag.is_set()
        common.request_stop(one)
        assert flag.is_set() and not other.is_set()
        assert all(p.parent == common.STOP_FLAGS for p in common.STOP_FLAGS.iterdir())  # no path from the hash
    assert not any(common.STOP_FLAGS.iterdir())
    with common.stop_event(one) as flag:  # a new job starts clean
        assert not flag.is_set()


# ----------------------------------------------------------------------------- share links


@pytest.fixture(scope="module")
def components():
    with gr.Blocks():
        return {
            "content": gr.Image(),
            "methods": gr.CheckboxGroup([("Siamese, Combo", "siamese"), ("Gatys", "gatys")]),
            "optimizer": gr.Radio(["adam", "lbfgs"]),
            "steps": gr.Slider(1, 100),
            "seed": gr.Number(),
            "keep": gr.Checkbox(),
        }


def test_share_link_round_trip(components):
    example = sorted(p.name for p in common.EXAMPLES.glob("content_*"))[0]
    values = [{"path": f"/tmp/gradio/abc/{example}", "orig_name": example}, ["siamese", "gatys"], "lbfgs", 30, 7, True]
    query, private = share.encode("nst", components, values)
    assert private == [] and query == {
        "tab": "nst", "content": example, "methods": "siamese,gatys", "optimizer": "lbfgs", "steps": 30, "seed": 7,
        "keep": True,
    }  # fmt: skip
    decoded = [share.decode(components[key], str(query[key])) for key in components]
    assert decoded == [str(common.EXAMPLES / example), ["siamese", "gatys"], "lbfgs", 30.0, 7.0, True]


def test_share_link_keeps_own_uploads_out(components):
    values = [{"path": "/tmp/gradio/x/my_holiday.jpg", "orig_name": "my_holiday.jpg"}, [], "adam", 1, 0, False]
    query, private = share.encode("nst", components, values)
    assert "content" not in query and private == ["content image"]
    assert "my_holiday" not in share.link(None, query)


@pytest.mark.parametrize(
    ("key", "text", "match"),
    [
        ("content", "../../etc/passwd", "no example named"),
        ("content", "my_holiday.jpg", "no example named"),
        ("methods", "siamese,rm -rf", "unknown choices"),
        ("optimizer", "sgd", "unknown choice"),
        ("steps", "1e9", "outside"),
        ("steps", "many", "could not convert"),
        ("seed", "x" * 500, "too long"),
    ],
)
def test_share_link_rejects_values_that_do_not_fit(components, key, text, match):
    with pytest.raises(ValueError, match=match):
        share.decode(components[key], text)


def test_share_link_carries_a_latent_exactly(tmp_path):
    # a latent file input: its values travel in the link and come back as a new .npy with the same values
    with gr.Blocks():
        params = {"seed": gr.Number(), "latent": gr.File(file_types=[".npy"]), "other": gr.File()}
    z = torch.randn(512)
    npy = latent.save_latent(z, tmp_path / "found.npy")
    (tmp_path / "notes.npy").write_bytes(b"not an array")
    values = [3, {"path": str(npy), "orig_name": "found.npy"}, {"path": str(tmp_path / "notes.npy")}]
    query, private = share.encode("progan", params, values)
    assert private == ["other file"] and set(query) == {"tab", "seed", "latent"}
    assert len(share.link(None, query)) < 3000  # 2,731 characters of latent
    restored = share.decode(params["latent"], query["latent"])
    assert Path(restored).parent == common.OUTPUTS and restored != str(npy)
    assert torch.equal(latent.load_latent(restored, z_dim=512), z)
    assert share.encode("progan", params, [3, None, None]) == ({"tab": "progan", "seed": 3}, [])
    with pytest.raises(ValueError, match="base64url"):
        share.decode(params["latent"], "not a latent")


def test_latent_text_round_trip_is_exact_and_url_safe():
    z = torch.randn(512, generator=torch.Generator().manual_seed(0)) * 1e3  # large and tiny values alike
    z[0], z[1] = 1e-30, -3.4e38
    text = share.latent_to_text(z)
    assert len(text) == 2731 and set(text) <= set(string.ascii_letters + string.digits + "-_")
    assert urllib.parse.quote(text, safe="") == text  # no character a URL has to escape
    back = share.latent_from_text(text, z_dim=512)
    assert back.dtype == torch.float32 and torch.equal(back, z)
    # independent of the encoder: the text is base64 of the float32 values, little-endian
    assert np.array_equal(np.frombuffer(base64.b64decode(text.replace("-", "+").replace("_", "/") + "="), "<f4"),
                          z.numpy())  # fmt: skip


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "1 to 4096"),
        ("A" * 30_000, "1 to 4096"),
        ("AAA", "base64url of whole"),  # 2 bytes
        ("AAAAAA", "only zeros"),  # 4 zero bytes: one float 0.0
        ("!!!!!!!!", "base64url of whole"),  # not base64 at all: decodes to nothing
        ("AACAfwAAgD8", "non-finite"),  # inf, then 1.0
        ("AACAfwAAgD8" + "=", "base64url of whole"),  # padded: not what latent_to_text writes
        ("AACAP+AAgD8", "base64url of whole"),  # standard base64 ('+'), not base64url
        (None, "1 to 4096"),
    ],
)
def test_latent_from_text_refuses_what_is_not_a_latent(text, match):
    with pytest.raises(ValueError, match=match):
        share.latent_from_text(text)


def test_latent_from_text_checks_z_dim():
    with pytest.raises(ValueError, match="size 4, the model expects 512"):
        share.latent_from_text(share.latent_to_text(torch.ones(4)), z_dim=512)


def test_share_link_uses_the_served_host():
    class Request:
        headers = {"host": "example.hf.space", "x-forwarded-proto": "https"}

    assert share.link(Request(), {"tab": "progan", "seed": 3}) == "https://example.hf.space/?tab=progan&seed=3"


def test_check_shape_uses_the_library_rule_over_every_scale():
    from PIL import Image

    from stylegan_lib import nst
    from webapp import nst_tab, runners

    assert nst_tab.MIN_SIDE is nst.MIN_SIDE  # one constant, the library's
    wide = Image.new("RGB", (64, nst.MIN_SIDE))  # 64x16: exactly the minimum at 64 px
    runners.check_shape(wide, "content", side=64)
    with pytest.raises(gr.Error) as caught:  # ...but 45x11 px at the coarser of two scales
        runners.check_shape(wide, "content", side=64, num_scales=2)
    assert caught.value.message.startswith("Content image: ") and "scale 1/2" in caught.value.message
    assert "fewer scales" in caught.value.message
    with pytest.raises(gr.Error) as caught:  # /compare runs at the photo's own size, here under 16 px
        runners.check_shape(Image.new("RGB", (2, 1)), "photo", side=2)
    assert caught.value.message.startswith("Photo image: ") and "at least 16 px" in caught.value.message


def test_the_face_tab_names_its_models_and_refuses_others():
    from stylegan_lib import progan
    from webapp import progan_tab

    assert [name for _, name in progan_tab.MODELS] == list(progan.FACE_MODELS)
    with pytest.raises(gr.Error, match="Unknown model 'stylegan2'"):
        progan_tab.run_progan_sample(0, "stylegan2")


def _limits_under(precision: str) -> dict:
    """The app's LIMITS as a fresh process computes them with STYLEGAN_LIB_PRECISION=precision."""
    import json
    import os
    import subprocess

    code = (
        "import json, dataclasses; from webapp import common; "
        "print(json.dumps([common.PLACE, dataclasses.asdict(common.LIMITS)]))"
    )
    env = {**os.environ, "STYLEGAN_LIB_PRECISION": precision}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(common.DEVICE != "cpu", reason="the CPU's limits")
def test_cpu_limits_in_bfloat16_raise_what_the_speed_up_pays_for():
    """bfloat16's limits keep float32's wait: pixels scaled up by at most the measured speed-up."""
    from dataclasses import asdict

    from webapp.predict import CPU_BF16_RATIO

    (place32, fp32), (place16, bf16) = _limits_under("float32"), _limits_under("bfloat16")
    assert (place32, place16) == ("cpu", "cpu:bfloat16") and fp32 == asdict(common.LIMITS_BY_PLACE["cpu"])
    assert fp32["size"] < bf16["size"] and bf16["size"] ** 2 <= fp32["size"] ** 2 * CPU_BF16_RATIO["nst"]
    assert (
        fp32["grid_size"] < bf16["grid_size"]
        and bf16["grid_size"] ** 2 <= fp32["grid_size"] ** 2 * CPU_BF16_RATIO["nst"]
    )
    speed_up = 48.1 / 23.5  # a 12 MP Van Gogh photo, float32 / bfloat16 (BENCHMARKS.md)
    assert fp32["translate_pixels"] < bf16["translate_pixels"] <= fp32["translate_pixels"] * speed_up
    slowest = min(CPU_BF16_RATIO["siamese"], CPU_BF16_RATIO["cyclegan"])  # the comparison runs both
    assert (
        fp32["compare_side"] < bf16["compare_side"] and bf16["compare_side"] ** 2 <= fp32["compare_side"] ** 2 * slowest
    )
    changed = {k for k in fp32 if fp32[k] != bf16[k]}
    assert changed == {"size", "grid_size", "translate_pixels", "compare_side"}
