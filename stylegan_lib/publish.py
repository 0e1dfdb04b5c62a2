"""Publish a checkpoint folder to the Hugging Face Hub: ``python -m stylegan_lib publish NAME``.

The folder (``checkpoints/NAME/`` by default) must hold ``model.safetensors``,
``config.json`` and a model card ``README.md``; figures and logs beside them (``.png``,
``.jpg``, ``.json``, ``.csv``) go too. Pickle-based weight files are refused. The upload is
one commit, tagged with the revision that :mod:`stylegan_lib.hub` pins, and the weights'
sha256 is checked against the one the registry records, so the app can verify what it
downloads. Publishing different weights under an already pinned revision is refused: bump
the revision and record the new sha256 in ``hub.REGISTRY``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from . import hub

CARD_NAME = "README.md"
SHIPPED_SUFFIXES = {".safetensors", ".json", ".md", ".png", ".jpg", ".jpeg", ".csv", ".gif"}
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".npy", ".npz"}


class PublishError(ValueError):
    """The folder is not fit to publish; the message says what to fix."""


@dataclass(frozen=True)
class Release:
    name: str
    repo_id: str
    revision: str  # the tag created on the Hub
    commit: str  # the commit the tag points at
    sha256: str  # of model.safetensors
    files: tuple[str, ...]


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_folder(folder: str | os.PathLike) -> tuple[str, list[Path]]:
    """(sha256 of the weights, files to upload) of a checkpoint folder, or PublishError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder")
    missing = [n for n in (hub.WEIGHTS_NAME, hub.CONFIG_NAME, CARD_NAME) if not (folder / n).is_file()]
    if missing:
        raise PublishError(f"{folder} lacks {', '.join(missing)}: a release needs weights, config and model card")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise PublishError(
            f"{folder} holds pickle-based files ({', '.join(pickles)}): weights ship as safetensors only"
        )
    weights = folder / hub.WEIGHTS_NAME
    try:
        with safe_open(str(weights), framework="pt") as f:
            if not list(f.keys()):
                raise PublishError(f"{weights} holds no tensors")
    except SafetensorError as exc:
        raise PublishError(f"{weights} is not a readable safetensors file: {exc}") from None
    try:
        config = json.loads((folder / hub.CONFIG_NAME).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PublishError(f"{folder / hub.CONFIG_NAME} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise PublishError(f"{folder / hub.CONFIG_NAME} must hold a JSON object")
    if not (folder / CARD_NAME).read_text(errors="replace").strip():
        raise PublishError(f"{folder / CARD_NAME} is empty: write the model card first")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SHIPPED_SUFFIXES)
    return sha256_of(weights), files


def publish(
    name: str,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    folder: str | os.PathLike | None = None,
    private: bool = False,
    api=None,
) -> Release:
    """Upload ``folder`` as one commit to ``repo_id`` and tag it ``revision``.

    Defaults come from ``hub.REGISTRY[name]`` (repo id and pinned revision) and
    ``checkpoints/NAME/``. ``api``: a :class:`huggingface_hub.HfApi` (default: a new one,
    using the token of ``huggingface-cli login`` or ``HF_TOKEN``).
    """
    spec = hub.entry(name)
    repo_id, revision = repo_id or spec.repo_id, revision or spec.revision
    folder = Path(folder) if folder is not None else hub.checkpoints_dir() / name
    sha256, files = check_folder(folder)
    pinned = repo_id == spec.repo_id and revision == spec.revision
    if pinned and spec.sha256 is not None and spec.sha256 != sha256:
        raise PublishError(
            f"hub.REGISTRY pins {name} at {repo_id}@{revision} with sha256 {spec.sha256}, but {folder} holds "
            f"{sha256}. Publish new weights under a new revision (--revision v2) and record it in hub.REGISTRY."
        )
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="model",
        allow_patterns=[p.name for p in files],
        commit_message=f"{name} {revision} (model.safetensors sha256 {sha256[:12]})",
    )
    api.create_tag(repo_id, tag=revision, revision=info.oid, repo_type="model")
    return Release(name, repo_id, revision, info.oid, sha256, tuple(p.name for p in files))


def registry_note(release: Release) -> str:
    """What to record in hub.REGISTRY so the app downloads and verifies this release."""
    spec = hub.entry(release.name)
    same = (spec.repo_id, spec.revision, spec.sha256) == (release.repo_id, release.revision, release.sha256)
    if same:
        return f"hub.REGISTRY already pins {release.name} at this release."
    return (
        f'Record in hub.REGISTRY["{release.name}"]: repo_id="{release.repo_id}", '
        f'revision="{release.revision}", sha256="{release.sha256}".'
    )


def add_cli(tasks) -> None:
    """``python -m stylegan_lib publish NAME [--repo-id ORG/NAME] [--revision TAG] [--dry-run]``."""
    parser = tasks.add_parser("publish", help="upload a checkpoint folder to the Hugging Face Hub",
                              description=__doc__)  # fmt: skip
    parser.add_argument("name", choices=sorted(hub.REGISTRY), help="the model, as named in hub.REGISTRY")
    parser.add_argument("--repo-id", default=None, help="default: the registry's repo id")
    parser.add_argument("--revision", default=None, help="the tag to create; default: the registry's pinned revision")
    parser.add_argument("--folder", type=Path, default=None, help="default: checkpoints/NAME/")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list what would be uploaded")
    parser.set_defaults(run=_run)


def _run(args) -> int:
    if args.dry_run:
        folder = args.folder or hub.checkpoints_dir() / args.name
        sha256, files = check_folder(folder)
        print(f"{folder}: model.safetensors sha256 {sha256}; would upload {', '.join(p.name for p in files)}")
        return 0
    release = publish(args.name, repo_id=args.repo_id, revision=args.revision, folder=args.folder,
                      private=args.private)  # fmt: skip
    print(f"published {release.repo_id}@{release.revision} (commit {release.commit}): {', '.join(release.files)}")
    print(registry_note(release))
    return 0
