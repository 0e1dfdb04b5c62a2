"""stylegan_lib: the Gradio app (a Hugging Face Space).

Tabs: Van Gogh HD (Siamese GAN by tiles, CycleGAN beside it), Neural style transfer
(Gatys, VGG19), ProGAN latent explorer, and a comparison of every method on one photo.
Each tab lives in ``webapp/<tab>_tab.py`` (handlers first, then layout and events); this
file only assembles them. Nothing is loaded at import time: weights are resolved on first
use (stylegan_lib.hub).

Run: ``python app.py`` (serves on 127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
override). Uploads are decoded by stylegan_lib.images (events use preprocess=False), so a
bad file gets our message instead of a decoder traceback. Every event is a named API
endpoint; ``?tab=...&...`` links restore a tab's settings (webapp/share.py).
"""

from __future__ import annotations

# `spaces` before anything else: on a ZeroGPU Space importing it patches torch so that the app sees
# the GPU its handlers get (webapp/common.py decides the device and limits from that).
try:
    import spaces  # noqa: F401
except ImportError:
    pass

import os

import gradio as gr

from webapp import about, compare_tab, nst_tab, progan_tab, vangogh_tab
from webapp.common import DEVICE, OUTPUT_MAX_AGE_S
from webapp.share import ShareLinks

TABS = {  # tab id -> (title, module)
    "vangogh": ("Van Gogh HD", vangogh_tab),
    "nst": ("Neural style transfer", nst_tab),
    "progan": ("ProGAN", progan_tab),
    "compare": ("Compare methods", compare_tab),
}
QUEUE_SIZE = 64  # waiting jobs beyond this are refused with "queue full" rather than piling up
# The comparison tables (Markdown) break only between words, and never inside a time.
CSS = """
#compare-table td, #compare-table th, #vangogh-table td, #vangogh-table th {
    overflow-wrap: normal; word-break: normal; }
#compare-table td:nth-child(2), #vangogh-table td:nth-child(2) { white-space: nowrap; }
"""
MAX_UPLOAD = "100mb"  # larger uploads get HTTP 413 before they reach the disk (a 50 MP JPEG is ~25 MB)


def build_demo() -> gr.Blocks:
    share = ShareLinks()
    # Gradio's own upload cache is swept like our outputs: files older than an hour go.
    with gr.Blocks(title="stylegan_lib — Van Gogh HD, style transfer, ProGAN",
                   delete_cache=(OUTPUT_MAX_AGE_S, OUTPUT_MAX_AGE_S)) as demo:  # fmt: skip
        gr.Markdown(
            "# stylegan_lib\nTurn photos into paintings at full resolution, run Gatys style transfer, "
            f"explore a progressive GAN, compare the methods. Running on **{DEVICE}**."
        )
        with gr.Tabs() as tabs:
            for tab_id, (title, module) in TABS.items():
                with gr.Tab(title, id=tab_id, elem_id=f"tab-{tab_id}"):
                    module.build(demo, share)
        share.wire(demo, tabs)
        with gr.Accordion("About and credits: the methods, their papers, the model cards", open=False,
                          elem_id="about"):  # fmt: skip
            gr.Markdown(about.text())
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.queue(max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        theme=gr.themes.Soft(),
        css=CSS,
        max_file_size=MAX_UPLOAD,
    )
