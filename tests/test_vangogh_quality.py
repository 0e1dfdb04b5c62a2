"""bench/vangogh_quality.py: the noise figure on hand-made cases, KID and the style gap on synthetic
features, the ROC AUC and the --check logic (no model is run here)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from stylegan_lib import kid

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "vangogh_quality.py"
spec = importlib.util.spec_from_file_location("vangogh_quality", SCRIPT)
vq = importlib.util.module_from_spec(spec)
sys.modules["vangogh_quality"] = vq  # dataclasses look their module up there
spec.loader.exec_module(vq)


def _smooth_image(seed: int, size: int = 256) -> np.ndarray:
    """A photo-like uint8 (size, size, 3) image: white noise with a 1/f^2 power spectrum."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    radius[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = np.fft.fft2(rng.normal(size=(size, size))) / radius
        channels.append(np.real(np.fft.ifft2(spectrum)))
    x = np.stack(channels, axis=-1)
    x = (x - x.min()) / (x.max() - x.min())
    return (40 + 175 * x).round().astype(np.uint8)


def _checkerboard(image: np.ndarray, *, period: int, amplitude: float) -> np.ndarray:
    """``image`` plus a +-amplitude grey-level checkerboard of squares period / 2 px wide (2: pixel-wise)."""
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    board = ((x // (period // 2) + y // (period // 2)) % 2 * 2 - 1) * amplitude
    return np.clip(image + board[..., None], 0, 255).round().astype(np.uint8)


def _blur(image: np.ndarray, radius: float = 1.0) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


@pytest.mark.parametrize("period", [2, 4])
def test_a_checkerboard_scores_worse_than_its_blur_and_the_clean_image(period):
    clean = _smooth_image(0)
    board = _checkerboard(clean, period=period, amplitude=6)
    scores = {name: vq.periodic_noise(im) for name, im in [("clean", clean), ("board", board), ("blur", _blur(board))]}
    assert abs(scores["clean"]) < 0.2  # a natural spectrum: no excess at the upsampling periods
    assert scores["board"] > 2  # per mille of the image's energy: a +-6/255 checkerboard
    assert scores["board"] > 10 * scores["blur"]  # a blur (sigma 1 px) takes most of it away
    # the peak ratio alone does not see the blur at period 4: the pattern and its neighbourhood fade together
    ratios = {name: vq.spectral_peaks(im)[1] for name, im in [("clean", clean), ("board", board)]}
    assert ratios["board"] > ratios["clean"] + 1 and abs(ratios["clean"]) < 0.2


def test_the_noise_figure_is_defined_by_its_spectrum():
    # a pure cosine at 1/4 cycle/px along x puts all its energy at one of the figure's frequencies;
    # the same cosine at 1/5 cycle/px is not at any of them and its own neighbourhood sees it
    clean = _smooth_image(1)
    x = np.arange(clean.shape[1])
    on = np.clip(clean + 8 * np.cos(2 * np.pi * x / 4)[None, :, None], 0, 255).astype(np.uint8)
    off = np.clip(clean + 8 * np.cos(2 * np.pi * x / 5)[None, :, None], 0, 255).astype(np.uint8)
    assert vq.periodic_noise(on) > 2 and abs(vq.periodic_noise(off)) < 0.2
    assert abs(vq.periodic_noise(clean)) < 0.2
    # a PIL image and its array give the same figure; a too small image is refused
    assert vq.periodic_noise(Image.fromarray(on)) == vq.periodic_noise(on)
    with pytest.raises(ValueError, match="too small"):
        vq.periodic_noise(on[:20, :20])


def test_clean_photos_score_like_photos_and_paintings(shared_dir):
    from stylegan_lib.data import list_images
    from stylegan_lib.images import open_image

    root = shared_dir / "data" / "vangogh2photo"
    photos = [np.asarray(open_image(p)) for p in list_images(root / "photos_heldout")[:12]]
    paintings = [np.asarray(open_image(p)) for p in list_images(root / "paintings_heldout")[:12]]
    photo_figure, painting_figure = vq.noise_figure(photos)["mean"], vq.noise_figure(paintings)["mean"]
    assert photo_figure < 0.5 and painting_figure < 0.5  # per mille: straight edges and JPEG blocks
    for period in (2, 4):
        boards = [_checkerboard(p, period=period, amplitude=4) for p in photos]
        assert vq.noise_figure(boards)["mean"] > 4 * max(photo_figure, painting_figure)
    # a blurred photo is no noisier than the photo
    assert vq.noise_figure([_blur(p) for p in photos])["mean"] < photo_figure


def test_kid_of_a_set_with_itself_is_about_zero():
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(200, 32, generator=gen, dtype=torch.float64) for _ in range(2))
    (same,) = vq.paired_kid(a, a, subsets=3)  # whole sets: every subset is the set itself
    (draws,) = vq.paired_kid(a, b, subsets=20, subset_size=100)  # two draws of one distribution
    (apart,) = vq.paired_kid(a, b + 0.5, subsets=20, subset_size=100)
    # the unbiased estimator of a sample against itself is -2 (mean k(x, x) - mean k(x, y)) / n exactly:
    # O(1/n), about 0.07 here, against 1 for a shift of half a standard deviation
    x = a / kid.feature_scale(a)
    k = kid.polynomial_kernel(x, x)
    exact = -2 * (k.diagonal().mean() - (k.sum() - k.diagonal().sum()) / (200 * 199)) / 200
    assert same == pytest.approx([float(exact)] * 3, rel=1e-9)
    assert abs(np.mean(same)) < 0.1 * np.mean(apart) and abs(np.mean(draws)) < 0.05 * np.mean(apart)


def test_paired_kid_matches_kernel_distance_and_pairs_the_subsets():
    gen = torch.Generator().manual_seed(1)
    paintings = torch.randn(60, 8, generator=gen).double() + 1
    a, b = torch.randn(20, 8, generator=gen).double(), torch.randn(20, 8, generator=gen).double() + 0.5
    ka, kb = vq.paired_kid(paintings, a, b, subsets=7, seed=3)
    scale = kid.feature_scale(paintings)
    for values, s in ((ka, a), (kb, b)):
        mean, std = kid.kernel_distance(paintings / scale, s / scale, subsets=7, seed=3)
        assert np.mean(values) == pytest.approx(mean, rel=1e-12)
        assert np.std(values, ddof=1) == pytest.approx(std, rel=1e-9)
    # paired: subset k of both sets is compared with the same paintings (first draw of each seeded generator)
    first = torch.randperm(60, generator=torch.Generator().manual_seed(3))[:20]
    expected = float(
        kid.mmd2_unbiased(paintings[first] / scale, b[torch.randperm(20, generator=_after(3, 60))] / scale)
    )
    assert kb[0] == pytest.approx(expected, rel=1e-12)


def _after(seed: int, n: int) -> torch.Generator:
    gen = torch.Generator().manual_seed(seed)
    torch.randperm(n, generator=gen)
    return gen


def test_style_gap_on_synthetic_features():
    gen = torch.Generator().manual_seed(2)
    d = 16
    paintings = {"relu5_1": torch.randn(300, d, generator=gen).double() + 2.0}
    photos = {"relu5_1": torch.randn(100, d, generator=gen).double()}
    like_paintings = {"relu5_1": torch.randn(100, d, generator=gen).double() + 2.0}
    halfway = {"relu5_1": photos["relu5_1"] + 1.0}
    farther = {"relu5_1": photos["relu5_1"] - 1.0}
    gap = lambda t: vq.style_gap(t, photos, paintings, subsets=20)["relu5_1"]  # noqa: E731
    assert gap(photos)["gap_closed"] == 0.0 and gap(photos)["gap_closed_std"] == 0.0  # nothing changed
    assert gap(like_paintings)["gap_closed"] == pytest.approx(1.0, abs=0.05)  # a draw of the paintings
    assert 0.2 < gap(halfway)["gap_closed"] < 0.95
    assert gap(farther)["gap_closed"] < 0  # moved away from the paintings
    # the reported gap is 1 - ratio of the mean KIDs, from the same figures
    g = gap(halfway)
    assert g["gap_closed"] == pytest.approx(1 - g["kid_translated"] / g["kid_photos"], rel=1e-12)


def test_gap_closed_by_hand_and_its_errors():
    g = vq.gap_closed([0.2, 0.4], [1.0, 1.0])
    assert g["gap_closed"] == pytest.approx(0.7) and g["gap_closed_std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    with pytest.raises(ValueError, match="no gap to close"):
        vq.gap_closed([0.1, 0.2], [-0.1, 0.05])
    with pytest.raises(ValueError, match="paired"):
        vq.gap_closed([0.1], [0.2])


def test_roc_auc_against_the_pairwise_count():
    rng = np.random.default_rng(3)
    pos, neg = list(rng.integers(0, 5, 9)), list(rng.integers(0, 5, 7))
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert vq.roc_auc(pos, neg) == pytest.approx(wins / 63)
    assert vq.roc_auc([2, 3], [0, 1]) == 1.0 and vq.roc_auc([1], [1]) == 0.5


def _figures(gap5, gap3, structure, noise, seam_image, seam_tile=None, sha="x"):
    seams = {"image": {"seam_score": seam_image, "seam_score_model_grid": seam_image}}
    if seam_tile is not None:
        seams["tile"] = {"seam_score": seam_tile, "seam_score_model_grid": seam_tile}
    return {
        "style_gap": {"relu5_1": {"gap_closed": gap5}, "relu3_1": {"gap_closed": gap3}},
        "structure": structure,
        "noise": {"mean": noise},
        "seams_4k": seams,
        "sha256": sha,
    }


def test_check_reads_the_eval_files(tmp_path):
    references = {"noise_paintings": {"mean": 0.15}}

    def write(name, figures, weights=b"w"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "model.safetensors").write_bytes(weights)
        figures["sha256"] = vq._sha256(tmp_path / name / "model.safetensors")
        (tmp_path / name / "eval.json").write_text(json.dumps({"new": figures, "references": references}))

    write("siamese-vangogh", _figures(0.75, 0.9, 0.65, 0.14, 1.02, seam_tile=1.3))
    write("siamese-vangogh-naive", _figures(0.8, 0.9, 0.7, 0.1, 1.0, seam_tile=2.0))
    write("cyclegan-vangogh", _figures(0.71, 0.86, 0.61, 0.15, 1.04))
    assert vq.check(tmp_path) == []
    write("cyclegan-vangogh", _figures(0.43, 0.86, 0.52, 1.44, 1.2))  # today's CycleGAN-like figures
    failures = vq.check(tmp_path)
    assert [f.split(" (")[0] for f in failures] == [
        "cyclegan-vangogh: style_gap_relu5_1 not met",
        "cyclegan-vangogh: structure not met",
        "cyclegan-vangogh: noise not met",
        "cyclegan-vangogh: seam_4k_image not met",
    ]
    write("siamese-vangogh-naive", _figures(0.8, 0.9, 0.7, 0.1, 1.0, seam_tile=1.2))  # naive now beats Combo
    assert any("Combo's seam score 1.300 is not below naive's 1.200" in f for f in vq.check(tmp_path))
    (tmp_path / "siamese-vangogh" / "model.safetensors").write_bytes(b"retrained")  # eval.json now stale
    assert any(f.startswith("siamese-vangogh: eval.json measured other weights") for f in vq.check(tmp_path))
    (tmp_path / "cyclegan-vangogh" / "eval.json").unlink()
    assert any(f.startswith("cyclegan-vangogh: no ") for f in vq.check(tmp_path))


def test_the_lattice_probe_adds_a_lattice_the_noise_figure_sees():
    path = SCRIPT.parent / "lattice_probe.py"
    spec_ = importlib.util.spec_from_file_location("lattice_probe", path)
    probe = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(probe)
    grid = probe.lattice(8, 8, amplitude=4)
    assert set(np.unique(grid)) == {-4.0, 0.0, 4.0}  # the mean of two +-1 patterns
    assert np.allclose(grid[:, :4], grid[:, 4:]) and not np.allclose(grid[:, :2], grid[:, 2:4])  # period 4
    clean = _smooth_image(2)
    (same,) = probe.add_lattice([clean], amplitude=0)
    assert np.array_equal(same, clean)
    (marked,) = probe.add_lattice([clean], amplitude=6)
    assert marked.dtype == np.uint8 and np.abs(marked.astype(int) - clean).max() <= 6
    assert vq.periodic_noise(marked) > 2 > 0.2 > abs(vq.periodic_noise(clean))
