"""Publishing checkpoints, offline: a stand-in for the Hub's upload API writes a local "remote";
that remote is laid out as a real Hub cache and read back through hf_hub_download with
HF_HUB_OFFLINE=1, so the pinned revision and the sha256 check run their real code paths."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from stylegan_lib import hub, publish
from stylegan_lib.cli import main
from stylegan_lib.files import sha256_of
from tests.hubcache import lay_out_repo

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


class FolderHub:
    """The three HfApi calls publish() makes, recorded into a folder instead of the network."""

    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def create_repo(self, repo_id, *, repo_type, private, exist_ok):
        self.calls.append(("create_repo", repo_id, private))
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)

    def upload_folder(self, *, repo_id, folder_path, repo_type, allow_patterns, commit_message):
        commit = hashlib.sha1(f"{repo_id}{commit_message}".encode()).hexdigest()
        target = self.root / repo_id / commit
        target.mkdir()
        for name in allow_patterns:
            shutil.copyfile(Path(folder_path) / name, target / name)
        self.calls.append(("upload_folder", repo_id, tuple(allow_patterns)))
        return SimpleNamespace(oid=commit)

    def create_tag(self, repo_id, *, tag, revision, repo_type, exist_ok=False):
        self.calls.append(("create_tag", repo_id, tag, revision))
        (self.root / repo_id / "tags").mkdir(exist_ok=True)
        if (self.root / repo_id / "tags" / tag).exists() and not exist_ok:  # as the Hub: 409 Conflict
            raise RuntimeError(f"tag {tag} already exists")
        (self.root / repo_id / "tags" / tag).write_text(revision)

    def list_repo_refs(self, repo_id, *, repo_type):
        from huggingface_hub.errors import RepositoryNotFoundError

        if not (self.root / repo_id).is_dir():
            import httpx

            url = f"https://huggingface.co/api/models/{repo_id}/refs"
            raise RepositoryNotFoundError(
                f"{repo_id} not found", response=httpx.Response(404, request=httpx.Request("GET", url))
            )
        tags = self.root / repo_id / "tags"
        found = (
            [SimpleNamespace(name=t.name, target_commit=t.read_text()) for t in tags.iterdir()] if tags.is_dir() else []
        )
        return SimpleNamespace(tags=found)

    def get_paths_info(self, repo_id, paths, *, revision, repo_type):
        files = self.files(repo_id, revision)
        return [SimpleNamespace(path=p, lfs=SimpleNamespace(sha256=hashlib.sha256(files[p].read_bytes()).hexdigest()))
                for p in paths if p in files]  # fmt: skip

    def files(self, repo_id: str, tag: str) -> dict[str, Path]:
        commit = (self.root / repo_id / "tags" / tag).read_text()
        return {p.name: p for p in (self.root / repo_id / commit).iterdir()}


def _shipped():
    return [name for name in hub.REGISTRY if (CHECKPOINTS / name / hub.WEIGHTS_NAME).is_file()]


@pytest.mark.parametrize("name", _shipped())
def test_registry_pins_the_sha256_of_every_shipped_checkpoint(name):
    """What the app verifies after a Hub download is what this repository ships."""
    assert hub.REGISTRY[name].sha256 == sha256_of(CHECKPOINTS / name / hub.WEIGHTS_NAME)


@pytest.mark.parametrize("name", _shipped())
def test_every_shipped_checkpoint_is_fit_to_publish(name):
    sha256, files = publish.check_folder(CHECKPOINTS / name)
    assert {"model.safetensors", "config.json", "README.md"} <= {p.name for p in files}


def test_published_checkpoint_downloads_and_verifies_offline(tmp_path, monkeypatch, hub_cache):
    name = "siamese-vangogh"
    remote = FolderHub(tmp_path / "remote")
    release = publish.publish(name, api=remote)
    spec = hub.REGISTRY[name]
    assert (release.repo_id, release.revision, release.sha256) == (spec.repo_id, spec.revision, spec.sha256)
    assert [c[0] for c in remote.calls] == ["create_repo", "upload_folder", "create_tag"]
    assert remote.calls[2] == ("create_tag", spec.repo_id, spec.revision, release.commit)
    assert publish.registry_note(release) == "hub.REGISTRY already pins siamese-vangogh at this release."

    # what was uploaded, served from a Hub cache; no local checkpoint to fall back on
    lay_out_repo(hub_cache, spec.repo_id, spec.revision, remote.files(spec.repo_id, spec.revision))
    monkeypatch.setenv("STYLEGAN_LIB_CHECKPOINTS", str(tmp_path / "none"))
    resolved = hub.resolve(name)
    assert resolved.source == "hub" and resolved.config == json.loads((CHECKPOINTS / name / "config.json").read_text())
    assert sha256_of(resolved.path) == spec.sha256


def test_a_tampered_download_is_refused(tmp_path, monkeypatch, hub_cache):
    name = "siamese-vangogh-naive"
    spec = hub.REGISTRY[name]
    forged = tmp_path / "forged.safetensors"
    save_file({"weight": torch.zeros(3)}, str(forged))
    config = CHECKPOINTS / name / "config.json"
    lay_out_repo(hub_cache, spec.repo_id, spec.revision, {"model.safetensors": forged, "config.json": config})
    monkeypatch.setenv("STYLEGAN_LIB_CHECKPOINTS", str(tmp_path / "none"))
    assert "corrupt or not the published revision" in hub.availability(name)  # what the app tabs show
    with pytest.raises(hub.WeightsIntegrityError, match="not the published revision"):
        hub.resolve(name)


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINTS / "domain-classifier", out)
    return out


def test_new_weights_under_a_pinned_revision_are_refused(folder, tmp_path):
    save_file({"weight": torch.ones(2)}, str(folder / "model.safetensors"))
    remote = FolderHub(tmp_path / "remote")
    with pytest.raises(publish.PublishError, match=r"pins domain-classifier at .*@v1 .*--revision v2"):
        publish.publish("domain-classifier", folder=folder, api=remote)
    assert remote.calls == []  # refused before anything was sent
    release = publish.publish("domain-classifier", folder=folder, revision="v2", api=remote)
    assert f'revision="v2", sha256="{release.sha256}"' in publish.registry_note(release)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "README.md").unlink(), "lacks README.md"),
        (lambda f: (f / "config.json").unlink(), "lacks config.json"),
        (lambda f: (f / "model.pt").write_bytes(b"\x80\x04pickle"), r"pickle-based files \(model.pt\)"),
        (lambda f: (f / "model.safetensors").write_bytes(b"not safetensors"), "not a readable safetensors"),
        (lambda f: (f / "config.json").write_text("{oops"), "not valid JSON"),
        (lambda f: (f / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
        (lambda f: (f / "README.md").write_text("  \n"), "empty: write the model card"),
    ],
)
def test_folders_unfit_to_publish_are_refused(folder, damage, message):
    damage(folder)
    with pytest.raises(publish.PublishError, match=message):
        publish.check_folder(folder)


def test_publish_cli_dry_run_and_errors(capsys, folder):
    assert main(["publish", "domain-classifier", "--folder", str(folder), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert sha256_of(folder / "model.safetensors") in out and "model.safetensors" in out
    (folder / "README.md").unlink()
    assert main(["publish", "domain-classifier", "--folder", str(folder), "--dry-run"]) == 2
    assert "lacks README.md" in capsys.readouterr().err


def test_publishing_twice_is_a_no_op(folder, tmp_path):
    remote = FolderHub(tmp_path / "remote")
    first = publish.publish("domain-classifier", folder=folder, api=remote)
    uploads = [c for c in remote.calls if c[0] == "upload_folder"]
    second = publish.publish("domain-classifier", folder=folder, api=remote)
    assert second == first  # same commit, tag, sha256 and files
    assert [c for c in remote.calls if c[0] == "upload_folder"] == uploads  # nothing uploaded again
    assert sha256_of(remote.files(first.repo_id, "v1")["model.safetensors"]) == first.sha256


def test_other_weights_under_an_existing_tag_are_refused(folder, tmp_path):
    remote = FolderHub(tmp_path / "remote")
    publish.publish("domain-classifier", repo_id="someone/classifier", revision="v9", folder=folder, api=remote)
    save_file({"weight": torch.ones(2)}, str(folder / "model.safetensors"))
    with pytest.raises(publish.PublishError, match=r"someone/classifier@v9 already exists with other weights"):
        publish.publish("domain-classifier", repo_id="someone/classifier", revision="v9", folder=folder, api=remote)
    assert len([c for c in remote.calls if c[0] == "upload_folder"]) == 1


def test_a_run_that_stopped_before_tagging_is_completed(folder, tmp_path):
    remote = FolderHub(tmp_path / "remote")
    remote.create_repo("stylegan-lib/domain-classifier", repo_type="model", private=False, exist_ok=True)
    release = publish.publish("domain-classifier", folder=folder, api=remote)
    assert remote.files(release.repo_id, "v1")  # tagged now
