"""Small layout pieces the tabs share."""

from __future__ import annotations

import warnings

import gradio as gr
from PIL import Image

from .common import EXAMPLES, upload_path


def image_input(label: str, *, elem_id: str, **kwargs) -> gr.Image:
    """An upload that reaches the handler as the raw file (the handler decodes it)."""
    return gr.Image(label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], elem_id=elem_id,
                    **kwargs)  # fmt: skip


def example_pairs(*pairs: tuple[str, ...]) -> list[list[str]]:
    """Rows of example files that exist in examples/ (a checkout may lack some)."""
    return [[str(EXAMPLES / name) for name in row] for row in pairs if all((EXAMPLES / n).is_file() for n in row)]


def upload_size(upload) -> tuple[int, int] | None:
    """(width, height) from an upload's header, or None when there is none or it is unreadable.

    For the time estimate only: the handler still decodes and checks the file properly.
    """
    path = upload_path(upload)
    if not path:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
