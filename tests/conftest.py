"""Shared pytest fixtures.

The Hub is never reached: before anything imports `huggingface_hub`, the session points
HF_HOME at a temporary folder and sets HF_HUB_OFFLINE=1; the `hub_cache` fixture lays the
real Caffe VGG19 from ../shared/weights/ out in that cache, so `hf_hub_download` resolves
it through its real code path.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SESSION_TMP = Path(tempfile.mkdtemp(prefix="stylegan_lib_tests_"))
os.environ["HF_HOME"] = str(SESSION_TMP / "hf")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["STYLEGAN_LIB_CACHE"] = str(SESSION_TMP / "cache")
# The shipped checkpoints, as the app sees them (never VGG19: that comes through the Hub cache).
os.environ["STYLEGAN_LIB_CHECKPOINTS"] = str(Path(__file__).resolve().parents[1] / "checkpoints")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import hubcache  # noqa: E402  (tests/ is on sys.path)

APP_TMP = SESSION_TMP / "app-tmp"  # TMPDIR of the app_server process; Gradio's cache is APP_TMP / "gradio"
APP: dict = {}  # "process": the app_server subprocess, once started


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder: $STYLEGAN_LIB_SHARED, else ``shared/`` beside the repo root; skips if absent."""
    env = os.environ.get("STYLEGAN_LIB_SHARED")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set STYLEGAN_LIB_SHARED)")
    return path


@pytest.fixture(scope="session")
def vgg_weights_file(shared_dir) -> Path:
    return shared_dir / "weights" / "vgg19-caffe.safetensors"


@pytest.fixture(scope="session")
def hub_cache(vgg_weights_file) -> Path:
    """The session's offline Hub cache, holding the project's vgg19-caffe repo."""
    from stylegan_lib import hub

    spec = hub.REGISTRY["vgg19-caffe"]
    cache = Path(os.environ["HF_HOME"]) / "hub"
    hubcache.lay_out_repo(
        cache,
        spec.repo_id,
        spec.revision,
        {
            "model.safetensors": vgg_weights_file,
            "config.json": b'{"architecture": "vgg19", "input_convention": "caffe"}',
        },
    )
    return cache


@pytest.fixture(scope="session")
def vgg(hub_cache):
    """The real Caffe VGG19, loaded through the Hub cache (float32, CPU)."""
    from stylegan_lib.vgg import load_vgg19

    return load_vgg19("caffe")


@pytest.fixture(scope="session")
def content_photo(shared_dir):
    from stylegan_lib.images import open_image

    return open_image(shared_dir / "data" / "style_test" / "content" / "skimage_astronaut.png")


@pytest.fixture(scope="session")
def style_painting(shared_dir):
    from stylegan_lib.images import open_image

    return open_image(shared_dir / "data" / "vangogh2photo" / "paintings_heldout" / "painting_0361.jpg")


@pytest.fixture(scope="session")
def domains(shared_dir, tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny unpaired domains for the GAN trainers: 6 landscape photos (A), 6 Van Gogh paintings (B)."""
    root = tmp_path_factory.mktemp("domains")
    for name, folder in (("a", "photos_train"), ("b", "paintings_train")):
        (root / name).mkdir()
        for path in sorted((shared_dir / "data" / "vangogh2photo" / folder).glob("*.jpg"))[:6]:
            shutil.copy(path, root / name / path.name)
    return root / "a", root / "b"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(hub_cache):
    """`python app.py` as a real server on loopback, offline, with the session's Hub cache."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    # The server's temp files (Gradio's upload cache, the app's outputs) go to APP_TMP, where tests
    # can check that they stay bounded.
    (APP_TMP / "gradio").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", PYTHONUNBUFFERED="1",
               TMPDIR=str(APP_TMP), GRADIO_TEMP_DIR=str(APP_TMP / "gradio"))  # fmt: skip
    log = open(SESSION_TMP / "app.log", "w")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    APP["process"] = proc
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300  # a busy 2-core machine imports gradio and torch slowly
    while True:
        try:
            urllib.request.urlopen(url + "config", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"app.py did not start: {(SESSION_TMP / 'app.log').read_text()[-3000:]}") from None
            time.sleep(0.5)
    yield url
    APP.pop("process", None)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def app_process(app_server):
    """The `python app.py` subprocess behind app_server (to check that it is still running)."""
    return APP["process"]


@pytest.fixture(scope="session")
def app_tmp(app_server) -> Path:
    """The app server's TMPDIR: its output folder (stylegan_lib_app_*) and Gradio's cache (gradio/)."""
    return APP_TMP


@pytest.fixture(scope="session")
def faces(shared_dir, tmp_path_factory) -> Path:
    """24 real training faces (CelebA crops) in a folder of their own: the face trainers' data."""
    folder = tmp_path_factory.mktemp("faces")
    for path in sorted((shared_dir / "data" / "faces" / "train").glob("*.jpg"))[:24]:
        shutil.copy(path, folder / path.name)
    return folder
