"""Latent tools (seed 003) on tiny random-weight ProGAN generators (CPU, seconds)."""

import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan_lib import latent
from stylegan_lib.progan import Generator, ProGANConfig, generate, sample_latents

torch.set_num_threads(1)


def tiny_G(z_dim: int, *, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(ProGANConfig(z_dim=z_dim, img_resolution=16, fmap_base=64, fmap_max=32)).eval()


@pytest.fixture(scope="module")
def G():
    return tiny_G(4)


@pytest.fixture(scope="module")
def target(G):
    return generate(G, sample_latents(1, z_dim=4, seed=1000))  # [1, 3, 16, 16] in [0, 1]


def test_norm_preserving_interpolation():
    v1, v2 = torch.randn(512), 3 * torch.randn(512)
    path = latent.norm_preserving_interpolation(v1, v2)
    assert path.shape == (150, 512) and path.dtype == torch.float32
    torch.testing.assert_close(path.norm(dim=1), v1.norm().expand(150), atol=1e-5, rtol=0)
    assert torch.equal(path[0], v1)
    torch.testing.assert_close(path[-1], v2 * v1.norm() / v2.norm())
    # the interior follows the straight line between the endpoints, pushed out to the sphere
    mid = (v1 + path[-1]) / 2
    torch.testing.assert_close(path[74:76].mean(0) / path[74:76].mean(0).norm(), mid / mid.norm(), atol=1e-2, rtol=0)
    with pytest.raises(ValueError, match="opposite"):
        latent.norm_preserving_interpolation(v1, -v1, num_steps=3)


def test_slerp_endpoints_and_unit_sphere():
    v1, v2 = torch.randn(64), torch.randn(64)
    path = latent.slerp(v1, v2, num_steps=9)
    assert path.shape == (9, 64) and torch.equal(path[0], v1) and torch.equal(path[-1], v2)
    u1, u2 = v1 / v1.norm(), v2 / v2.norm()
    torch.testing.assert_close(latent.slerp(u1, u2, num_steps=9).norm(dim=1), torch.ones(9))


def test_render_frames_batches(G):
    z = sample_latents(5, z_dim=4, seed=1)
    frames = latent.render_frames(G, z, batch=2)
    assert frames.shape == (5, 3, 16, 16) and frames.min() >= 0 and frames.max() <= 1
    torch.testing.assert_close(frames, generate(G, z))
    assert latent.render_frames(G, z, stage=1).shape == (5, 3, 8, 8)


@pytest.mark.parametrize(
    ("z_dim", "steps"),
    [
        (4, 200),  # the seed's defaults (200 steps, lr 0.01) are enough for z_dim = 4
        (16, 600),  # z_dim = 16 needs ~600 steps at lr 0.01 (200 give only 13-23 dB on this tiny G)
    ],
)
def test_closest_latent_recovers_a_generated_image(z_dim, steps):
    G = tiny_G(z_dim)
    z_true = sample_latents(1, z_dim=z_dim, seed=1000)
    target = generate(G, z_true)
    start = time.perf_counter()
    result = latent.closest_latent(G, target[0], steps=steps, restarts=4)
    elapsed = time.perf_counter() - start
    assert result.psnr >= 30, f"{result.psnr:.1f} dB after {steps} steps ({elapsed:.1f} s)"
    assert result.psnr == pytest.approx(latent.psnr(result.image, target[0]))
    assert result.latent.shape == (z_dim,) and result.image.shape == (3, 16, 16)
    # G only sees the direction of z: the recovered direction is the target's
    cos = torch.nn.functional.cosine_similarity(result.latent, z_true[0], dim=0)
    assert cos > 0.99
    assert result.loss == result.losses[-1] < result.losses[0]


def test_batched_multi_start_returns_the_best_candidate(G, target):
    starts = sample_latents(4, z_dim=4, seed=7)
    batched = latent.closest_latent(G, target, steps=40, init=starts)
    alone = [latent.closest_latent(G, target, steps=40, init=starts[i : i + 1]) for i in range(4)]
    losses = [r.loss for r in alone]
    best = int(np.argmin(losses))
    assert len(set(np.round(losses, 1))) > 1  # the candidates really differ
    assert batched.loss == pytest.approx(losses[best], rel=1e-4)
    torch.testing.assert_close(batched.latent, alone[best].latent, atol=1e-4, rtol=0)
    assert batched.losses == pytest.approx([min(r.losses[i] for r in alone) for i in range(41)], rel=1e-4)


def test_frames_and_losses_counts(G, target):
    result = latent.closest_latent(G, target, steps=22, frame_every=5)
    assert len(result.frames) == 22 // 5 + 1  # steps 0, 5, 10, 15, 20: the initial frame is kept
    assert len(result.losses) == 22 + 1  # before the first step, then after each step
    assert all(f.shape == (3, 16, 16) for f in result.frames)


def test_generator_stays_frozen_and_is_restored(target):
    G = tiny_G(4).train()
    G.to_rgb[0].weight.requires_grad_(False)  # a mixed pattern, restored as it was
    flags = [p.requires_grad for p in G.parameters()]
    before = [p.detach().clone() for p in G.parameters()]
    seen = []

    def check(progress):
        seen.append(any(p.requires_grad for p in G.parameters()) or G.training)

    latent.closest_latent(G, target, steps=5, callback=check)
    assert seen and not any(seen)  # frozen and in eval mode during the search
    assert [p.requires_grad for p in G.parameters()] == flags and G.training
    assert all(torch.equal(p, b) for p, b in zip(G.parameters(), before, strict=True))
    assert all(p.grad is None for p in G.parameters())


def test_callback_stops_early(G, target):
    progress = []
    result = latent.closest_latent(G, target, steps=50, callback=lambda p: progress.append(p) or p.step == 3)
    assert [p.step for p in progress] == [0, 1, 2, 3] and progress[-1].steps == 50
    assert len(result.losses) == 4 and result.loss == progress[-1].loss
    assert progress[-1].frame.shape == (3, 16, 16) and math.isfinite(progress[-1].psnr)
    # the search had already taken its 4th step: the latent returned is still the one of step 3's image
    torch.testing.assert_close(generate(G, result.latent[None])[0], result.image)
    torch.testing.assert_close(result.image, progress[-1].frame)


def test_cuda_graph_needs_a_cuda_generator(G, target):
    with pytest.raises(ValueError, match="CUDA"):
        latent.closest_latent(G, target, steps=2, cuda_graph=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA-graph search needs a GPU")
def test_cuda_graph_search_equals_the_eager_loop(target):
    G = tiny_G(4).cuda()
    runs = [latent.closest_latent(G, target, steps=30, restarts=4, cuda_graph=flag) for flag in (False, True)]
    torch.testing.assert_close(runs[1].latent, runs[0].latent, atol=1e-4, rtol=0)
    assert runs[1].losses == pytest.approx(runs[0].losses, rel=1e-4)
    assert len(runs[1].frames) == len(runs[0].frames)


def test_bfloat16_autocast_search_finds_the_float32_answer():
    # G in bfloat16 under autocast, z / Adam / the objective in float32: the same latent direction
    G = tiny_G(4)
    z_true = sample_latents(1, z_dim=4, seed=1000)
    target = generate(G, z_true)
    full = latent.closest_latent(G, target, steps=200, restarts=4)
    half = latent.closest_latent(G, target, steps=200, restarts=4, autocast=torch.bfloat16)
    assert half.latent.dtype == half.image.dtype == torch.float32
    assert full.psnr >= 30 and half.psnr >= 30
    assert torch.nn.functional.cosine_similarity(half.latent, z_true[0], dim=0) > 0.99
    assert half.losses != pytest.approx(full.losses, rel=1e-6)  # G really ran in bfloat16
    # the preselection's forward passes run under autocast too: the same best start, up to rounding
    picks = [latent.closest_latent(G, target, steps=0, preselect=64, autocast=a) for a in (None, torch.bfloat16)]
    assert picks[1].loss == pytest.approx(picks[0].loss, rel=0.02)
    for bad in (torch.float32, torch.float64, torch.int8):
        with pytest.raises(ValueError, match="autocast"):
            latent.closest_latent(G, target, steps=1, autocast=bad)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA-graph search needs a GPU")
def test_cuda_graph_search_with_autocast_equals_the_eager_loop(target):
    G = tiny_G(4).cuda()
    runs = [
        latent.closest_latent(G, target, steps=30, restarts=4, cuda_graph=flag, autocast=torch.bfloat16)
        for flag in (False, True)
    ]
    torch.testing.assert_close(runs[1].latent, runs[0].latent, atol=1e-2, rtol=0)
    assert runs[1].psnr == pytest.approx(runs[0].psnr, abs=0.5)


def test_closest_latent_rejects_a_wrong_size_target(G):
    with pytest.raises(ValueError, match="prepare_target"):
        latent.closest_latent(G, torch.rand(1, 3, 32, 32), steps=1)


def test_psnr_against_numpy():
    a, b = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
    mse = np.mean((a.numpy().astype(np.float64) - b.numpy().astype(np.float64)) ** 2)
    assert latent.psnr(a, b) == pytest.approx(10 * np.log10(1 / mse))
    assert latent.psnr(a, a) == math.inf


def test_save_load_latent_round_trip(tmp_path):
    z = torch.randn(16)
    path = latent.save_latent(z, tmp_path / "z")
    assert path.name == "z.npy"
    assert torch.equal(latent.load_latent(path, z_dim=16), z)
    with pytest.raises(ValueError, match="expects 8"):
        latent.load_latent(path, z_dim=8)
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="does not hold a latent"):
        latent.load_latent(tmp_path / "bad.npy")


def test_load_latent_refuses_what_is_not_a_latent(tmp_path):
    cases = {
        "corrupt.npy": (b"\x93NUMPY garbage", "not a .npy latent"),
        "empty.npy": (b"", "not a .npy latent"),
        "photo.npy": (b"\xff\xd8\xff\xe0 a JPEG renamed", "not a .npy latent"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            latent.load_latent(tmp_path / name)
    np.save(tmp_path / "pickled.npy", np.array([{"z": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a .npy latent"):  # never unpickled
        latent.load_latent(tmp_path / "pickled.npy")
    np.savez(tmp_path / "archive.npz", z=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="archive"):
        latent.load_latent(tmp_path / "archive.npz")
    for values in (np.array([1, np.nan, 0, 0], np.float32), np.zeros(4, np.float32)):
        np.save(tmp_path / "odd.npy", values)
        with pytest.raises(ValueError, match="non-finite values or only zeros"):
            latent.load_latent(tmp_path / "odd.npy")
    # a 400 MB latent (a sparse file): refused on its header, before any of it is read
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(10**8,))
    del big
    with pytest.raises(ValueError, match="expects 512"):
        latent.load_latent(tmp_path / "big.npy", z_dim=512)
    with pytest.raises(ValueError, match="at most 4,096"):  # without z_dim: refused before it is read
        latent.load_latent(tmp_path / "big.npy")
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.jpg", "w") as z:  # np.load would raise BadZipFile on a broken one
        z.writestr("x.npy", b"broken")
    (tmp_path / "cut.npy").write_bytes(b"PK\x03\x04 cut short")
    for name in ("zip.jpg", "cut.npy"):
        with pytest.raises(ValueError, match="zip archive"):
            latent.load_latent(tmp_path / name)
    with pytest.raises(ValueError, match="cannot be read"):
        latent.load_latent(tmp_path)  # a folder
    np.save(tmp_path / "row.npy", np.ones((1, 4), np.float64))  # [1, z_dim] and float64 are accepted
    assert latent.load_latent(tmp_path / "row.npy", z_dim=4).dtype == torch.float32


def test_gif_has_every_frame(tmp_path):
    frames = torch.linspace(0, 1, 7).view(7, 1, 1, 1).expand(7, 3, 8, 8)  # 7 distinct grey frames
    path = latent.save_gif(frames, tmp_path / "sub" / "walk.gif", fps=25)
    with Image.open(path) as gif:
        assert gif.n_frames == 7 and gif.size == (8, 8)
        assert gif.info["duration"] == 40
    with pytest.raises(ValueError, match=".gif"):
        latent.save_gif(frames, tmp_path / "walk.png")


def test_mp4_without_imageio_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(latent.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install imageio imageio-ffmpeg"):
        latent.save_mp4(torch.rand(2, 3, 8, 8), tmp_path / "walk.mp4")


def test_prepare_target_crops_the_centre_square():
    img = Image.new("RGB", (30, 20), (255, 0, 0))  # red borders left and right ...
    img.paste((0, 255, 0), (5, 0, 25, 20))  # ... around a green 20 x 20 centre
    t = latent.prepare_target(img, resolution=8)
    assert t.shape == (1, 3, 8, 8) and t.dtype == torch.float32
    torch.testing.assert_close(t[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert t[0, 0].max() == 0  # no red left anywhere


def test_preselect_starts_from_the_best_random_latents(target):
    G = tiny_G(16)
    pool = sample_latents(64, z_dim=16, seed=3)  # what preselect=64 draws from seed 3
    with torch.no_grad():
        image = generate(G, pool)
        scores = (image - target).abs().flatten(1).sum(1) + (pool.norm(dim=1) - 4).abs()  # sqrt(16) = 4
    best = scores.argsort()[:4]
    found = latent.closest_latent(G, target, steps=0, restarts=4, preselect=64, seed=3)
    assert found.loss == pytest.approx(scores[best[0]].item(), rel=1e-5)
    torch.testing.assert_close(found.latent, pool[best[0]])
    # and then searches from exactly those four
    searched = latent.closest_latent(G, target, steps=30, restarts=4, preselect=64, seed=3)
    assert searched.losses == pytest.approx(latent.closest_latent(G, target, steps=30, init=pool[best]).losses)
    plain = latent.closest_latent(G, target, steps=0, restarts=4, seed=3)
    assert found.loss <= plain.loss


@pytest.mark.parametrize("kwargs", [dict(restarts=4, preselect=2), dict(preselect=8, init=torch.zeros(1, 4))])
def test_preselect_rejects_what_it_cannot_do(G, target, kwargs):
    with pytest.raises(ValueError, match="preselect"):
        latent.closest_latent(G, target, steps=1, **kwargs)
