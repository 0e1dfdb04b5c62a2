"""Files written whole or not at all, and their sha256: the one home for both.

Every file the library writes for someone else to read (PNGs, GIFs, checkpoints, training
state, converted weights) goes through :func:`atomic_write`, so a reader running at the same
time (the app serving a download, a resumed training, a second process converting the same
weights) sees the old file or the new one, never half of one. Weights are identified by
:func:`sha256_of` wherever they are checked (``hub.verify_sha256``) or recorded
(``publish.py``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "sha256_of"]

_CHUNK = 1 << 20  # bytes hashed per read: bounded memory for multi-gigabyte weights


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``; returns ``path``.

    Parent folders are created. The temporary name is unique per call (two writers of the same
    file never share it) and is removed if ``write`` fails, which leaves ``path`` as it was.
    ``write`` receives a path whose suffix is ``.tmp``: a writer that guesses the format from
    the suffix (PIL, numpy) must be told the format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)  # atomic on POSIX and Windows when both lie in one folder
    finally:
        tmp.unlink(missing_ok=True)
    return path
