"""data.py: listing image folders and the seeded in-memory crop sampler."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan_lib.data import CropConfig, CropSampler, list_images


@pytest.fixture(scope="module")
def real_dir(shared_dir, tmp_path_factory):
    """Five real 256x256 photos of the vangogh2photo set, copied to a temporary folder."""
    src = sorted((shared_dir / "data" / "vangogh2photo" / "photos_heldout").glob("*.jpg"))[:5]
    if len(src) < 5:
        pytest.skip("vangogh2photo/photos_heldout not found in the shared data folder")
    out = tmp_path_factory.mktemp("real")
    for p in src:
        shutil.copy(p, out / p.name)
    return out


def write_image(path, size, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------------- list_images


def test_list_images_is_recursive_sorted_and_filters_by_suffix(tmp_path):
    for name in ["b.png", "a.JPG", "sub/c.webp", "sub/deep/d.bmp", "e.jpeg"]:
        write_image(tmp_path / name, (8, 8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "folder.png").mkdir()  # a folder with an image suffix is not an image
    found = list_images(tmp_path)
    assert found == sorted(found)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in found) == sorted(
        ["b.png", "a.JPG", "sub/c.webp", "sub/deep/d.bmp", "e.jpeg"]
    )
    # several folders are merged, without duplicates
    assert list_images(tmp_path, tmp_path / "sub") == found


def test_list_images_errors_name_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        list_images(empty)
    with pytest.raises(ValueError, match="missing"):
        list_images(tmp_path / "missing")
    write_image(tmp_path / "ok" / "a.png", (8, 8))
    with pytest.raises(ValueError, match="empty"):  # one bad folder among good ones still fails
        list_images(tmp_path / "ok", empty)
    with pytest.raises(ValueError, match="at least one"):
        list_images()


# ----------------------------------------------------------------------------- CropSampler


def test_crops_have_the_right_shape_and_range(real_dir):
    sampler = CropSampler(list_images(real_dir), CropConfig(crop=64))
    assert len(sampler) == 5 and sampler.image_sizes == [(256, 256)] * 5
    x = sampler.sample(7)
    assert x.shape == (7, 3, 64, 64) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and 0.05 < x.mean() < 0.95
    assert torch.equal(x * 255, (x * 255).round())  # exact 8-bit values


def test_crops_come_from_the_images(tmp_path):
    # One image whose pixel (y, x) encodes its position: every crop is a contiguous window of it.
    h, w = 20, 30
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([yy * 10, xx * 8, np.full_like(yy, 77)], axis=-1).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "grid.png")
    sampler = CropSampler([tmp_path / "grid.png"], CropConfig(crop=16, flip=True, seed=3))
    flips = 0
    for crop in (sampler.sample(40) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy():
        y0, x0 = crop[0, 0, 0] // 10, crop[0, 0, 1] // 8
        window = a[y0 : y0 + 16]
        if crop[0, 0, 1] > crop[0, -1, 1]:  # flipped horizontally
            flips += 1
            x0 = crop[0, -1, 1] // 8
            assert np.array_equal(crop, window[:, x0 : x0 + 16][:, ::-1])
        else:
            assert np.array_equal(crop, window[:, x0 : x0 + 16])
    assert 5 < flips < 35
    no_flip = CropSampler([tmp_path / "grid.png"], CropConfig(crop=16, flip=False, seed=3)).sample(40)
    assert (no_flip[:, 1, 0, 0] < no_flip[:, 1, 0, -1]).all()  # x increases left to right in every crop


def test_same_seed_same_batches_other_seed_other_batches(real_dir):
    paths = list_images(real_dir)
    a = CropSampler(paths, CropConfig(crop=48, seed=1))
    b = CropSampler(paths, CropConfig(crop=48, seed=1))
    c = CropSampler(paths, CropConfig(crop=48, seed=2))
    for _ in range(3):
        xa, xb, xc = a.sample(4), b.sample(4), c.sample(4)
        assert torch.equal(xa, xb)
        assert not torch.equal(xa, xc)


def test_state_dict_resumes_the_same_stream(real_dir):
    paths = list_images(real_dir)
    run = CropSampler(paths, CropConfig(crop=32, seed=5))
    run.sample(3)
    state = json.loads(json.dumps(run.state_dict()))  # survives a JSON round trip (train_state.json)
    expected = [run.sample(4) for _ in range(2)]

    resumed = CropSampler(paths, CropConfig(crop=32, seed=99))  # a fresh process, any seed
    resumed.load_state_dict(state)
    for want in expected:
        assert torch.equal(resumed.sample(4), want)

    other = CropSampler(paths[:3], CropConfig(crop=32))
    with pytest.raises(ValueError, match="same image folders"):
        other.load_state_dict(state)


def test_max_side_downscales_the_decoded_images(tmp_path):
    write_image(tmp_path / "wide.png", (300, 150))
    write_image(tmp_path / "tall.jpg", (90, 240), seed=1)
    write_image(tmp_path / "small.png", (100, 80), seed=2)  # already within max_side: untouched
    sampler = CropSampler(sorted(tmp_path.iterdir()), CropConfig(crop=32, max_side=120))
    assert sampler.image_sizes == [(100, 80), (45, 120), (120, 60)]  # small, tall, wide
    # short sides below the crop are upscaled back to it, after max_side
    sampler = CropSampler([tmp_path / "tall.jpg"], CropConfig(crop=64, max_side=128))
    assert sampler.image_sizes == [(64, 171)]
    assert sampler.sample(2).shape == (2, 3, 64, 64)


def test_max_side_on_a_real_image(real_dir):
    sampler = CropSampler(list_images(real_dir)[:2], CropConfig(crop=64, max_side=100))
    assert sampler.image_sizes == [(100, 100)] * 2
    assert sampler.sample(3).shape == (3, 3, 64, 64)


def test_images_smaller_than_the_crop_are_upscaled(tmp_path):
    write_image(tmp_path / "tiny.png", (10, 6))
    write_image(tmp_path / "exact.png", (32, 32), seed=1)
    sampler = CropSampler(list_images(tmp_path), CropConfig(crop=32))
    assert sampler.image_sizes == [(32, 32), (53, 32)]  # exact, tiny: short side == crop
    x = sampler.sample(5)
    assert x.shape == (5, 3, 32, 32) and x.min() >= 0 and x.max() <= 1


def test_bad_configs_and_arguments_fail_early(tmp_path):
    with pytest.raises(ValueError, match="crop"):
        CropConfig(crop=0)
    with pytest.raises(ValueError, match="max_side"):
        CropConfig(crop=128, max_side=64)
    with pytest.raises(ValueError, match="at least one"):
        CropSampler([], CropConfig())
    sampler = CropSampler([write_image(tmp_path / "a.png", (16, 16))], CropConfig(crop=16))
    with pytest.raises(ValueError, match="batch"):
        sampler.sample(0)
