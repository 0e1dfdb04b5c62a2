"""Lay out a Hugging Face Hub cache on disk, as `huggingface_hub` itself writes it.

models--ORG--NAME/blobs/<sha256>, snapshots/<commit>/<file> -> ../../blobs/<sha256>,
refs/<revision> holding the commit. With HF_HUB_OFFLINE=1, `hf_hub_download` then
resolves the files from this cache through its real code path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def lay_out_repo(hub_cache: Path, repo_id: str, revision: str, files: dict[str, Path | bytes]) -> Path:
    """Write ``files`` (name -> source file or bytes) as snapshot ``revision`` of ``repo_id``."""
    repo_dir = Path(hub_cache) / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()  # a stable fake commit id
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        data = source if isinstance(source, bytes) else None
        digest = hashlib.sha256(data if data is not None else Path(source).read_bytes()).hexdigest()
        blob = repo_dir / "blobs" / digest
        if not blob.exists():
            if data is not None:
                blob.write_bytes(data)
            else:
                shutil.copyfile(source, blob)
        link = snapshot / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / revision).write_text(commit)
    return snapshot
