"""The widgets and the slides, proven in a real browser (Debian's Chromium driven by Playwright).

A real JupyterLab server is started on 127.0.0.1 with a random token; Chromium opens the explorers notebook,
runs it, moves the momentum and batch-size controls of the momentum explorer, and we assert that the picture
really changes (the image bytes differ) and that the readout shows the new values; that a refused value (batch
size 1) leaves a message, the picture and the slider as they were; and that the SGD explorer, which trains in a
worker thread, redraws too (its messages come from that thread). Screenshots are saved under
``artifacts/browser/`` for a human to look at. A second test opens a deck built by ``python -m d2l_bn.slides``
with the network blocked and checks that its first slide renders.

Locally these tests skip (with the reason) when Chromium or Playwright is missing; CI sets
``D2L_BN_REQUIRE_BROWSER=1`` so that a missing browser fails instead.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXPLORERS = ROOT / "notebooks" / "explorers.ipynb"


def _require_browser():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
    if CHROMIUM is None:
        reason = "Chromium is not installed (apt-get install chromium)"
    if reason:
        if os.environ.get("D2L_BN_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on loopback, serving a copy of the explorers notebook; yields (base_url, token)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(EXPLORERS, root / EXPLORERS.name)
    # Render every cell (no virtual scrolling) so the test sees each cell's prompt; no news pop-up.
    settings = root / "lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    port, token = _free_port(), secrets.token_hex(16)
    log = open(root / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0", "--ServerApp.allow_root=True"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
        env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"JupyterLab did not start; see {root / 'server.log'}")
            time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _widget_image(page, explorer_index: int = 0):
    return page.locator(".widget-image").nth(explorer_index)


def _set_slider(page, description: str, value) -> None:
    """Type a value into a slider's editable readout, as a learner can, and commit it with Enter."""
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=description)).first
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def test_momentum_explorer_redraws_in_jupyterlab_when_sliders_move(browser, jupyter_lab):
    base, token = jupyter_lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{EXPLORERS.name}?token={token}")
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    # Wait until the kernel is idle, then Run > Run All Cells, as a student would.
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2_000)  # let the menu bar finish wiring its commands
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    image = _widget_image(page)
    try:
        image.wait_for(timeout=240_000)
        # Widget messages queue behind running cells: wait until every code cell has run.
        page.wait_for_function(
            "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];"
            " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }", timeout=300_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "momentum_explorer_after_run_all.png"))
    page.wait_for_function(
        "() => { const i = document.querySelector('.widget-image');"
        " return i && i.naturalWidth > 0; }", timeout=60_000)
    # Drawing a slider must not move it: the temperature explorer still shows its starting T = 1.
    temperature = page.locator(".jp-OutputArea-output", has=page.locator(".widget-label", has_text="temperature"))
    temperature.first.scroll_into_view_if_needed()
    page.wait_for_timeout(2_000)
    assert temperature.first.locator(".widget-html").first.inner_text().startswith("T = 1: ")
    # A value typed between two positions of this slider (it redraws while dragged): the browser moves the
    # handle to a position and sends that; the explorer settles on one value instead of arguing with it.
    temperature_readout = temperature.first.locator(".widget-html").first
    temperature.first.locator(".widget-readout").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.3")
    page.keyboard.press("Enter")
    page.wait_for_timeout(3_000)
    settled = temperature_readout.inner_text()
    page.wait_for_timeout(2_000)
    assert temperature_readout.inner_text() == settled and settled.startswith(("T = 0.302: ", "⚠")), settled
    page.screenshot(path=str(ARTIFACTS / "temperature_explorer_typed.png"))
    slider_text = temperature.first.locator(".widget-readout").first.inner_text().strip()
    assert settled.startswith(f"T = {slider_text}: ") or settled.startswith("⚠"), (slider_text, settled)
    image.scroll_into_view_if_needed()
    readout = page.locator(".widget-html").first
    before_png, before_text = image.screenshot(), readout.inner_text()
    page.screenshot(path=str(ARTIFACTS / "momentum_explorer_before.png"))

    _set_slider(page, "momentum", 0.5)
    page.wait_for_function("(old) => document.querySelector('.widget-html').innerText !== old",
                           arg=before_text, timeout=30_000)
    after_momentum_png, after_momentum_text = image.screenshot(), readout.inner_text()
    assert after_momentum_png != before_png, "moving the momentum slider did not change the picture"
    assert "0.5" in after_momentum_text, after_momentum_text

    _set_slider(page, "batch", 64)
    page.wait_for_function("(old) => document.querySelector('.widget-html').innerText !== old",
                           arg=after_momentum_text, timeout=30_000)
    after_batch_png, after_batch_text = image.screenshot(), readout.inner_text()
    page.screenshot(path=str(ARTIFACTS / "momentum_explorer_after.png"))
    assert after_batch_png != after_momentum_png, "moving the batch-size slider did not change the picture"
    assert "64" in after_batch_text, after_batch_text

    # A refused value: the readout says why, and the slider goes back to the picture's setting.
    _set_slider(page, "batch", 1)
    page.wait_for_function("() => document.querySelector('.widget-html').innerText.includes('batch size 1')",
                           timeout=30_000)
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="batch")).first
    page.wait_for_function("(e) => e.innerText.trim() === '64'",
                           arg=slider.locator(".widget-readout").element_handle(), timeout=30_000)
    assert image.screenshot() == after_batch_png, "a refused value changed the picture"
    page.screenshot(path=str(ARTIFACTS / "momentum_explorer_refused.png"))

    # An explorer that trains answers from a worker thread: its messages must reach the page too.
    sgd = page.locator(".jp-OutputArea-output", has=page.locator(".widget-label", has_text="learning rate")).first
    sgd.scroll_into_view_if_needed()
    sgd_image, sgd_readout = sgd.locator(".widget-image").first, sgd.locator(".widget-html").first
    before_sgd_png = sgd_image.screenshot()
    readout = sgd.locator(".widget-slider", has=page.locator(".widget-label", has_text="batch")).first \
        .locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("64")
    page.keyboard.press("Enter")
    page.wait_for_function("(e) => e.innerText.startsWith('batch 64, lr 0.05: 32 update(s) per epoch')",
                           arg=sgd_readout.element_handle(), timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "sgd_explorer_after.png"))
    assert sgd_image.screenshot() != before_sgd_png, "the SGD explorer's picture did not change"
    page.close()


def test_offline_deck_renders_its_first_slide(browser, tmp_path):
    from d2l_bn.slides import build_all

    notebook = sorted((ROOT / "notebooks").glob("0*.ipynb"))[0]
    deck = build_all([notebook], ROOT / "slides")[0]   # slides/ keeps the fetched assets between runs
    context = browser.new_context(offline=True)         # a classroom with no network
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(deck.as_uri())
    page.wait_for_selector(".reveal.ready .slides section.present", timeout=30_000)
    heading = page.locator(".slides section.present h1").first
    assert heading.is_visible() and heading.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "first_slide.png"))
    remote = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert not remote, f"the deck asked the network for {remote}"
    context.close()
