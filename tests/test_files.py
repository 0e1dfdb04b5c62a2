"""files.py: atomic writes (whole or not at all, no leftovers) and sha256."""

import hashlib

import pytest

from stylegan_lib.files import atomic_write, sha256_of


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    assert atomic_write(path, lambda tmp: tmp.write_text("first")) == path
    atomic_write(path, lambda tmp: tmp.write_text("second"))
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_sha256_of_matches_hashlib_over_several_chunks(tmp_path):
    data = bytes(range(256)) * 9000  # 2.2 MiB: three 1 MiB reads
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
