"""Gatys style transfer on the real Caffe VGG19 and real images, at tiny sizes."""

import importlib

import pytest
import torch

from stylegan_lib import cuda_graphs, losses, nst
from stylegan_lib.colour import rgb_to_yiq
from stylegan_lib.images import fit_size, pil_to_tensor, resize
from stylegan_lib.nst import CONTENT_LAYERS, MIN_SIDE, STYLE_LAYERS, scale_sizes, style_weight_sweep, stylize
from stylegan_lib.vgg import load_vgg19

SIZE = 64


@pytest.fixture(scope="module")
def content(content_photo):
    return pil_to_tensor(content_photo)


@pytest.fixture(scope="module")
def style(style_painting):
    return pil_to_tensor(style_painting)


def gatys_style_loss(vgg, image, style):
    """Independent recomputation of the unweighted style loss of ``image`` against ``style``."""
    style = resize(style, image.shape[-2:])
    a = vgg(image, STYLE_LAYERS)
    b = vgg(style, STYLE_LAYERS)
    return sum(torch.mean((losses.gram_matrix(a[n]) - losses.gram_matrix(b[n])) ** 2) for n in STYLE_LAYERS).item()


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_style_loss_falls_on_real_images(vgg, content, style, optimizer):
    trace = []
    result = stylize(content, style, steps=12, size=SIZE, optimizer=optimizer, vgg=vgg, callback=trace.append)
    assert [p.step for p in trace] == list(range(1, 13))
    assert trace[-1].style_loss < 0.5 * trace[0].style_loss
    assert result.shape == (1, 3, 64, 64) and 0 <= result.min() and result.max() <= 1
    start = resize(content, (64, 64))
    # the result is closer to the style than the content it started from, by an independent measure
    assert gatys_style_loss(vgg, result, style) < 0.5 * gatys_style_loss(vgg, start, style)


def test_preserve_colors_keeps_the_content_chroma(vgg, content, style):
    plain = stylize(content, style, steps=10, size=SIZE, vgg=vgg)
    kept = stylize(content, style, steps=10, size=SIZE, vgg=vgg, preserve_colors=True)
    reference = rgb_to_yiq(resize(content, kept.shape[-2:]))[:, 1:]
    chroma_error = (rgb_to_yiq(kept)[:, 1:] - reference).abs().mean().item()
    plain_error = (rgb_to_yiq(plain)[:, 1:] - reference).abs().mean().item()
    assert chroma_error < 0.01  # only gamut clipping moves the chroma
    assert plain_error > 3 * chroma_error  # plain transfer does take the style's colours
    luminance_change = (rgb_to_yiq(kept)[:, 0] - rgb_to_yiq(resize(content, kept.shape[-2:]))[:, 0]).abs().mean()
    assert luminance_change > 0.01  # ...and the style went into the luminance


def test_multiscale_output_has_requested_size(vgg, content, style):
    sizes = []
    result = stylize(
        content, style, steps=2, size=80, num_scales=3, vgg=vgg, callback=lambda p: sizes.append(p.size) and None
    )
    assert result.shape == (1, 3, 80, 80)
    assert sorted(set(sizes)) == [(40, 40), (57, 57), (80, 80)]
    assert scale_sizes(1080, 1920, size=1920, num_scales=2, scale_ratio=2) == [(540, 960), (1080, 1920)]


def test_seed_reproducible_noise_init(vgg, content, style):
    a = stylize(content, style, steps=3, size=32, init="noise", seed=7, vgg=vgg)
    b = stylize(content, style, steps=3, size=32, init="noise", seed=7, vgg=vgg)
    c = stylize(content, style, steps=3, size=32, init="noise", seed=8, vgg=vgg)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_early_stop_from_callback(vgg, content, style):
    seen = []

    def stop_at_three(progress):
        seen.append(progress.step)
        return progress.step == 3

    result = stylize(content, style, steps=50, size=32, vgg=vgg, callback=stop_at_three)
    assert seen == [1, 2, 3]
    assert result.shape == (1, 3, 32, 32)


def test_several_styles_with_blend_weights(vgg, content, style):
    flipped = style.flip(-1).roll(1, dims=1)  # a second, different style (channels rotated)
    only_first = stylize(content, [style, flipped], style_blend=[1, 0], steps=3, size=32, vgg=vgg)
    single = stylize(content, style, steps=3, size=32, vgg=vgg)
    torch.testing.assert_close(only_first, single)
    mixed = stylize(content, [style, flipped], style_blend=[1, 1], steps=3, size=32, vgg=vgg)
    assert not torch.allclose(mixed, single)
    with pytest.raises(ValueError, match="style_blend"):
        stylize(content, [style, flipped], style_blend=[1], steps=1, size=32, vgg=vgg)


def test_ratio_sweep_orders_style_strength(vgg, content, style):
    results = style_weight_sweep(content, style, ratios=(1e8, 1e4), steps=8, size=SIZE, vgg=vgg)
    (_, weak), (_, strong) = list(results)
    assert gatys_style_loss(vgg, strong, style) < gatys_style_loss(vgg, weak, style)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"optimizer": "sgd"}, "optimizer"), ({"init": "zeros"}, "init"), ({"steps": 0}, "steps"), ({"size": 4}, "size")],
)
def test_bad_arguments_fail_early(vgg, content, style, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stylize(content, style, vgg=vgg, **{"steps": 1, "size": 32, **kwargs})
    with pytest.raises(ValueError, match="RGB tensor"):
        stylize(content[:, :1], style, steps=1, size=32, vgg=vgg)


class NoVGG:
    """Stands in for VGG19 where stylize must refuse before any VGG work."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("VGG19 was run")


def test_min_side_is_what_vgg19_needs_for_relu5(vgg):
    assert MIN_SIDE == 16
    layers = ["relu5_1", "relu5_2"]
    assert vgg(torch.rand(1, 3, MIN_SIDE, MIN_SIDE), layers)["relu5_2"].shape[-2:] == (1, 1)
    with pytest.raises(RuntimeError):  # torch's own error, which stylize now pre-empts
        vgg(torch.rand(1, 3, MIN_SIDE - 1, 64), layers)


def test_too_thin_content_is_refused_before_vgg(content, style):
    thin = resize(content, (1, 200))  # [1, 3, 1, 200]: 1x64 px at size 64
    with pytest.raises(ValueError, match=r"^Content image: its shape \(200×1\).* at scale 1/1 .* 64×1 px.*"
                       r"at least 16 px.*a larger size, or crop") as caught:  # fmt: skip
        stylize(thin, style, steps=1, size=SIZE, vgg=NoVGG())
    assert "fewer scales" not in str(caught.value)  # only one scale: fewer would not help


def test_too_thin_style_is_refused_before_vgg(content, style):
    thin = resize(style, (300, 2))  # at size 64 (style scale 1): 64x0 -> 1 px wide
    with pytest.raises(ValueError, match=r"^Style image: its shape \(2×300\).*1×64 px.*larger style scale"):
        stylize(content, thin, steps=1, size=SIZE, vgg=NoVGG())
    with pytest.raises(ValueError, match=r"^Style 2 image: "):  # several styles: says which
        stylize(content, [style, thin], steps=1, size=SIZE, vgg=NoVGG())


def test_coarse_scale_too_small_is_refused_before_vgg(content, style):
    wide = resize(content, (16, 64))  # fine at size 64, but 45x11 px at the coarser of two scales
    with pytest.raises(ValueError, match=r"^Content image: .* at scale 1/2 \(longest side 45 px\) .* 45×11 px.*"
                       r"longest side of at least 62 px.*fewer scales"):  # fmt: skip
        stylize(wide, style, steps=1, size=SIZE, num_scales=2, vgg=NoVGG())
    tall_style = resize(style, (64, 16))  # the style shrinks with the content's scales
    with pytest.raises(ValueError, match=r"^Style image: .* at scale 1/3 .*fewer scales"):
        stylize(content, tall_style, steps=1, size=SIZE, num_scales=3, vgg=NoVGG())


def test_exactly_the_minimum_side_runs(vgg, content, style):
    wide, tall_style = resize(content, (MIN_SIDE, 64)), resize(style, (64, MIN_SIDE))
    result = stylize(wide, tall_style, steps=1, size=64, vgg=vgg)
    assert result.shape == (1, 3, MIN_SIDE, 64) and torch.isfinite(result).all()
    square = stylize(content, style, steps=1, size=MIN_SIDE, num_scales=2, vgg=vgg)  # coarse side clamps to 16
    assert square.shape == (1, 3, MIN_SIDE, MIN_SIDE)
    with pytest.raises(ValueError, match=r"at least 16 px"):  # one pixel less is refused
        stylize(resize(content, (MIN_SIDE - 1, 64)), style, steps=1, size=64, vgg=NoVGG())


# ----------------------------------------------------------------------------- the CUDA-graph step


def seed_loop(vgg, content, style, *, size, steps, autocast=None):
    """The eager Adam loop as stylize ran it before its step became a capturable function, written
    out (fresh gradient each step): (image, loss per step)."""
    target = resize(content, fit_size(content, size))
    feats = lambda x: vgg(x, (*CONTENT_LAYERS, *STYLE_LAYERS), autocast=autocast)  # noqa: E731
    with torch.no_grad():
        content_target = feats(target)["relu5_2"]
        style_feats = feats(resize(style, fit_size(style, size)))
        style_targets = [losses.gram_matrix(style_feats[n]) for n in STYLE_LAYERS]
    image = target.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=0.02, betas=(0.99, 0.999), eps=0.1)
    trace = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        f = feats(image)
        loss = (
            1e4 * losses.content_loss([f["relu5_2"]], [content_target])
            + 1e-2 * losses.style_loss([losses.gram_matrix(f[n]) for n in STYLE_LAYERS], style_targets)
            + 50.0 * losses.tv_loss(image)
        )
        loss.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        trace.append(loss.item())
    return image.detach(), trace


@pytest.mark.parametrize("autocast", [None, torch.bfloat16])
def test_eager_step_function_is_the_seed_loop_bit_for_bit(vgg, content, style, autocast):
    # stylize's eager path runs the very step function a CUDA graph captures (gradient zeroed in
    # place, not set to None): the same image and losses, bit for bit, as the loop written out
    trace = []
    result = stylize(content, style, steps=4, size=32, vgg=vgg, autocast=autocast, cuda_graph=False,
                     callback=trace.append)  # fmt: skip
    expected, losses_expected = seed_loop(vgg, content, style, size=32, steps=4, autocast=autocast)
    assert torch.equal(result, expected)
    assert [p.loss for p in trace] == losses_expected


def eager_stand_in(step, param, optimizer, *, warmup=3):
    """cuda_graphs.graphed_step without CUDA: its warm-up and reset around the capture, and the
    step itself instead of the graph's replay."""
    start = param.detach().clone()
    for _ in range(warmup):
        step()
    cuda_graphs.reset_to_start(param, start, optimizer)
    return step


@pytest.mark.parametrize("autocast", [None, torch.bfloat16])
def test_graph_path_run_eagerly_matches_the_eager_loop(vgg, content, style, monkeypatch, autocast):
    # The graph path on the CPU, the capture alone left out: Adam(capturable=True) (allowed on the
    # CPU for this test), three warm-up steps, the reset, then the captured step function.
    adam = importlib.import_module("torch.optim.adam")
    monkeypatch.setattr(adam, "_get_capturable_supported_devices", lambda supports_xla=True: ["cpu"])
    kwargs = {"steps": 6, "size": 32, "vgg": vgg, "autocast": autocast}
    eager_trace, graph_trace = [], []
    eager = stylize(content, style, cuda_graph=False, callback=eager_trace.append, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(nst, "graphed_step", eager_stand_in)
        patch.setattr(nst, "_use_cuda_graph", lambda *args, **kw: True)
        graphed = stylize(content, style, callback=graph_trace.append, **kwargs)
    # capturable Adam computes its update in another order of operations: float32 rounding, which
    # in bfloat16 flips roundings of VGG19's activations (measured: max 2e-6 in float32; max 0.013,
    # mean 4e-4, losses 4e-4 apart in bfloat16, after 6 steps)
    if autocast is None:
        torch.testing.assert_close(graphed, eager, rtol=0, atol=1e-5)
    else:
        assert (graphed - eager).abs().mean() < 1e-3 and (graphed - eager).abs().max() < 0.05
    rel = 1e-5 if autocast is None else 2e-3
    assert [p.loss for p in graph_trace] == pytest.approx([p.loss for p in eager_trace], rel=rel)
    assert graph_trace[0].loss == eager_trace[0].loss  # the warm-up was undone: the same first step
    # without the reset the warm-up steps would count: a visibly different result
    with monkeypatch.context() as patch:
        patch.setattr(cuda_graphs, "reset_to_start", lambda *args: None)
        patch.setattr(nst, "graphed_step", eager_stand_in)
        patch.setattr(nst, "_use_cuda_graph", lambda *args, **kw: True)
        not_reset = stylize(content, style, **kwargs)
    assert (not_reset - eager).abs().max() > 1e-3


def test_cuda_graph_default_and_refusals(content, style):
    choose = nst._use_cuda_graph
    assert choose(None, device="cuda", optimizer="adam", num_scales=1)
    assert choose(None, device="cuda:0", optimizer="adam", num_scales=1)
    assert not choose(None, device="cuda", optimizer="lbfgs", num_scales=1)  # L-BFGS stays eager
    assert not choose(None, device="cuda", optimizer="adam", num_scales=2)  # a capture per scale: asked for only
    assert choose(True, device="cuda", optimizer="adam", num_scales=2)
    assert not choose(None, device="cpu", optimizer="adam", num_scales=1)
    assert not choose(False, device="cuda", optimizer="adam", num_scales=1)
    with pytest.raises(ValueError, match=r"cuda_graph=True needs a CUDA device, got device='cpu'"):
        stylize(content, style, steps=1, size=32, vgg=NoVGG(), cuda_graph=True)
    with pytest.raises(ValueError, match=r"cuda_graph=True needs optimizer='adam'.*L-BFGS"):
        stylize(content, style, steps=1, size=32, vgg=NoVGG(), cuda_graph=True, optimizer="lbfgs")
    with pytest.raises(ValueError, match="CUDA tensor"):
        cuda_graphs.graphed_step(lambda: (), torch.zeros(1), torch.optim.Adam([torch.zeros(1, requires_grad=True)]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA-graph step needs a GPU")
@pytest.mark.parametrize("autocast", [None, torch.bfloat16])
def test_cuda_graph_stylize_equals_the_eager_loop(hub_cache, content, style, autocast):
    vgg = load_vgg19("caffe", device="cuda")
    runs = {}
    for graph in (False, True):
        trace = []
        image = stylize(content, style, steps=40, size=128, vgg=vgg, device="cuda", autocast=autocast,
                        cuda_graph=graph, callback=trace.append)  # fmt: skip
        runs[graph] = image, trace
    (eager, eager_trace), (graphed, graph_trace) = runs[False], runs[True]
    assert [p.step for p in graph_trace] == list(range(1, 41))
    assert graph_trace[0].loss == pytest.approx(eager_trace[0].loss, rel=1e-3)  # the same start, warm-up undone
    assert graph_trace[-1].loss == pytest.approx(eager_trace[-1].loss, rel=0.02)
    assert graph_trace[-1].loss < 0.5 * graph_trace[0].loss  # it optimised
    assert (graphed - eager).abs().mean() < 0.01
    # the callback's images are copies: the replays that followed did not overwrite them
    assert not torch.equal(graph_trace[0].image, graph_trace[-1].image)
    torch.testing.assert_close(graph_trace[-1].image, graphed)
    # early stop from the callback returns the image the callback saw at that step
    seen = []
    stopped = stylize(content, style, steps=40, size=128, vgg=vgg, device="cuda", autocast=autocast,
                      cuda_graph=True, callback=lambda p: seen.append(p) or p.step == 5)  # fmt: skip
    assert seen[-1].step == 5 and torch.equal(stopped, seen[-1].image)
    torch.testing.assert_close(stopped, graph_trace[4].image, rtol=0, atol=1e-2)  # a replay of the same run
