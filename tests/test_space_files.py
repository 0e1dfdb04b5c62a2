"""What a push of this repository as a Hugging Face Space uploads: LFS coverage, and
`python -m stylegan_lib publish-space --dry-run` refusing what the Hub would refuse."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stylegan_lib import publish
from stylegan_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20
git = shutil.which("git")
needs_git = pytest.mark.skipif(not git or not (ROOT / ".git").exists(), reason="not a git checkout")


def _tracked(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def _lfs(root: Path, paths: list[str]) -> set[str]:
    """The paths whose filter attribute is lfs, asked of git itself (one `git check-attr` per path)."""
    found = set()
    for path in paths:
        out = subprocess.run(["git", "-C", str(root), "check-attr", "filter", "--", path], capture_output=True,
                             check=True, text=True).stdout  # fmt: skip
        if out.strip().endswith(": filter: lfs"):
            found.add(path)
    return found


@needs_git
def test_gitattributes_cover_every_binary_and_every_large_file():
    tracked = _tracked(ROOT)
    assert ".gitattributes" in tracked
    binary, large = [], []
    for rel in tracked:
        path = ROOT / rel
        if path.is_file():
            data = path.read_bytes()
            if b"\0" in data[:8000] or _not_utf8(data):  # git's rule, and anything that is not text
                binary.append(rel)
            if len(data) > 10 * MiB:
                large.append(rel)
    assert any(p.endswith(".safetensors") for p in binary) and any(p.endswith(".jpg") for p in binary)
    covered = _lfs(ROOT, binary + large)
    assert sorted(set(binary + large) - covered) == []


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@needs_git
def test_publish_space_dry_run_lists_the_repository(capsys):
    assert main(["publish-space", "--dry-run"]) == 0
    out = capsys.readouterr().out
    rows = {path: (int(size.replace(",", "")), kind) for size, kind, path in map(str.split, out.splitlines()[:-1])}
    assert set(rows) == set(_tracked(ROOT))
    weights = "checkpoints/adain-decoder/model.safetensors"
    assert rows[weights] == ((ROOT / weights).stat().st_size, "lfs")
    assert rows["app.py"] == ((ROOT / "app.py").stat().st_size, "text")
    assert out.splitlines()[-1].startswith(f"{len(rows)} files, ")


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "space"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (root / "app.py").write_text("print('hello')\n")
    (root / "model.safetensors").write_bytes(b"\0" * 100)
    return root


def _add(root: Path) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)


@needs_git
def test_a_clean_space_passes(tmp_path):
    root = _repo(tmp_path)
    _add(root)
    files = {f.path: f for f in publish.space_files(root, shared=tmp_path / "no-shared")}
    assert set(files) == {".gitattributes", "app.py", "model.safetensors"}
    assert files["model.safetensors"].lfs and files["model.safetensors"].binary and not files["app.py"].lfs


@needs_git
def test_what_the_hub_refuses_is_refused(tmp_path):
    root = _repo(tmp_path)
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    (shared / "data" / "photo.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")  # binary, no LFS pattern
    (root / "big.txt").write_text("x" * (10 * MiB + 1))  # text over 10 MiB outside LFS
    (root / "weights.pkl").write_bytes(b"\x80\x04K\x01.")
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "copied.dat").write_bytes((shared / "data" / "photo.jpg").read_bytes())  # data from ../shared
    (root / "link.txt").symlink_to(shared / "data" / "photo.jpg")
    _add(root)
    with pytest.raises(publish.PublishError) as refused:
        publish.space_files(root, shared=shared)
    message = str(refused.value)
    expected = (
        "photo.png: binary and not in LFS",
        "big.txt: 10.0 MiB outside LFS",
        "weights.pkl: pickle-based",
        "objects.npy: pickle-based",
        "copied.dat: a copy of the shared data",
        "link.txt: a symlink",
    )
    for words in expected:
        assert words in message, message
    assert "app.py" not in message and "model.safetensors" not in message


@needs_git
def test_a_credited_example_copied_from_the_shared_data_is_allowed(tmp_path):
    root = _repo(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "cat.txt").write_text("a cat\n")
    (root / "examples").mkdir()
    (root / "examples" / "cat.txt").write_text("a cat\n")
    _add(root)
    with pytest.raises(publish.PublishError, match="cat.txt: a copy of the shared data"):
        publish.space_files(root, shared=shared)
    (root / "examples" / "ATTRIBUTION.md").write_text("| `cat.txt` | by someone | CC0 |\n")
    _add(root)
    assert "examples/cat.txt" in {f.path for f in publish.space_files(root, shared=shared)}
