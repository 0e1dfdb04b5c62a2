"""Hostile files through every API endpoint that takes a file input (the ProGAN tab's .npy latents).

Every file of tests/hostile.py (images, archives, text, bombs...) and the latent-specific cases
below (npz, zip renamed .jpg, pickle, wrong shape, NaN, inf, zeros, 10 million values, a wrong
z_dim) goes to every file slot of every public endpoint, share links included, on a real server:

* /progan_render and /progan_interpolate must refuse it with a Gradio error that names the slot
  and says it is not a latent vector, without a traceback;
* /progan_share_link must still give a link, leaving the file out and saying so (a well-formed
  latent of another size goes in the link: rendering it is refused with the z_dim).

A valid latent is sent once per slot as the control. The last test checks the server is still up.
"""

from __future__ import annotations

import json
import pickle
import re
import urllib.request
import zipfile
from pathlib import Path

import hostile
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from stylegan_lib import progan

pytestmark = [pytest.mark.app, pytest.mark.timeout(300)]

Z_DIM = progan.ProGANConfig().z_dim  # the shipped model's, checked against its config below
NOT_A_LATENT = r"not a \.npy latent|zip archive|does not hold a latent|non-finite|latent of size|at most [\d,]+"


def _latent_cases(folder: Path, z_dim: int) -> dict[str, Path]:
    """Files that look like latents but are not: each must be refused with a clear message."""
    cases = {}

    def add(name: str, write) -> None:
        path = folder / name
        write(path)
        cases[name] = path

    def zipped(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("latent.npy", b"not really")

    add("zip.jpg", zipped)
    add("zip.npy", zipped)
    add("archive.npz", lambda p: np.savez(p, z=np.ones(z_dim, np.float32)))
    add("pickled.npy", lambda p: p.write_bytes(pickle.dumps({"z": [1.0] * z_dim})))
    add("object_array.npy", lambda p: np.save(p, np.array([{"z": 1}], dtype=object), allow_pickle=True))
    add("matrix.npy", lambda p: np.save(p, np.ones((4, z_dim), np.float32)))
    add("ints.npy", lambda p: np.save(p, np.ones(z_dim, np.int64)))
    add("wrong_z_dim.npy", lambda p: np.save(p, np.ones(z_dim + 1, np.float32)))
    add("nan.npy", lambda p: np.save(p, np.where(np.arange(z_dim) == 3, np.nan, 1.0).astype(np.float32)))
    add("inf.npy", lambda p: np.save(p, np.where(np.arange(z_dim) == 3, np.inf, 1.0).astype(np.float32)))
    add("zeros.npy", lambda p: np.save(p, np.zeros(z_dim, np.float32)))
    add("truncated.npy", lambda p: p.write_bytes(_npy_bytes(np.ones(z_dim, np.float32))[:-10]))
    add("empty.npy", lambda p: p.write_bytes(b""))

    def huge(path: Path) -> None:  # 40 MB (a sparse file, under the upload limit): refused on its header
        del_me = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(10**7,))
        del del_me

    add("huge.npy", huge)
    return cases


def _npy_bytes(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server, verbose=False)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    images = {c.name: c.path for c in hostile.write_cases(tmp_path_factory.mktemp("hostile"))}
    latents = _latent_cases(tmp_path_factory.mktemp("latents"), Z_DIM)
    return {**{f"image:{k}": v for k, v in images.items()}, **{f"latent:{k}": v for k, v in latents.items()}}


@pytest.fixture(scope="module")
def good_latent(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "latent.npy"
    np.save(path, np.random.default_rng(0).standard_normal(Z_DIM).astype(np.float32))
    return path


def _file_inputs(config: dict) -> dict[str, list[int]]:
    """Public endpoint -> positions of its inputs that are interactive file components."""
    files = {c["id"] for c in config["components"]
             if c.get("type") == "file" and c.get("props", {}).get("interactive") is not False}  # fmt: skip
    found = {}
    for d in config["dependencies"]:
        if d.get("api_name") and d.get("api_visibility", "public") != "private":
            slots = [i for i, cid in enumerate(d.get("inputs", [])) if cid in files]
            if slots:
                found["/" + d["api_name"]] = slots
    return found


# (endpoint, slot name) -> a call with the file in that slot
PROGAN_SHARE = dict(seed=0, latent=None, from_=0, to=1, frames=12, fps=10, path="slerp", from_latent=None,
                    to_latent=None, target_seed=7, search_steps=10, restarts=1, lr=0.05, preselect=0)  # fmt: skip


def _share(slot: str):
    def call(client, path):
        values = dict(PROGAN_SHARE, **{slot: handle_file(path)})
        return client.predict(*values.values(), api_name="/progan_share_link")

    return call


SLOTS = {
    ("/progan_render", "latent"): lambda c, p: c.predict(handle_file(p), api_name="/progan_render"),
    ("/progan_interpolate", "'from' latent"): lambda c, p: c.predict(
        0, 1, 4, "slerp", 10, handle_file(p), None, api_name="/progan_interpolate"
    ),
    ("/progan_interpolate", "'to' latent"): lambda c, p: c.predict(
        0, 1, 4, "slerp", 10, None, handle_file(p), api_name="/progan_interpolate"
    ),
    ("/progan_share_link", "latent"): _share("latent"),
    ("/progan_share_link", "from_latent"): _share("from_latent"),
    ("/progan_share_link", "to_latent"): _share("to_latent"),
}


def test_every_file_input_has_slots(app_server):
    """Every public endpoint with a file input, and each of its file inputs, is driven below."""
    config = json.loads(urllib.request.urlopen(app_server + "config", timeout=10).read())
    found = {api: len(slots) for api, slots in _file_inputs(config).items()}
    driven = {}
    for api, _ in SLOTS:
        driven[api] = driven.get(api, 0) + 1
    assert found == driven


def test_the_shipped_model_has_this_z_dim():
    from stylegan_lib import hub

    config = hub.resolve("progan-faces").config
    assert config.get("z_dim", Z_DIM) == Z_DIM


@pytest.mark.parametrize("slot", list(SLOTS), ids=[f"{a}:{s}" for a, s in SLOTS])
def test_a_valid_latent_is_accepted(client, good_latent, slot):
    result = SLOTS[slot](client, str(good_latent))
    if slot[0] == "/progan_share_link":
        assert "tab=progan" in result and "not in the link" not in result, result
    else:
        assert result  # a face, or (GIF, files)


@pytest.mark.parametrize("slot", list(SLOTS), ids=[f"{a}:{s}" for a, s in SLOTS])
def test_every_bad_file_in_every_slot(client, bad_files, slot):
    api, what = slot
    failures = []
    for name, path in bad_files.items():
        if api == "/progan_share_link":
            try:
                link = SLOTS[slot](client, str(path))
            except AppError as exc:
                failures.append(f"{name}: share link raised {exc}")
                continue
            if name == "latent:wrong_z_dim.npy":  # a well-formed latent: the link carries it, the model refuses it
                if "tab=progan" not in link:
                    failures.append(f"{name}: {link[:200]}")
                continue
            if "tab=progan" not in link or "file is not in the link" not in link:
                failures.append(f"{name}: {link[:200]}")
            continue
        try:
            SLOTS[slot](client, str(path))
        except AppError as exc:
            message = str(exc)
            ok = message.lower().startswith(what.lower()) and re.search(NOT_A_LATENT, message)
            if not ok or "Traceback" in message or 'File "' in message:
                failures.append(f"{name}: {message[:300]}")
        else:
            failures.append(f"{name}: accepted")
    assert not failures, "\n".join(failures)


def test_server_still_up(app_server, app_process):
    assert app_process.poll() is None
    urllib.request.urlopen(app_server + "config", timeout=30).read()
