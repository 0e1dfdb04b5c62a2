"""Share links: a tab's settings (and example images) in the URL's query string.

A link such as ``/?tab=nst&content=content_cat_chelsea.png&style=style_flow_hexagons.jpg&steps=50&seed=3``
opens the app on that tab with those values set, so the same run can be repeated by anyone
with the same model version. Uploaded photos are not put in links (they stay private); the
example images are, by file name. A file input in a tab's links holds a latent vector (.npy):
its values go in the link, exactly (:func:`latent_to_text`: 2,731 characters for 512 floats),
and the link gives it back as a fresh .npy file, so a face found by a search can be shared.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

import gradio as gr
import numpy as np
import torch

from stylegan_lib import latent

from .common import EXAMPLES, output_path, upload_path

MAX_PARAM_CHARS = 200  # a longer query value is ignored (a latent's may be as long as latent_from_text takes)


# ----------------------------------------------------------------------------- latents as text


def latent_to_text(z: torch.Tensor) -> str:
    """[z_dim] -> URL-safe text (for share links): base64url, unpadded, of its float32 values
    little-endian; exact, 4/3 characters per byte (683 for z_dim 128, 2,731 for 512)."""
    data = latent.as_vector(z, "latent").detach().cpu().float().numpy().astype("<f4").tobytes()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def latent_from_text(text: str, *, z_dim: int | None = None) -> torch.Tensor:
    """latent_to_text's text -> [z_dim] float32, the same values; ValueError for anything else
    (not base64url, not whole float32 values, more than latent.MAX_LATENT_DIM of them, another
    z_dim, non-finite values, a zero vector). Longer texts are refused before they are decoded."""
    limit = latent.MAX_LATENT_DIM
    if not isinstance(text, str) or not text or len(text) > math.ceil(limit * 4 * 4 / 3):
        raise ValueError(f"a latent as text is 1 to {limit} float32 values in base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # skips what is not base64: checked next
    except (ValueError, binascii.Error):
        data = b""
    if not data or len(data) % 4 or base64.urlsafe_b64encode(data).decode("ascii").rstrip("=") != text:
        raise ValueError("the latent text is not base64url of whole float32 values")
    return latent.checked_latent(np.frombuffer(data, dtype="<f4"), "the latent text", z_dim=z_dim)


# ----------------------------------------------------------------------------- links


def _example(upload) -> str | None:
    """The example file name of an image input's value, or None for a user's own upload."""
    if not upload:
        return None
    name = upload.get("orig_name") or upload.get("path") if isinstance(upload, dict) else upload
    name = Path(str(name)).name
    return name if (EXAMPLES / name).is_file() else None


def encode(tab: str, params: Mapping[str, gr.components.Component], values: list) -> tuple[dict, list[str]]:
    """(query dict, what was left out: "NAME image" for an own upload, "NAME file" for a file that is
    not a latent) for ``values`` of the components ``params``."""
    query, private = {"tab": tab}, []
    for (name, component), value in zip(params.items(), values, strict=True):
        if isinstance(component, gr.File):  # a latent vector (.npy)
            if path := upload_path(value):
                try:
                    query[name] = latent_to_text(latent.load_latent(path))
                except ValueError:  # not a latent: the handler says so when it runs
                    private.append(f"{name} file")
        elif isinstance(component, gr.Image):
            example = _example(value)
            if example:
                query[name] = example
            elif value:
                private.append(f"{name} image")
        elif isinstance(component, gr.CheckboxGroup):
            query[name] = ",".join(value or [])
        elif value is not None:
            query[name] = value
    return query, private


def link(request: gr.Request | None, query: dict) -> str:
    """An absolute URL when the request says where the app is served, else the query alone."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host")
    scheme = headers.get("x-forwarded-proto", "http")
    base = f"{scheme}://{host}/" if host else "/"
    return f"{base}?{urlencode(query)}"


def decode(component: gr.components.Component, text: str):
    """A query value as the component's value; raises ValueError when it does not fit."""
    if isinstance(component, gr.File):  # a latent vector, back as a .npy file of its own
        return str(latent.save_latent(latent_from_text(text), output_path("shared-latent", ".npy")))
    if len(text) > MAX_PARAM_CHARS:
        raise ValueError("too long")
    if isinstance(component, gr.Image):
        path = EXAMPLES / Path(text).name
        if not path.is_file():
            raise ValueError(f"no example named {text!r}")
        return str(path)
    if isinstance(component, gr.CheckboxGroup):
        choices = {value for _, value in component.choices}
        chosen = [item for item in text.split(",") if item]
        if not set(chosen) <= choices:
            raise ValueError(f"unknown choices {sorted(set(chosen) - choices)}")
        return chosen
    if isinstance(component, gr.Radio):
        if text not in {value for _, value in component.choices}:
            raise ValueError(f"unknown choice {text!r}")
        return text
    if isinstance(component, gr.Checkbox):
        return text.lower() in {"1", "true", "yes", "on"}
    if isinstance(component, gr.Slider):
        value = float(text)
        if not component.minimum <= value <= component.maximum:
            raise ValueError(f"{value} is outside {component.minimum}-{component.maximum}")
        return value
    if isinstance(component, gr.Number):
        return float(text)
    return text


class ShareLinks:
    """Collects each tab's shareable components; ``wire`` restores them from the URL on load."""

    def __init__(self):
        self.tabs: dict[str, dict[str, gr.components.Component]] = {}

    def button(self, tab: str, params: Mapping[str, gr.components.Component]) -> None:
        """A "Share link" button and its output box for the tab's ``params`` (query name -> component)."""
        self.tabs[tab] = dict(params)
        with gr.Row():
            button = gr.Button("Share link", size="sm", elem_id=f"{tab}-share")
            box = gr.Textbox(
                label="Link to these settings", buttons=["copy"], interactive=False, max_lines=4, elem_id=f"{tab}-link"
            )  # a latent makes a link of ~2,800 characters

        def make(request: gr.Request, *values):  # Gradio passes the request first, then the inputs
            query, private = encode(tab, params, list(values))
            note = f" (your own {', '.join(private)} is not in the link)" if private else ""
            return link(request, query) + note

        button.click(make, list(params.values()), box, queue=False, preprocess=False, api_name=f"{tab}_share_link")

    def wire(self, demo: gr.Blocks, tabs: gr.Tabs) -> None:
        components = [c for params in self.tabs.values() for c in params.values()]

        def restore(request: gr.Request):
            query = dict(getattr(request, "query_params", None) or {})
            updates = [gr.update() for _ in components]
            tab = query.get("tab")
            if tab not in self.tabs:
                return [gr.update(), *updates]
            offset = 0
            for name, params in self.tabs.items():
                if name == tab:
                    for i, (key, component) in enumerate(params.items()):
                        if key in query:
                            try:
                                updates[offset + i] = gr.update(value=decode(component, query[key]))
                            except ValueError:
                                gr.Warning(f"The link's {key}={query[key][:40]!r} was ignored.")
                offset += len(params)
            return [gr.Tabs(selected=tab), *updates]

        # queued: gr.Warning (a value from the link that does not fit) reaches the page only through the queue
        demo.load(restore, None, [tabs, *components], api_visibility="private")
