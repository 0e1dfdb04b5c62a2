"""The committed results of the examples (webapp/examples.py): complete, small, and what the tabs show."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from webapp import examples

pytestmark = pytest.mark.skipif(not examples.MANIFEST.is_file(), reason="examples/results/ not made yet")


def _files(entry) -> list[str]:
    """Every file name a tab's record points at (values ending in .jpg/.gif, gallery items)."""
    found = []
    for key, value in entry.items():
        if key == "gallery":
            found += [name for name, _ in value]
        elif isinstance(value, str) and value.endswith((".jpg", ".gif")):
            found.append(value)
    return found


def test_every_tab_has_results_and_every_file_is_recorded():
    manifest = json.loads(examples.MANIFEST.read_text())
    assert set(manifest) == set(examples.MAKERS)
    recorded = {name for entry in manifest.values() for name in _files(entry)}
    on_disk = {p.name for p in examples.RESULTS.iterdir() if p.name != examples.MANIFEST.name}
    assert recorded == on_disk  # nothing missing, no stray file from an older run


@pytest.mark.parametrize("path", sorted(p for p in examples.RESULTS.glob("*") if p.suffix in {".jpg", ".gif"}))
def test_result_files_are_small_valid_images(path):
    assert path.stat().st_size <= examples.MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == ("GIF" if path.suffix == ".gif" else "JPEG")
        assert 64 <= max(img.size) <= examples.SHOWN_SIDE
        if path.suffix == ".gif":
            assert img.n_frames == examples.GIF_FRAMES


def test_the_tabs_get_the_recorded_values():
    assert examples.pair("vangogh", "before", "after") is not None
    assert examples.gallery("vangogh") and examples.gallery("compare")
    for tab, key in (("nst", "result"), ("nst", "fast"), ("nst", "magenta"), ("progan", "face"),
                     ("progan", "interpolation"), ("progan", "search")):  # fmt: skip
        assert examples.file(tab, key), (tab, key)
    for tab, key in (("vangogh", "status"), ("vangogh", "table"), ("nst", "status"), ("compare", "table")):
        assert examples.text(tab, key).strip(), (tab, key)
    assert examples.file("nst", "no such key") is None and examples.text("nope", "status") == ""
