"""The app in a real browser: headless Debian chromium through Playwright, against `python app.py`.

For each tab: open the app, switch to the tab, upload a small photo, run one tiny job, and
check that the result image appears (an <img> in the output component whose src loads:
complete, naturalWidth > 0) and that no error toast is shown; a screenshot per tab goes to
pytest's tmp_path and, when STYLEGAN_LIB_SCREENSHOTS names a folder, there too.

Playwright drives the system chromium (executable_path); its own browser download is never
used. `.ci/run` installs both, so CI never skips this; locally it skips with the reason if
either is missing. Elements are found by the elem_ids the tabs set (webapp/*_tab.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hostile
import pytest

JOB_TIMEOUT_MS = 240_000  # a tiny job on a busy 2-core CPU, first use of the weights included
pytestmark = [pytest.mark.browser, pytest.mark.app, pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Tab:
    """One tab of the app: how to run a tiny job in it and where its result appears."""

    id: str  # the gr.Tab id: its button is #tab-{id}-button
    title: str
    run: Callable  # (page, files) -> None: fill the inputs, click the button
    output: str  # selector of the result <img> elements
    done: tuple[str, str] | None = None  # (selector, text) that appears when the job has finished


def _upload(page, elem_id: str, path: Path) -> None:
    """Upload through the component's file input and wait for its preview."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.locator(f"#{elem_id} img").first.wait_for(state="visible", timeout=60_000)


def _number(page, elem_id: str, value) -> None:
    """Set a slider or number through its number box (committed on blur, as a user does)."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def _wait_tab(page, tab_id: str) -> None:
    """Wait until the tab's button is selected (a share link selects its tab on load)."""
    page.wait_for_function(
        f"() => document.querySelector('#tab-{tab_id}-button')?.getAttribute('aria-selected') === 'true'",
        timeout=30_000,
    )


def _wait_images(page, selector: str, *, replacing: list[str] = ()) -> None:
    """Wait until the images under ``selector`` exist and have loaded (complete, naturalWidth > 0),
    none of them still one of the sources in ``replacing`` (what was shown before a job)."""
    page.wait_for_function(
        """([sel, old]) => { const imgs = [...document.querySelectorAll(sel)];
                    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0
                                                               && !old.includes(i.getAttribute('src'))); }""",
        arg=[selector, list(replacing)],
        timeout=JOB_TIMEOUT_MS,
    )


def _share_link(page, tab_id: str, needle: str = "tab=") -> str:
    """Click the tab's Share link button and return the link once it holds ``needle``."""
    page.locator(f"#{tab_id}-share").click()
    page.wait_for_function(f"() => document.querySelector('#{tab_id}-link textarea')?.value.includes('{needle}')",
                           timeout=30_000)  # fmt: skip
    return page.locator(f"#{tab_id}-link textarea").input_value()


def _run_vangogh(page, files) -> None:
    _upload(page, "vangogh-photo", files["photo"])
    page.locator("#vangogh-run").click()


def _run_nst(page, files) -> None:
    _upload(page, "nst-content", files["photo"])
    _upload(page, "nst-style", files["style"])
    _number(page, "nst-steps", 2)
    _number(page, "nst-size", 64)
    page.locator("#nst-run").click()


def _run_progan(page, files) -> None:
    _number(page, "progan-seed", 3)
    page.locator("#progan-run").click()


def _run_compare(page, files) -> None:
    _upload(page, "compare-photo", files["photo"])
    for box in page.locator("#compare-methods input[type=checkbox]").all():  # only the fastest method
        box.set_checked(box.get_attribute("name") == "siamese")
    page.locator("#compare-run").click()


TABS = [  # one entry per tab of app.py's TABS; a new tab adds a line here
    Tab("vangogh", "Van Gogh HD", _run_vangogh, "#vangogh-output img", ("#vangogh-status", " in ")),
    Tab("nst", "Neural style transfer", _run_nst, "#nst-output img", ("#nst-status", "Done")),
    Tab("progan", "ProGAN", _run_progan, "#progan-face img"),
    Tab("compare", "Compare methods", _run_compare, "#compare-gallery img", ("#compare-table", "Siamese")),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian chromium is not installed (`apt-get install chromium`; .ci/run does it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser")
    hostile.photo(96, 64).save(folder / "photo.png")
    hostile.photo(48, 48).transpose(hostile.Image.Transpose.ROTATE_90).save(folder / "style.png")
    return {"photo": folder / "photo.png", "style": folder / "style.png"}


def test_the_tab_list_matches_the_app():
    """TABS here covers every tab of app.py (a new tab needs a browser job)."""
    import app

    assert [(t.id, t.title) for t in TABS] == [(tab_id, title) for tab_id, (title, _) in app.TABS.items()]


@pytest.mark.parametrize("tab", TABS, ids=[t.id for t in TABS])
def test_tab_runs_a_job_in_the_browser(browser, app_server, files, tmp_path, tab):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(app_server, wait_until="networkidle", timeout=60_000)
        button = page.locator(f"#tab-{tab.id}-button")
        assert button.inner_text().strip() == tab.title
        button.click()
        assert button.get_attribute("aria-selected") == "true"

        # the tab opens on its examples' results: the job's own must replace them
        shown = page.locator(tab.output).evaluate_all("imgs => imgs.map(i => i.getAttribute('src') || '')")
        status = page.locator(tab.done[0]).inner_text() if tab.done else ""
        tab.run(page, files)
        if tab.done:
            selector, text = tab.done
            page.wait_for_function(
                """([sel, text, before]) => { const el = document.querySelector(sel);
                                              return el && el.innerText.includes(text) && el.innerText !== before; }""",
                arg=[selector, text, status],
                timeout=JOB_TIMEOUT_MS,
            )
        _wait_images(page, tab.output, replacing=shown)
        images = page.locator(tab.output).evaluate_all(
            "imgs => imgs.map(i => ({src: i.getAttribute('src') || '', w: i.naturalWidth, h: i.naturalHeight}))"
        )
        assert images and all(i["src"] and i["w"] > 0 and i["h"] > 0 for i in images), images
        for image in images:  # the src is served by the app, not only cached by the page
            if image["src"].startswith("http"):
                assert page.request.get(image["src"]).ok, image["src"]
        assert not errors, errors
        toasts = page.locator(".toast-body.error, [data-testid='toast-body'].error").all_inner_texts()
        assert not toasts, toasts  # a good job shows no error toast
    finally:
        shot = tmp_path / f"{tab.id}.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("STYLEGAN_LIB_SCREENSHOTS"):
            folder = Path(os.environ["STYLEGAN_LIB_SCREENSHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, folder / shot.name)
        page.close()
    assert shot.stat().st_size > 0


FIRST_VIEW = {  # tab -> the result images it shows before anyone clicks anything (webapp/examples.py)
    "vangogh": ("#vangogh-output img", "#vangogh-gallery img"),
    "nst": ("#nst-output img", "#nst-fast-output img"),
    "progan": ("#progan-face img", "#progan-animation img", "#progan-search-output img"),
    "compare": ("#compare-gallery img",),
}


def test_first_view_covers_every_tab():
    import app

    assert set(FIRST_VIEW) == set(app.TABS)


@pytest.mark.parametrize("tab_id", list(FIRST_VIEW))
def test_each_tab_opens_on_its_examples_results(browser, app_server, tab_id):
    """Opened without a click (the first tab at /, the others by their ?tab= link), every tab
    shows its examples' results: images the server serves, loaded, of a real size."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        first = tab_id == next(iter(FIRST_VIEW))
        page.goto(app_server if first else f"{app_server}?tab={tab_id}", wait_until="networkidle", timeout=60_000)
        _wait_tab(page, tab_id)
        for selector in FIRST_VIEW[tab_id]:
            _wait_images(page, selector)
            images = page.locator(selector).evaluate_all(
                "imgs => imgs.map(i => ({src: i.getAttribute('src') || '', w: i.naturalWidth, h: i.naturalHeight}))"
            )
            assert images and all(i["w"] >= 64 and i["h"] >= 64 for i in images), (selector, images)
            for image in images:
                assert "/examples/results/" in image["src"] or "gradio_api/file=" in image["src"], image
                assert page.request.get(image["src"]).ok, image["src"]
        assert not errors, errors
    finally:
        _screenshot(page, f"first-view-{tab_id}.png")
        page.close()


def _screenshot(page, name: str) -> None:
    """A full-page screenshot kept in STYLEGAN_LIB_SCREENSHOTS when it names a folder."""
    folder = os.environ.get("STYLEGAN_LIB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_share_link_restores_its_tab_and_settings(browser, app_server, tmp_path):
    """Open a link as a second user would: the tab, the settings and the example photo come back,
    a value that does not fit is ignored, and the tab's Share link reproduces the link."""
    query = "tab=compare&photo=content_cat_chelsea.png&methods=siamese%2Cgatys&steps=7&seed=3"
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        page.goto(f"{app_server}?{query}&bogus=1", wait_until="networkidle", timeout=60_000)
        _wait_tab(page, "compare")
        page.wait_for_function("() => document.querySelector('#compare-steps input[type=number]')?.value === '7'",
                               timeout=30_000)  # fmt: skip
        assert page.locator("#compare-seed input").input_value() == "3"
        checked = {
            box.get_attribute("name")
            for box in page.locator("#compare-methods input[type=checkbox]").all()
            if box.is_checked()
        }
        assert checked == {"siamese", "gatys"}
        page.locator("#compare-photo img").first.wait_for(state="visible", timeout=30_000)

        link = _share_link(page, "compare")
        assert link == f"{app_server}?{query}"
    finally:
        page.screenshot(path=str(tmp_path / "share-link.png"), full_page=True)
        page.close()


def test_a_share_link_carries_a_latent_to_its_face(browser, app_server, tmp_path):
    """A link with a latent (as a search's "Render this result" makes): the latent comes back as a
    file, "Render latent" paints exactly its face, the interpolation's saved-latent panel opens for
    the "from" latent, and the tab's Share link carries the same latent text again."""
    import numpy as np
    from PIL import Image

    from stylegan_lib import progan
    from webapp import share
    from webapp.progan_tab import _face

    G, config = progan.load_generator()
    z = progan.sample_latents(1, z_dim=config.z_dim, seed=5)[0]
    text = share.latent_to_text(z)
    expected = np.asarray(_face(progan.generate(G, z[None])[0])).astype(int)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.goto(f"{app_server}?tab=progan&latent={text}&from_latent={text}", wait_until="networkidle",
                  timeout=60_000)  # fmt: skip
        _wait_tab(page, "progan")
        page.locator("#progan-latent-upload").filter(has_text="shared-latent").wait_for(timeout=30_000)
        page.locator("#progan-from-latent").filter(has_text="shared-latent").wait_for(state="visible", timeout=30_000)
        # The tab opens on an example face: wait for the rendered one to replace it.
        shown = page.locator("#progan-face img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
        page.locator("#progan-render").click()
        _wait_images(page, "#progan-face img", replacing=shown)
        src = page.locator("#progan-face img").get_attribute("src")
        (tmp_path / "face.png").write_bytes(page.request.get(src).body())
        with Image.open(tmp_path / "face.png") as face:
            assert np.abs(np.asarray(face.convert("RGB")).astype(int) - expected).max() <= 1  # the same face

        link = _share_link(page, "progan")
        assert f"&latent={text}&" in link and f"&from_latent={text}&" in link and "to_latent" not in link
    finally:
        page.screenshot(path=str(tmp_path / "latent-link.png"), full_page=True)
        page.close()


def test_a_search_result_goes_into_the_share_link(browser, app_server, tmp_path):
    """Search, then "Render this result above": the found latent is rendered and the link carries it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.goto(f"{app_server}?tab=progan", wait_until="networkidle", timeout=60_000)
        _wait_tab(page, "progan")
        for elem_id, value in (("progan-search-steps", 10), ("progan-restarts", 1), ("progan-preselect", 0)):
            _number(page, elem_id, value)
        page.locator("#progan-search").click()
        page.locator("#progan-search-latent").filter(has_text="search-").wait_for(timeout=JOB_TIMEOUT_MS)  # its file
        shown = page.locator("#progan-face img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
        page.locator("#progan-keep-result").click()
        page.locator("#progan-latent-upload").filter(has_text="search-").wait_for(timeout=30_000)
        _wait_images(page, "#progan-face img", replacing=shown)
        link = _share_link(page, "progan", "latent=")
        assert "search_steps=10" in link and "restarts=1" in link and "preselect=0" in link
        assert "is not in the link" not in link
    finally:
        page.screenshot(path=str(tmp_path / "search-link.png"), full_page=True)
        page.close()


def test_a_share_link_with_bad_values_still_opens(browser, app_server):
    page = browser.new_page()
    try:
        page.goto(f"{app_server}?tab=nst&steps=1e9&content=../../etc/passwd&optimizer=sgd",
                  wait_until="networkidle", timeout=60_000)  # fmt: skip
        _wait_tab(page, "nst")
        page.locator("[data-testid='toast-body']").first.wait_for(timeout=30_000)  # "The link's steps=... was ignored."
        assert "was ignored" in " ".join(page.locator("[data-testid='toast-body']").all_inner_texts())
        assert page.locator("#nst-steps input[type=number]").input_value() != "1000000000"
        assert page.locator("#nst-content img").count() == 0  # no file outside examples/ was served
    finally:
        page.close()
