"""The repository is a Hugging Face Space: README front matter, app file, pinned SDK, models."""

from __future__ import annotations

import re
from pathlib import Path

import gradio
from huggingface_hub import SpaceCard, SpaceHardware

from stylegan_lib import hub

ROOT = Path(__file__).resolve().parents[1]


def test_space_front_matter():
    card = SpaceCard.load(ROOT / "README.md")
    data = card.data
    assert data.sdk == "gradio" and (ROOT / data.app_file).is_file()
    assert data.sdk_version == gradio.__version__  # the Space runs what requirements.txt pins
    assert f"gradio=={data.sdk_version}" in (ROOT / "requirements.txt").read_text()
    assert data.suggested_hardware in {h.value for h in SpaceHardware}
    assert data.license and data.title and len(data.short_description) <= 60
    # every model the app loads is listed, and nothing else
    own = {spec.repo_id for name, spec in hub.REGISTRY.items() if name != "vgg19-torchvision"}
    assert set(data.models) == own


def test_readme_starts_with_the_two_commands():
    body = SpaceCard.load(ROOT / "README.md").text
    block = re.search(r"```bash\n(.*?)```", body, re.S).group(1).splitlines()
    assert block[0].startswith("pip install -r requirements.txt && python app.py")
    assert block[1].startswith("pip install -r requirements-dev.txt && python -m pytest")
    assert body.index("```bash") < body.index("\n## ")  # before any section


def test_readme_model_table_names_the_pinned_revisions():
    # the table of weights in README.md states the revision hub.py downloads, for every model
    body = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (`[^|]+`)[^|]* \| `([\w./<>-]+)@(\w+)`", body, re.M)
    stated = {}
    for names, repo, revision in rows:
        for name in re.findall(r"`([\w-]+)`", names):
            stated[name] = (repo.replace("<name>", name), revision)
    pinned = {name: (spec.repo_id, spec.revision) for name, spec in hub.REGISTRY.items() if spec.sha256}
    assert pinned and stated == pinned
