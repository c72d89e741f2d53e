"""The built HTML book in headless Chromium (Debian's), with no network.

Every page is served from 127.0.0.1; Chromium resolves no other host, and any request to another
host is recorded and aborted. Each page must load without a JavaScript error, without a missing
file (HTTP 4xx/5xx) and without asking an outside host for anything; where a page has math,
MathJax must have rendered every formula; each chapter's explorers must show their controls.
Build the book first (scripts/run_tests.sh does).
"""

from __future__ import annotations

import functools
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
PAGES = sorted(str(p.relative_to(HTML)) for p in HTML.rglob("*.html") if "_static" not in p.parts
               and "vendor" not in p.parts) if HTML.is_dir() else ["<book not built>"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.fail("the book is not built: run `bash scripts/build_book.sh` (run_tests.sh builds it first)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (run_tests.sh does)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, site, path):
    """Open one page offline; return (page, outside requests, JavaScript errors)."""
    context = browser.new_context()
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(site) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
            and errors.append(f"HTTP {r.status} for {r.url}"))
    response = page.goto(f"{site}/{path}", wait_until="load")
    assert response is not None and response.ok, f"{path} did not load: {response and response.status}"
    page.wait_for_load_state("networkidle")
    return page, outside, errors


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_offline(browser, site, path):
    page, outside, errors = _open(browser, site, path)
    n_math = page.locator(".math").count()
    if n_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")
        unrendered = page.evaluate(
            "() => [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length")
        assert unrendered == 0, f"{unrendered} of {n_math} formulas on {path} were not rendered by MathJax"
    assert outside == [], f"{path} asked outside hosts for {outside}"
    assert errors == [], f"JavaScript errors on {path}: {errors}"
    page.context.close()


@pytest.mark.parametrize("path,sliders,animations", [("chapters/01_conv.html", 6, 3),
                                                     ("chapters/02_receptive_field.html", 4, 1),
                                                     ("chapters/03_pooling.html", 3, 2),
                                                     ("chapters/04_activations.html", 2, 1),
                                                     ("chapters/05_losses.html", 2, 1),
                                                     ("chapters/06_normalization.html", 2, 1),
                                                     ("chapters/07_optimization.html", 3, 1),
                                                     ("chapters/08_init_backprop.html", 1, 1),
                                                     ("chapters/09_metrics.html", 1, 1),
                                                     ("chapters/10_detection.html", 3, 2),
                                                     ("chapters/12_transformer.html", 5, 2)])
def test_chapter_explorers_show_controls(browser, site, path, sliders, animations):
    page, outside, errors = _open(browser, site, path)
    # The live ipywidgets explorer, rendered from the saved widget state by the local manager.
    page.wait_for_selector(".widget-slider", timeout=30_000)
    assert page.locator(".widget-slider").count() >= sliders
    # The kernel-free explorers: JavaScript animations whose slider moves without a kernel.
    ranges = page.locator(".animation input[type=range]")
    assert ranges.count() >= animations
    for i in range(ranges.count()):
        frame = page.locator(".animation img").nth(i)
        before = frame.get_attribute("src")
        ranges.nth(i).evaluate("(s) => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
        assert frame.get_attribute("src") != before, f"moving slider {i} did not change its frame"
    assert outside == [] and errors == []
    page.context.close()


@pytest.mark.parametrize("path", [p for p in PAGES if p.startswith("chapters/")])
def test_every_citation_is_rendered(path):
    """Each {footcite} link has its footnote (the build silences MyST's premature footnote warning)."""
    html = (HTML / path).read_text(encoding="utf-8")
    cited = set(re.findall(r'href="#(footcite-[^"]+)"', html))
    assert cited, f"{path} cites no paper"
    missing = [c for c in cited if f'id="{c}"' not in html]
    assert missing == [], f"{path}: citations without a rendered reference: {missing}"
