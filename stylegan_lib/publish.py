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

import json
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from . import hub
from .files import sha256_of

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
    names = tuple(p.name for p in files)
    # Publishing again is a no-op when the tag already holds these weights (a second run, or a run
    # that stopped after tagging); other weights under an existing tag are refused, never moved.
    tagged = _tagged_commit(api, repo_id, revision)
    if tagged is not None:
        published = _published_sha256(api, repo_id, revision)
        if published == sha256:
            return Release(name, repo_id, revision, tagged, sha256, names)
        raise PublishError(
            f"{repo_id}@{revision} already exists with other weights (sha256 {published}); {folder} holds "
            f"{sha256}. Publish them under a new revision (--revision v2) and record it in hub.REGISTRY."
        )
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="model",
        allow_patterns=list(names),
        commit_message=f"{name} {revision} (model.safetensors sha256 {sha256[:12]})",
    )
    # exist_ok: a concurrent run may have tagged the same upload between the check above and here
    api.create_tag(repo_id, tag=revision, revision=info.oid, repo_type="model", exist_ok=True)
    return Release(name, repo_id, revision, info.oid, sha256, names)


def _tagged_commit(api, repo_id: str, tag: str) -> str | None:
    """The commit ``tag`` points at in the model repo ``repo_id``; None when the repo or the tag does not exist."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        refs = api.list_repo_refs(repo_id, repo_type="model")
    except RepositoryNotFoundError:
        return None
    return next((ref.target_commit for ref in refs.tags if ref.name == tag), None)


def _published_sha256(api, repo_id: str, revision: str) -> str | None:
    """The sha256 of model.safetensors at ``revision`` (the Hub records it for LFS files); None if absent."""
    infos = api.get_paths_info(repo_id, [hub.WEIGHTS_NAME], revision=revision, repo_type="model")
    lfs = next((getattr(info, "lfs", None) for info in infos if info.path == hub.WEIGHTS_NAME), None)
    return getattr(lfs, "sha256", None)


# ----------------------------------------------------------------------------- the Space

SPACE_REPO_ID = "stylegan-lib/stylegan-lib"  # where `publish-space` uploads the app by default
HUB_TEXT_LIMIT = 10 * 2**20  # the Hub refuses a file over 10 MiB that is not stored in LFS (or Xet)
HUB_LFS_LIMIT = 50 * 10**9  # the Hub's largest single file
BINARY_PROBE = 8000  # bytes read to tell binary from text: git's own rule (a NUL byte in the first 8000)


@dataclass(frozen=True)
class SpaceFile:
    path: str  # relative to the repository root, with "/"
    size: int  # bytes
    lfs: bool  # .gitattributes sends it through LFS (filter=lfs)
    binary: bool


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise PublishError(
            f"git {args[0]} failed in {root}: {detail.decode(errors='replace').strip() or exc}"
        ) from None
    return done.stdout


def _shared_dir(root: Path) -> Path:
    return Path(os.environ.get("STYLEGAN_LIB_SHARED") or root.parent / "shared")


def _shared_index(shared: Path) -> dict[int, list[Path]]:
    """Size -> files of the shared data folder (sizes first: only same-size files are hashed)."""
    index: dict[int, list[Path]] = {}
    if shared.is_dir():
        for dirpath, _, names in os.walk(shared):
            for name in names:
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    index.setdefault(path.stat().st_size, []).append(path)
    return index


def space_files(root: str | os.PathLike | None = None, *, shared: str | os.PathLike | None = None) -> list[SpaceFile]:
    """The files a push of this repository as a Space uploads (git's tracked files), with sizes.

    Raises PublishError listing every file the Hub would refuse or that must not be published:
    a binary file outside LFS, a file over 10 MiB outside LFS or over the Hub's 50 GB in it, a
    pickle-based file, a symlink, and a copy of any file of the shared data folder (``../shared``
    or ``$STYLEGAN_LIB_SHARED``: data sets and weights with their own licences) unless an
    ``ATTRIBUTION.md`` beside it credits it by name (the example images).
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    entries = [e for e in _git(root, "ls-files", "-z", "--stage").decode().split("\0") if e]
    modes = {e.split("\t", 1)[1]: e.split(" ", 1)[0] for e in entries}
    paths = sorted(modes)
    attrs = _git(root, "check-attr", "-z", "--stdin", "filter", stdin="\0".join(paths).encode()).decode().split("\0")
    lfs = {attrs[i] for i in range(0, len(attrs) - 2, 3) if attrs[i + 2] == "lfs"}  # path, attribute, value
    shared_sizes = _shared_index(Path(shared if shared is not None else _shared_dir(root)).resolve())
    files, problems = [], []
    for rel in paths:
        path = root / rel
        if modes[rel] == "120000" or path.is_symlink():
            problems.append(f"{rel}: a symlink (to {os.readlink(path) if path.is_symlink() else '?'}); commit the file")
            continue
        if not path.is_file():
            problems.append(f"{rel}: tracked but missing from the working tree")
            continue
        size = path.stat().st_size
        with open(path, "rb") as f:
            binary = b"\0" in f.read(BINARY_PROBE)
        in_lfs = rel in lfs
        files.append(SpaceFile(rel, size, in_lfs, binary))
        if binary and not in_lfs:
            problems.append(f"{rel}: binary and not in LFS (add its pattern to .gitattributes)")
        if size > HUB_TEXT_LIMIT and not in_lfs:
            problems.append(f"{rel}: {size / 2**20:.1f} MiB outside LFS (the Hub's limit is 10 MiB)")
        if size > HUB_LFS_LIMIT:
            problems.append(f"{rel}: {size / 1e9:.1f} GB (the Hub's largest file is 50 GB)")
        numpy_file = path.suffix.lower() in {".npy", ".npz"}  # safe unless it holds object arrays
        if path.suffix.lower() in PICKLE_SUFFIXES and (not numpy_file or _holds_pickle(path)):
            problems.append(f"{rel}: pickle-based (ship safetensors)")
        twins = shared_sizes.get(size, [])
        if twins and size > 0:
            digest = sha256_of(path)
            twin = next((t for t in twins if sha256_of(t) == digest), None)
            if twin is not None and not _credited(path):
                problems.append(f"{rel}: a copy of the shared data {twin} (its licence is not the Space's)")
    if problems:
        raise PublishError("The Space would be refused or would publish what it must not:\n  " + "\n  ".join(problems))
    return files


def _credited(path: Path) -> bool:
    """Whether an ATTRIBUTION.md in the file's folder names it (author, licence, source)."""
    credits = path.parent / "ATTRIBUTION.md"
    return credits.is_file() and f"`{path.name}`" in credits.read_text(errors="replace")


def _holds_pickle(path: Path) -> bool:
    """Whether a .npy/.npz file needs pickle to load (object arrays), or is not numpy at all."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r")
        if hasattr(loaded, "files"):
            for key in loaded.files:
                loaded[key]
            loaded.close()
    except Exception:  # ValueError "Object arrays cannot be loaded...", or not numpy: refuse either way
        return True
    return False


def publish_space(*, root: str | os.PathLike | None = None, repo_id: str = SPACE_REPO_ID, private: bool = False,
                  api=None) -> list[SpaceFile]:  # fmt: skip
    """Upload the tracked files as the Gradio Space ``repo_id`` (one commit; a second run with no
    change uploads nothing new). Checked by space_files first."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    files = space_files(root)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(root), repo_type="space",
                      allow_patterns=[f.path for f in files], commit_message="stylegan_lib Space")  # fmt: skip
    return files


def space_listing(files: list[SpaceFile]) -> str:
    """The dry run's table: size, storage and path of every file, then the totals."""
    lines = [f"{f.size:>12,}  {'lfs ' if f.lfs else 'text'}  {f.path}" for f in files]
    in_lfs = sum(f.size for f in files if f.lfs)
    total = sum(f.size for f in files)
    lines.append(f"{len(files)} files, {total / 2**20:.1f} MiB ({in_lfs / 2**20:.1f} MiB in LFS)")
    return "\n".join(lines)


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

    space = tasks.add_parser("publish-space", help="upload this repository as a Hugging Face Space",
                             description=space_files.__doc__)  # fmt: skip
    space.add_argument("--repo-id", default=SPACE_REPO_ID, help=f"default: {SPACE_REPO_ID}")
    space.add_argument("--private", action="store_true", help="create the Space as private")
    space.add_argument("--dry-run", action="store_true", help="list the files and sizes that would be uploaded")
    space.set_defaults(run=_run_space)


def _run_space(args) -> int:
    if args.dry_run:
        print(space_listing(space_files()))
        return 0
    files = publish_space(repo_id=args.repo_id, private=args.private)
    print(f"uploaded {len(files)} files to the Space {args.repo_id}")
    return 0


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
