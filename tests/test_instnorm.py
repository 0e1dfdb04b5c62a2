"""Tests for stylegan_lib.instnorm: recorded instance-norm statistics, whole-image statistics for tiles."""

import numpy as np
import pytest
import torch
from torch import nn

from stylegan_lib import cyclegan, instnorm, siamese, translate
from stylegan_lib.instnorm import ResidualBlock


def small_siamese() -> siamese.Generator:
    torch.manual_seed(0)
    G = siamese.Generator(siamese.SiameseConfig(tile=16, ngf=4, n_blocks=2)).eval()
    with torch.no_grad():  # non-trivial affine parameters
        for m in G.modules():
            if isinstance(m, nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return G


def small_cyclegan() -> cyclegan.Generator:
    torch.manual_seed(1)
    return cyclegan.Generator(cyclegan.CycleGANConfig(ngf=4, n_blocks=2)).eval()


def reference_norm(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, layer: nn.InstanceNorm2d) -> torch.Tensor:
    y = (x.double() - mean.double()) / (var.double() + layer.eps).sqrt()
    if layer.affine:
        y = y * layer.weight.double()[:, None, None] + layer.bias.double()[:, None, None]
    return y


@pytest.mark.parametrize("make", [small_siamese, small_cyclegan])
def test_own_statistics_reproduce_the_plain_forward(make):
    G = make()
    x = torch.rand(3, 3, 32, 40)
    with torch.no_grad():
        plain = G(x)
        stats = G.norm_stats(x)
        assert len(stats) == sum(isinstance(m, nn.InstanceNorm2d) for m in G.modules())
        assert stats.means[0].shape == (3, G.net[2].num_features, 1, 1)
        assert torch.allclose(G(x, norm_stats=stats), plain, atol=1e-5)
        assert torch.allclose(instnorm.run(G.net, x * 2 - 1), G.net(x * 2 - 1), atol=1e-5)


def test_recorded_statistics_are_the_layer_inputs_moments():
    # float64 reference: a stack of conv -> IN -> relu -> residual(conv -> IN), statistics by hand
    torch.manual_seed(2)
    conv1, conv2 = nn.Conv2d(3, 5, 3, padding=1).double(), nn.Conv2d(5, 5, 3, padding=1).double()
    in1, in2 = nn.InstanceNorm2d(5, affine=True).double(), nn.InstanceNorm2d(5).double()
    with torch.no_grad():
        in1.weight.uniform_(0.5, 2)
        in1.bias.uniform_(-1, 1)
    net = nn.Sequential(conv1, in1, nn.ReLU(), ResidualBlock(conv2, in2))
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    stats = instnorm.record(net, x)
    with torch.no_grad():
        a = conv1(x)
        m1, v1 = a.mean((2, 3), keepdim=True), a.var((2, 3), keepdim=True, unbiased=False)
        h = reference_norm(a, m1, v1, in1).relu()
        b = conv2(h)
        m2, v2 = b.mean((2, 3), keepdim=True), b.var((2, 3), keepdim=True, unbiased=False)
        expected = h + reference_norm(b, m2, v2, in2)
        for got, want in zip((*stats.means, *stats.variances), (m1, m2, v1, v2), strict=True):
            assert torch.allclose(got, want, atol=1e-12)
        assert torch.allclose(instnorm.run(net, x, stats=stats), expected, atol=1e-12)
        assert torch.allclose(net(x), expected, atol=1e-10)
        # other statistics: the same formula with the given moments, broadcast over a batch
        one = instnorm.NormStats((m1[:1], m2[:1]), (v1[:1], v2[:1]))
        y = instnorm.run(net, x, stats=one)
        assert torch.allclose(y[0], expected[0], atol=1e-12) and not torch.allclose(y[1], expected[1])


def test_run_refuses_what_it_cannot_follow():
    with pytest.raises(ValueError, match="running statistics"):
        instnorm.run(nn.Sequential(nn.InstanceNorm2d(3, track_running_stats=True)), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="flatten"):
        instnorm.run(nn.Sequential(nn.Sequential(nn.InstanceNorm2d(3))), torch.rand(1, 3, 4, 4))
    net = nn.Sequential(nn.InstanceNorm2d(3), nn.InstanceNorm2d(3))
    short = instnorm.record(nn.Sequential(nn.InstanceNorm2d(3)), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="1 layers"):
        instnorm.run(net, torch.rand(1, 3, 4, 4), stats=short)


@pytest.mark.parametrize("make", [small_siamese, small_cyclegan])
def test_receptive_radius_bounds_the_influence_of_one_pixel(make):
    # with fixed statistics G is local: changing one input pixel changes outputs at most
    # receptive_radius away, and the bound is nearly tight
    G = make()
    size, c = 128, 64
    x = torch.rand(1, 3, size, size)
    stats = G.norm_stats(x)
    with torch.no_grad():
        base = G(x, norm_stats=stats)
        y = x.clone()
        y[..., c, c] = 1 - y[..., c, c]
        changed = (G(y, norm_stats=stats) - base).abs().amax(1)[0] > 0  # [H, W]
    rows, cols = np.nonzero(changed.numpy())
    reach = max(np.abs(rows - c).max(), np.abs(cols - c).max())
    radius = G.receptive_radius
    assert radius - 4 <= reach <= radius


def test_shipped_siamese_radius_and_context():
    # v4's bilinear upsampling widens G's reach (v3, nearest: radius 47, context 48)
    G, _ = translate.load_generator("siamese")
    assert G.receptive_radius == 53 and translate.default_context(G) == 56


@pytest.fixture(scope="module")
def hd_landscape(shared_dir):
    from stylegan_lib.images import open_image

    path = shared_dir / "data" / "hd_photos" / "landscape" / "lomiri_Bridge_by_Sander_Klootwijk.jpg"
    return open_image(path).resize((768, 448))  # big flat sky: the hardest case for per-tile statistics


def test_whole_photo_statistics_remove_the_shipped_models_seams(hd_landscape):
    # the shipped Combo model on a real photo, both on the seed's 64-px grid: plain tiles with
    # their own statistics show their borders; shared statistics with context do not
    from stylegan_lib.tiling import seam_score

    G, tile = translate.load_generator("siamese")
    photo = seam_score(hd_landscape, tile=tile)
    plain = translate.translate_image(G, hd_landscape, tile=tile, norm="tile")
    image = translate.translate_image(G, hd_landscape, tile=tile, norm="image", batch=32)
    assert seam_score(plain, tile=tile) > 1.2 * photo
    assert seam_score(image, tile=tile) <= 1.05 * photo
    # and it is one pass over the whole frame: the same pixels whatever the tile size
    big = translate.translate_image(G, hd_landscape, tile=256, norm="image")
    assert np.abs(big.astype(int) - image.astype(int)).max() <= 1
    assert np.abs(image.astype(float) - np.asarray(hd_landscape, dtype=float)).mean() > 5  # it did paint


def test_thumbnail_stats_and_options(hd_landscape):
    G, tile = translate.load_generator("siamese")
    stats = translate.thumbnail_stats(G, hd_landscape)  # 768 x 448 -> 512 x 299, padded to 512 x 300
    thumb = translate.pil_to_tensor(hd_landscape.resize((512, 299), translate.Image.LANCZOS))
    padded = translate.pad_frame(thumb)
    assert padded.shape[-2:] == (300, 512) and torch.equal(padded[..., :299, :], thumb)
    assert torch.equal(padded[..., 299, :], thumb[..., 297, :])  # reflected, the edge row not repeated
    recorded = G.norm_stats(padded)
    assert all(torch.equal(a, b) for a, b in zip(stats.means, recorded.means, strict=True))
    small = translate.thumbnail_stats(G, np.zeros((5, 3, 3), np.uint8) + 100)  # padded up to 16 x 16
    assert small.means[0].shape[0] == 1
    assert translate.pad_frame(torch.rand(1, 3, 1, 5)).shape[-2:] == (16, 16)
    assert translate.default_tile("siamese", tile, norm="tile", device="cpu") == 64
    assert translate.default_tile("siamese", tile, norm="image", device="cpu") == 512
    assert translate.default_tile("cyclegan", 512, norm="image", device="cpu") == 512
    assert translate.default_overlap("cyclegan", 512, norm="image") == 0
    assert translate.default_overlap("cyclegan", 512, norm="tile") == 64
    with pytest.raises(ValueError, match="unknown norm"):
        translate.translate_image(G, hd_landscape, tile=tile, norm="batch")
    with pytest.raises(ValueError, match="uint8"):
        translate.translate_image(G, np.zeros((8, 8, 3), np.float32), tile=tile, norm="image")


def test_cyclegan_tiles_with_whole_photo_statistics_match_its_whole_frame(hd_landscape):
    # CycleGAN runs the whole frame when it fits; tiled with the photo's statistics (from a
    # thumbnail of the photo itself: at most 512 px, so exact) it gives the same picture
    G, _ = translate.load_generator("cyclegan")
    photo = hd_landscape.resize((448, 256))
    whole = translate.translate_image(G, photo, tile=128, whole_frame_pixels=448 * 256, norm="image")
    tiled = translate.translate_image(G, photo, tile=128, whole_frame_pixels=0, norm="image")
    own = translate.translate_image(G, photo, tile=128, whole_frame_pixels=0, norm="tile", overlap=32)
    # away from the edges, which each pass pads its own way, by CycleGAN's reach (63 px)
    error = lambda a: np.abs(a.astype(float) - whole.astype(float))[64:-64, 64:-64].mean()  # noqa: E731
    assert error(tiled) < 0.1 and error(own) > 1, (error(tiled), error(own))


def test_cli_translates_with_either_norm(hd_landscape, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    photo = tmp_path / "photo.png"
    hd_landscape.resize((300, 200)).save(photo)
    outputs = {}
    for norm in ("image", "tile"):
        out = tmp_path / f"{norm}.png"
        cmd = [sys.executable, "-m", "stylegan_lib", "translate", str(photo), "-o", str(out), "--norm", norm,
               "--device", "cpu", "-q"]  # fmt: skip
        done = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs[norm] = np.asarray(Image.open(out).convert("RGB"))
    G, tile = translate.load_generator("siamese")
    source = np.asarray(Image.open(photo).convert("RGB"))
    for norm, tile_used in (("image", 512), ("tile", 64)):
        whole = translate.whole_frame_pixels("siamese", "cpu", norm=norm)  # 300 x 200: at once with "image"
        expected = translate.translate_image(G, source, tile=tile_used, norm=norm, whole_frame_pixels=whole)
        assert np.abs(outputs[norm].astype(int) - expected.astype(int)).max() <= 1, norm
    assert np.abs(outputs["image"].astype(int) - outputs["tile"].astype(int)).mean() > 2
    assert translate.window_batch(64, tile=64, window=352) == 2 and translate.window_batch(1, tile=64, window=352) == 1


def test_whole_frame_with_whole_photo_statistics_equals_the_tiles(hd_landscape):
    # one call on the whole frame (reflect-padded to multiples of 4) or tiles with context: the
    # same statistics, the same pixels away from the frame's edges (each pads its own way there)
    G, tile = translate.load_generator("siamese")
    photo = np.asarray(hd_landscape.resize((301, 203)))
    assert translate.whole_frame_pixels("siamese", "cpu", norm="image") > 0
    assert translate.whole_frame_pixels("siamese", "cpu", norm="tile") == 0
    whole = translate.translate_image(G, photo, tile=256, norm="image", whole_frame_pixels=10**6)
    tiled = translate.translate_image(G, photo, tile=64, norm="image", whole_frame_pixels=0)
    assert whole.shape == photo.shape
    r = G.receptive_radius
    assert np.abs(whole.astype(int) - tiled.astype(int))[r:-r, r:-r].max() <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the on-device tiling path needs a GPU")
def test_gpu_tiles_and_whole_frame_match_the_cpu(hd_landscape):
    # on CUDA translate_hd cuts the tiles on the device (tile_on_device) and a whole frame runs in
    # one call: both paint what the CPU paints, with whole-photo statistics and context
    photo = np.asarray(hd_landscape.resize((700, 450)))
    G, _ = translate.load_generator("siamese")
    cpu = translate.translate_image(G, photo, tile=128, norm="image")
    G, _ = translate.load_generator("siamese", device="cuda")
    for whole_frame_pixels in (0, 10**7):
        gpu = translate.translate_image(
            G, photo, tile=128, norm="image", device="cuda", batch=8, whole_frame_pixels=whole_frame_pixels
        )
        diff = np.abs(gpu.astype(int) - cpu.astype(int))
        r = G.receptive_radius  # a whole frame pads its own way at the frame's edges
        assert (diff if whole_frame_pixels == 0 else diff[r:-r, r:-r]).max() <= 2
    G, _ = translate.load_generator("siamese", device="cuda", dtype=torch.bfloat16)
    bf16 = translate.translate_image(G, photo, tile=128, norm="image", device="cuda", dtype=torch.bfloat16, batch=8)
    assert np.abs(bf16.astype(int) - cpu.astype(int)).mean() < 3  # bfloat16 keeps 8 bits of mantissa
