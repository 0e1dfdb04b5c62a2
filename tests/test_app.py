"""The real app: `python app.py` on loopback, driven through gradio_client (tiny jobs)."""

import io
import json
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from webapp import share

pytestmark = pytest.mark.app

SETTINGS = dict(log_alpha=4, log_beta=-2, tv_weight=50, steps=4, size=64, optimizer="adam",
                preserve_colors=False, num_scales=1, seed=0)  # fmt: skip


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server, verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, content_photo):
    path = tmp_path_factory.mktemp("app") / "content.png"
    content_photo.resize((96, 96)).save(path)
    return path


@pytest.fixture(scope="module")
def painting(tmp_path_factory, style_painting):
    path = tmp_path_factory.mktemp("app") / "style.jpg"
    style_painting.save(path)
    return path


def nst(client, content, style, **overrides):
    return client.predict(
        handle_file(str(content)), handle_file(str(style)), *{**SETTINGS, **overrides}.values(), api_name="/nst"
    )


def test_every_tab_is_served(app_server):
    config = json.loads(urllib.request.urlopen(app_server + "config", timeout=10).read())
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Van Gogh HD", "Neural style transfer", "ProGAN", "Compare methods"} <= labels
    endpoints = {d.get("api_name") for d in config["dependencies"]}
    assert {
        *("nst", "nst_ratio_grid", "nst_stop", "vangogh", "vangogh_compare", "compare"),
        *("progan_sample", "progan_render", "progan_interpolate", "progan_project"),
        *("nst_share_link", "vangogh_share_link", "progan_share_link", "compare_share_link"),
    } <= endpoints


def test_nst_endpoint_returns_the_image(client, photo, painting):
    preview, status, download = nst(client, photo, painting)
    assert status.startswith("Done: 64×64")
    with Image.open(download) as full:
        assert full.format == "PNG" and full.size == (64, 64)
        pixels = np.asarray(full.convert("RGB"), dtype=np.float64)
    with Image.open(preview) as shown:
        assert shown.size == (64, 64)
    source = np.asarray(Image.open(photo).convert("RGB").resize((64, 64)), dtype=np.float64)
    assert 1.0 < np.abs(pixels - source).mean() < 100  # changed by the style, still the photo


def test_previews_are_streamed(client, photo, painting):
    job = client.submit(
        handle_file(str(photo)), handle_file(str(painting)), *{**SETTINGS, "steps": 60}.values(), api_name="/nst"
    )
    final = job.result(timeout=300)
    outputs = job.outputs()
    assert final[1].startswith("Done")
    previews = [o for o in outputs[:-1] if o[1].startswith("Step ")]
    assert previews, f"no preview was streamed before the result: {outputs}"


def test_stop_ends_the_job_early_and_keeps_the_result(app_server, photo, painting):
    import time

    client = Client(app_server, verbose=False)  # one session: Stop applies to its own job
    job = client.submit(
        handle_file(str(photo)), handle_file(str(painting)), *{**SETTINGS, "steps": 1000}.values(), api_name="/nst"
    )
    while not any(o[1].startswith("Step ") for o in job.outputs()):
        assert not job.done(), job.outputs()
        time.sleep(0.2)
    assert "Stopping" in client.predict(api_name="/nst_stop")
    preview, status, download = job.result(timeout=120)
    assert status.startswith("Done") and "stopped at step" in status
    assert Image.open(download).size == (64, 64)


def test_ratio_grid(client, photo, painting):
    gallery = client.predict(
        handle_file(str(photo)), handle_file(str(painting)), 4, 50, "adam", False, 0, api_name="/nst_ratio_grid"
    )
    assert [item["caption"].split(" (")[0] for item in gallery] == [f"α/β = {r:.0e}" for r in (1e4, 1e5, 1e6, 1e7, 1e8)]
    assert all(Image.open(item["image"]).size[0] > 0 for item in gallery)


def _bad_files(tmp):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    jpeg = io.BytesIO()
    noise.save(jpeg, "JPEG")
    files = {
        "empty.png": b"",
        "text.jpg": b"hello, this is not an image\n",
        "truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    # A decompression bomb: a tiny 1-bit PNG whose pixels claim 30000 x 30000.
    Image.new("1", (30000, 30000)).save(tmp / "bomb.png")
    return {name: tmp / name for name in [*files, "bomb.png"]}


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty.png", "empty"),
        ("text.jpg", "Not an image"),
        ("truncated.jpg", "truncated or corrupt"),
        ("bomb.png", "too large"),
    ],
)
def test_bad_uploads_get_a_clear_message(client, tmp_path_factory, painting, name, message):
    bad = _bad_files(tmp_path_factory.mktemp("bad"))[name]
    with pytest.raises(AppError, match=message):
        nst(client, bad, painting)
    with pytest.raises(AppError, match=message):
        nst(client, painting, bad)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "P", "RGBA", "LA", "exif"])
def test_odd_modes_are_accepted(client, tmp_path_factory, photo, painting, mode):
    img = Image.open(photo).convert("RGB").resize((80, 40))
    path = tmp_path_factory.mktemp("modes") / f"odd-{mode.replace(';', '')}.png"
    if mode == "CMYK":
        path = path.with_suffix(".jpg")
        img.convert("CMYK").save(path)
    elif mode == "I;16":
        gray = (np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        Image.fromarray(gray).save(path)  # uint16 -> mode I;16
    elif mode == "exif":
        path = path.with_suffix(".jpg")
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise to display
        img.save(path, exif=exif)
    else:
        img.convert(mode).save(path)
    preview, status, download = nst(client, path, painting, steps=1)
    expected = (32, 64) if mode == "exif" else (64, 32)  # the EXIF-rotated photo is portrait
    assert Image.open(download).size == expected, status


def test_huge_upload_is_downscaled_to_the_stated_cap(client, tmp_path_factory, painting):
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("RGB", (8000, 6000), (90, 140, 200)).save(path)  # 48 MP > the 40 MP cap
    preview, status, download = nst(client, path, painting, steps=1)
    assert "(8000×6000) was downscaled to" in status
    assert Image.open(download).size == (64, 48)


def test_model_tabs_without_weights_say_what_to_do(tmp_path, monkeypatch):
    """With no checkpoints and no Hub, each tab names what is missing and how to get it."""
    import gradio as gr

    from webapp import progan_tab
    from webapp.common import availability_notice

    monkeypatch.setenv("STYLEGAN_LIB_CHECKPOINTS", str(tmp_path))
    progan_tab.load_progan.cache_clear()
    notice = availability_notice("siamese-vangogh", "progan-faces")
    assert notice.count("not available") == 2 and str(tmp_path / "progan-faces") in notice
    with pytest.raises(gr.Error, match=r"progan-faces.*not found.*Fix: put model.safetensors"):
        progan_tab.run_progan_sample(0)
    progan_tab.load_progan.cache_clear()


SHIPPED_PROGAN = Path(__file__).resolve().parents[1] / "checkpoints" / "progan-faces" / "model.safetensors"
needs_progan = pytest.mark.skipif(not SHIPPED_PROGAN.is_file(), reason="no ProGAN checkpoint shipped in this build")


@needs_progan
def test_progan_sample_is_reproducible(client):
    first, npy = client.predict(3, api_name="/progan_sample")
    again, _ = client.predict(3, api_name="/progan_sample")
    other, _ = client.predict(4, api_name="/progan_sample")
    pixels = [np.asarray(Image.open(p)) for p in (first, again, other)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[0], pixels[2])
    assert np.load(npy, allow_pickle=False).ndim == 1


@needs_progan
def test_progan_interpolation_animation(client):
    gif, files = client.predict(0, 1, 12, "norm-preserving", 10, api_name="/progan_interpolate")
    with Image.open(gif) as anim:
        assert anim.n_frames >= 2  # Pillow may merge identical neighbouring frames, never more than 12
        assert anim.n_frames <= 12
    assert any(f.endswith(".gif") for f in files)
    # the MP4 (imageio-ffmpeg, pinned in requirements.txt): H.264, every frame, the GIF's pictures
    import imageio.v3 as iio

    (mp4,) = [f for f in files if f.endswith(".mp4")]
    assert iio.immeta(mp4)["codec"] == "h264"
    video = iio.imread(mp4)
    assert video.shape[0] == 12 and video.shape[1:] == (256, 256, 3)
    with Image.open(gif) as anim:
        first = np.asarray(anim.convert("RGB"), dtype=np.float64)
    assert np.abs(video[0] - first).mean() < 8  # lossy video and a 256-colour GIF of the same face


@needs_progan
def test_progan_closest_latent_search(client):
    image, status, gif, npy = client.predict(None, 7, False, 20, 2, 0.05, api_name="/progan_project")
    assert status.startswith("PSNR ") and "20 steps × 2 starts" in status
    with Image.open(image) as pair:
        assert pair.width == 2 * pair.height  # target | result
    assert Image.open(gif).n_frames >= 2
    assert np.load(npy, allow_pickle=False).ndim == 1
    # the downloaded latent, uploaded again, renders the search's result: a shared result reproduced
    again = client.predict(handle_file(npy), api_name="/progan_render")
    with Image.open(image) as pair, Image.open(again) as face:
        result = np.asarray(pair.crop((pair.width // 2, 0, pair.width, pair.height)))[:, 16:]
        # (the display's Lanczos upscaling mixes the target into the result's first columns, and
        # upscales 64 -> 256 px in one image and 128 -> 512 px in the other: rounding differs)
        diff = np.abs(np.asarray(face)[:, 16:].astype(int) - result.astype(int))
        assert diff.mean() < 0.5 and diff.max() <= 8


@needs_progan
def test_progan_share_link_carries_the_latent(client):
    _, npy = client.predict(5, api_name="/progan_sample")
    link = client.predict(5, handle_file(npy), 0, 1, 150, 25, "slerp", None, None, 7, 200, 8, 0.05, 256,
                          api_name="/progan_share_link")  # fmt: skip
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    assert query["tab"] == "progan" and "from_latent" not in query and "to_latent" not in query
    assert np.array_equal(share.latent_from_text(query["latent"], z_dim=512).numpy(), np.load(npy))


@needs_progan
def test_progan_interpolation_to_a_saved_latent(client):
    # the face of seed 5, saved as .npy, ends an animation from seed 0 instead of seed 99's face
    face, npy = client.predict(5, api_name="/progan_sample")
    unused, _ = client.predict(99, api_name="/progan_sample")
    gif, _ = client.predict(0, 99, 6, "slerp", 10, None, handle_file(npy), api_name="/progan_interpolate")
    assert Path(gif).name.startswith("interpolation-seed0-latent")  # not "-99": the file names what it shows
    with Image.open(gif) as anim, Image.open(face) as goal, Image.open(unused) as other:
        anim.seek(anim.n_frames - 1)
        last = np.asarray(anim.convert("RGB")).astype(int)
        to_goal, to_other = np.abs(last - np.asarray(goal)).mean(), np.abs(last - np.asarray(other)).mean()
        assert to_goal < 8 and to_other > 3 * to_goal  # the GIF's dithered palette is all that differs


@needs_progan
def test_progan_render_refuses_a_bad_latent_clearly(client, tmp_path):
    (tmp_path / "face.npy").write_bytes(b"\xff\xd8\xff\xe0 a JPEG renamed")
    np.save(tmp_path / "short.npy", np.ones(8, np.float32))
    for name, message in (("face.npy", "face.npy is not a .npy latent"), ("short.npy", "the model expects 512")):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(tmp_path / name)), api_name="/progan_render")
    with pytest.raises(AppError, match="No latent vector"):
        client.predict(None, api_name="/progan_render")
    with pytest.raises(AppError, match="'to' latent: short.npy holds a latent of size 8"):
        short = handle_file(str(tmp_path / "short.npy"))
        client.predict(0, 1, 6, "slerp", 10, None, short, api_name="/progan_interpolate")


SHIPPED_DCGAN = Path(__file__).resolve().parents[1] / "checkpoints" / "dcgan-faces" / "model.safetensors"


@pytest.mark.skipif(not SHIPPED_DCGAN.is_file(), reason="no DCGAN checkpoint shipped in this build")
def test_the_dcgan_baseline_through_every_face_endpoint(client):
    """The faces tab's second model: its own latents (z 100), faces, walks, searches and links."""
    from stylegan_lib import progan

    face, npy = client.predict(3, "dcgan-faces", api_name="/progan_sample")
    pro_face, pro_npy = client.predict(3, "progan-faces", api_name="/progan_sample")
    expected = progan.sample_latents(1, z_dim=100, seed=3)[0].numpy()
    assert np.array_equal(np.load(npy, allow_pickle=False), expected) and np.load(pro_npy).shape == (512,)
    with Image.open(face) as a, Image.open(pro_face) as b:
        assert a.size == b.size == (256, 256) and np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 10
    gif, _ = client.predict(0, 1, 6, "slerp", 10, None, handle_file(npy), "dcgan-faces", api_name="/progan_interpolate")
    with Image.open(gif) as anim, Image.open(face) as goal:
        anim.seek(anim.n_frames - 1)
        assert np.abs(np.asarray(anim.convert("RGB")).astype(int) - np.asarray(goal)).mean() < 8
    image, status, _, found = client.predict(None, 7, False, 20, 2, 0.05, 64, "dcgan-faces",
                                             api_name="/progan_project")  # fmt: skip
    assert status.startswith("PSNR ") and np.load(found).shape == (100,)
    again = client.predict(handle_file(found), "dcgan-faces", api_name="/progan_render")
    with Image.open(image) as pair, Image.open(again) as rendered:
        result = np.asarray(pair.crop((pair.width // 2, 0, pair.width, pair.height)))[:, 16:]
        assert np.abs(np.asarray(rendered)[:, 16:].astype(int) - result.astype(int)).mean() < 0.5
    with pytest.raises(AppError, match="the model expects 512"):  # a DCGAN latent is not a ProGAN one
        client.predict(handle_file(npy), "progan-faces", api_name="/progan_render")
    link = client.predict(3, handle_file(npy), 0, 1, 150, 25, "slerp", None, None, 7, 200, 8, 0.05, 256,
                          "dcgan-faces", api_name="/progan_share_link")  # fmt: skip
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    assert query["model"] == "dcgan-faces"
    assert np.array_equal(share.latent_from_text(query["latent"], z_dim=100).numpy(), expected)


COMBO, NAIVE = "Siamese GAN, Combo-trained", "Siamese GAN, naive tiles (baseline)"
WHOLE_PHOTO, EACH_TILE = "Whole photo (seamless tiles)", "Each tile its own (plain tiles)"


@pytest.mark.parametrize("method, norm", [(COMBO, WHOLE_PHOTO), (NAIVE, EACH_TILE), (COMBO, None)])
def test_vangogh_translates_at_full_resolution(client, tmp_path_factory, content_photo, method, norm):
    photo = tmp_path_factory.mktemp("vg") / "photo.jpg"
    content_photo.resize((301, 203)).save(photo, quality=95)  # not a multiple of the tile
    args = (handle_file(str(photo)), method, 1.0, 0) + ((norm,) if norm else ())  # None: the default
    (before, after), status, download = client.predict(*args, api_name="/vangogh")
    assert "301×203" in status
    if norm == EACH_TILE:
        assert "64-px tiles · seam score" in status
    else:  # the default: the whole photo's statistics, and a frame this small runs at once
        assert "the whole frame at once, the whole photo's statistics · no plain tile borders" in status
    with Image.open(download) as full:
        assert full.size == (301, 203)
        painted = np.asarray(full.convert("RGB"), dtype=np.float64)
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float64)
    assert np.abs(painted - original).mean() > 2  # it did paint
    assert Image.open(before["path"] if isinstance(before, dict) else before).size == (301, 203)


def test_vangogh_strength_zero_gives_the_photo_back(client, tmp_path_factory, content_photo):
    photo = tmp_path_factory.mktemp("vg0") / "photo.png"
    content_photo.resize((96, 64)).save(photo)
    _, status, download = client.predict(handle_file(str(photo)), COMBO, 0.0, 8, EACH_TILE, api_name="/vangogh")
    assert "8-px overlap" in status
    back = np.asarray(Image.open(download).convert("RGB"), dtype=np.int16)
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    assert np.abs(back - original).max() <= 1  # the CIELAB round trip is exact up to rounding


def test_server_is_still_up_after_bad_input(client, photo, painting):
    assert nst(client, photo, painting, steps=1)[1].startswith("Done")


@pytest.mark.parametrize("name, message", [("empty.png", "empty"), ("bomb.png", "too large")])
def test_vangogh_bad_uploads_get_a_clear_message(client, tmp_path_factory, name, message):
    bad = _bad_files(tmp_path_factory.mktemp("vgbad"))[name]
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(bad)), COMBO, 1.0, 0, api_name="/vangogh")


@pytest.mark.parametrize("overrides", [{"optimizer": "sgd"}, {"num_scales": 40}, {"steps": 10**6}, {"size": 10**5}])
def test_nst_settings_out_of_range_are_refused(client, photo, painting, overrides):
    with pytest.raises(AppError, match="must be"):
        nst(client, photo, painting, **overrides)


def _path(value) -> str:
    """A file output as gradio_client returns it: a path, or a dict holding one."""
    return value["path"] if isinstance(value, dict) else value


def test_a_job_predicted_to_run_too_long_is_refused_before_it_starts(client, photo, painting):
    # 1000 steps at 1024 px on the CPU: about 1 MP x 1000 steps, far above the CPU job limit
    with pytest.raises(AppError, match=r"would take about .* MP·step .*the limit here is"):
        nst(client, photo, painting, steps=1000, size=1024)


def test_vangogh_compare_runs_every_model_on_the_same_photo(client, tmp_path_factory, content_photo):
    photo = tmp_path_factory.mktemp("vgc") / "photo.jpg"
    content_photo.resize((160, 96)).save(photo, quality=95)
    gallery, table = client.predict(handle_file(str(photo)), 1.0, 0, EACH_TILE, api_name="/vangogh_compare")
    reference, *rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    assert len(gallery) == 1 + len(rows) and len(rows) == 3  # the photo, then one result per model
    assert [row.split("|")[1].strip() for row in rows] == [COMBO, NAIVE, "CycleGAN"]
    _, _, share, structure, seams = (cell.strip() for cell in reference.strip("|").split("|"))
    assert float(structure) == 1.0 and 0 <= float(share) <= 1 and float(seams) > 0  # the photo against itself
    for row in rows:
        name, seconds, share, structure, seams = (cell.strip() for cell in row.strip("|").split("|"))
        assert seconds.endswith(" s") and 0 <= float(share) <= 1 and -1 <= float(structure) <= 1
        if name.startswith("CycleGAN"):
            assert seams == "n/a"  # the whole frame at once: no tile borders to score
        else:
            assert float(seams) > 0  # 160 x 96 holds borders of the Siamese GANs' tiles
    for item in gallery:
        assert Image.open(_path(item["image"])).size == (160, 96)


def test_compare_tab_runs_gans_and_gatys_with_figures(client, tmp_path_factory, content_photo, painting):
    photo = tmp_path_factory.mktemp("cmp") / "photo.jpg"
    content_photo.resize((640, 480)).save(photo, quality=95)  # above the CPU compare side: shrunk to it
    gallery, table = client.predict(
        handle_file(str(photo)), handle_file(str(painting)), ["siamese", "gatys"], 3, 0, api_name="/compare"
    )
    from webapp.common import LIMITS  # the server's: same device and precision as this process

    w = min(640, LIMITS.compare_side)
    size = (w, round(w * 480 / 640))
    assert [item["caption"].split(" · ")[0] for item in gallery] == [f"photo {size[0]}×{size[1]}", COMBO,
                                                                     "Gatys style transfer"]  # fmt: skip
    assert "| Gatys style transfer |" in table and f"| {COMBO} |" in table
    for item in gallery:
        assert Image.open(_path(item["image"])).size == size


def test_both_fast_methods_give_an_image_and_their_time(client, photo, painting):
    """Issue #27: the NST tab's fast panel runs AdaIN and Magenta; the Compare tab runs Magenta too."""
    result, status, download = client.predict(
        handle_file(str(photo)), handle_file(str(painting)), 0.8, 64, False, api_name="/nst_magenta"
    )
    assert status.startswith("Magenta arbitrary stylization") and " s on " in status and "strength 0.80" in status
    assert Image.open(download).size == (64, 64) and Image.open(result).size == (64, 64)
    gallery, table = client.predict(
        handle_file(str(photo)), handle_file(str(painting)), ["adain", "magenta"], 3, 0, api_name="/compare"
    )
    assert [item["caption"].split(" · ")[0] for item in gallery][1:] == [
        "AdaIN fast (Huang & Belongie 2017)",
        "Magenta arbitrary stylization (Ghiasi et al. 2017)",
    ]
    assert "| Magenta arbitrary stylization (Ghiasi et al. 2017) |" in table


@pytest.mark.parametrize(
    ("methods", "message"), [([], "Choose one or more of"), (["siamese", "dall-e"], "got siamese, dall-e")]
)
def test_compare_refuses_unknown_methods(client, photo, painting, methods, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(photo)), handle_file(str(painting)), methods, 3, 0, api_name="/compare")


def test_compare_needs_a_style_only_for_style_transfer(client, photo):
    gallery, _ = client.predict(handle_file(str(photo)), None, ["siamese"], 3, 0, api_name="/compare")
    assert len(gallery) == 2
    with pytest.raises(AppError, match="No style image"):
        client.predict(handle_file(str(photo)), None, ["gatys"], 3, 0, api_name="/compare")


def test_share_link_endpoint_carries_the_settings(client, app_server):
    example = "content_cat_chelsea.png"
    path = Path(__file__).resolve().parents[1] / "examples" / example
    link = client.predict(handle_file(str(path)), None, ["siamese", "gatys"], 12, 5, api_name="/compare_share_link")
    assert link.startswith(app_server + "?")  # absolute, on the host the request came to
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    assert query == {"tab": "compare", "photo": example, "methods": "siamese,gatys", "steps": "12", "seed": "5"}


def test_vangogh_cyclegan_runs_the_whole_frame(client, tmp_path_factory, content_photo):
    photo = tmp_path_factory.mktemp("cg") / "photo.jpg"
    content_photo.resize((203, 131)).save(photo, quality=95)  # odd sizes: padded and cropped back inside G
    (_, after), status, download = client.predict(handle_file(str(photo)), "cyclegan", 1.0, 0, api_name="/vangogh")
    assert "203×131" in status and "the whole frame at once" in status and "no plain tile borders" in status
    assert Image.open(download).size == (203, 131)


def test_the_public_api_is_the_readme_list(client):
    """gradio_client's view_api() lists exactly the endpoints README.md names, and nothing unnamed."""
    import re

    import app

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    paragraph = readme[readme.index("Every event is a named API endpoint") :].split("\n\n", 1)[0]
    listed = set(re.findall(r"`(/[a-z_]+)`", paragraph))
    assert "`/<tab>_share_link` for each tab" in paragraph
    listed |= {f"/{tab}_share_link" for tab in app.TABS}
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == listed
    assert not api["unnamed_endpoints"]
