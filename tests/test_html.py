"""The built HTML book in headless Chromium (Debian's), with no network.

Every page is served from 127.0.0.1; Chromium resolves no other host, and any request to another
host is recorded and aborted. Each page must load without a JavaScript error, without a missing
file (HTTP 4xx/5xx) and without asking an outside host for anything; where a page has math,
MathJax must have rendered every formula; each chapter's explorers must show their controls.
Build the book first (scripts/run_tests.sh does).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import offline_site  # noqa: E402  (scripts/offline_site.py, shared with the PDF printer)

HTML = REPO / "_build" / "html"
PAGES = sorted(str(p.relative_to(HTML)) for p in HTML.rglob("*.html") if "_static" not in p.parts
               and "vendor" not in p.parts) if HTML.is_dir() else ["<book not built>"]


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.fail("the book is not built: run `bash scripts/build_book.sh` (run_tests.sh builds it first)")
    server, url = offline_site.serve(HTML)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (run_tests.sh does)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=offline_site.CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, site, path):
    """Open one page offline; return (page, outside requests, JavaScript errors)."""
    context = browser.new_context()
    outside: list[str] = []
    context.route("**/*", offline_site.offline_route(site, outside))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status} for {r.url}"))
    response = page.goto(f"{site}/{path}", wait_until="load")
    assert response is not None and response.ok, f"{path} did not load: {response and response.status}"
    page.wait_for_load_state("networkidle")
    return page, outside, errors


# The page's text outside MathJax's output and outside code: no TeX may be left there (a display
# formula without a blank line before its "$$" is shown as raw text, with the prose typeset as math).
RAW_LATEX_JS = r"""() => {
  const article = document.querySelector("article") || document.body;
  const copy = article.cloneNode(true);
  copy.querySelectorAll("mjx-container, pre, code, script, style, .highlight, .cell_input").forEach(e => e.remove());
  const text = copy.textContent;
  const found = [];
  const tex = /\$\$|\$\\|\\(frac|lfloor|rfloor|sqrt|begin|end|mathrm|cdot|sum|left|right|text)\b|[\^_]\{/g;
  for (const m of text.matchAll(tex)) {
    found.push(text.slice(Math.max(0, m.index - 30), m.index + 30).replace(/\s+/g, " "));
  }
  return found.slice(0, 5);
}"""


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
    raw = page.evaluate(RAW_LATEX_JS)
    assert raw == [], f"{path} shows LaTeX that MathJax did not typeset: {raw}"
    assert outside == [], f"{path} asked outside hosts for {outside}"
    assert errors == [], f"JavaScript errors on {path}: {errors}"
    page.context.close()


CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/")]


def _live_explorer_cells(path: str) -> int:
    """How many cells of a chapter's source show a live ipywidgets explorer."""
    source = (REPO / path).with_suffix(".md").read_text(encoding="utf-8")
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)^```$", source, re.S | re.M)
    return sum(bool(re.search(r"^\w+_explorer\(", c, re.M)) for c in cells)


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_explorers_are_honest_in_the_static_page(browser, site, path):
    """The kernel-free explorers (JavaScript players) move; a live ipywidgets explorer, which needs
    a kernel, is not shown as dead sliders but as a note with the chapter's Colab link, after the
    kernel-free version."""
    page, outside, errors = _open(browser, site, path)
    assert page.locator(".widget-slider, .jupyter-widgets").count() == 0, f"{path} shows dead widget controls"
    assert page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count() == 0
    assert page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count() == 0
    ranges = page.locator(".animation input[type=range]")
    for i in range(ranges.count()):
        frame = page.locator(".animation img").nth(i)
        before = frame.get_attribute("src")
        ranges.nth(i).evaluate("(s) => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
        assert frame.get_attribute("src") != before, f"moving slider {i} did not change its frame"
    notes = page.locator("p.cvbook-live-note")
    assert notes.count() == _live_explorer_cells(path), f"{path}: one note per live explorer"
    if notes.count():
        colab = page.locator("a[href*='colab.research.google.com']").first.get_attribute("href")
        docname = path.removesuffix(".html")
        assert colab.endswith(f"/blob/main/{docname}.ipynb"), colab
        for i in range(notes.count()):
            assert notes.nth(i).locator("a").get_attribute("href") == colab
        assert ranges.count() > 0, f"{path} has a live explorer but no kernel-free version"
        first_animation_before_first_note = page.evaluate(
            "() => !!(document.querySelector('.animation').compareDocumentPosition("
            "document.querySelector('p.cvbook-live-note')) & Node.DOCUMENT_POSITION_FOLLOWING)")
        assert first_animation_before_first_note, f"{path}: the kernel-free explorer must come first"
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


MAX_PAGE_BYTES = 4 * 1024 * 1024


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_chapter_page_is_light(browser, site, path):
    """A chapter page loads under 4 MB in all (the page, its scripts, styles, fonts and images):
    one MathJax bundle and the fonts it uses, no widget manager, no source maps."""
    page, outside, errors = _open(browser, site, path)
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")
        page.wait_for_load_state("networkidle")
    loaded = page.evaluate("""() => performance.getEntriesByType("navigation").concat(
        performance.getEntriesByType("resource")).map(e => [e.name, e.encodedBodySize || e.transferSize || 0])""")
    total = sum(size for _, size in loaded)
    heaviest = sorted(loaded, key=lambda e: -e[1])[:5]
    assert total < MAX_PAGE_BYTES, f"{path} loads {total / 2**20:.1f} MB; heaviest: {heaviest}"
    assert not any(name.endswith(".map") for name, _ in loaded)
    page.context.close()


def test_site_ships_no_source_maps_or_unused_vendor_files():
    assert not list(HTML.rglob("*.map")), "source maps are shipped"
    assert not (HTML / "vendor" / "html-manager").exists() and not (HTML / "vendor" / "require.js").exists()
    mathjax = HTML / "vendor" / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").is_file()
    assert sorted(p.name for p in mathjax.iterdir()) == ["input", "output", "tex-mml-chtml.js"]


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("path", ["index.html", "intro.html", "appendix/question_bank.html"] + CHAPTER_PAGES)
def test_page_fits_a_phone(browser, site, path):
    """At 390 px the page never scrolls sideways and every kernel-free explorer (frame, slider and
    buttons) fits its column. Wide code or tables may scroll inside their own box, not the page."""
    if not (HTML / path).is_file():
        pytest.skip(f"{path} is not a page of this book")
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
    page = context.new_page()
    page.goto(f"{site}/{path}", wait_until="load")
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 390 px"
    too_wide = page.evaluate("""() => [...document.querySelectorAll(".animation")].flatMap(a => {
        const box = a.parentElement.getBoundingClientRect();
        return [...a.querySelectorAll("img, input[type=range], .anim-buttons, button")]
          .filter(e => e.getBoundingClientRect().right > box.right + 1 || e.getBoundingClientRect().left < box.left - 1)
          .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right) + " > "
               + Math.round(box.right));
    })""")
    assert too_wide == [], f"{path}: explorer parts wider than the column at 390 px: {too_wide[:5]}"
    context.close()


def _book_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cvbook_offline", REPO / "_ext" / "cvbook_offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chapter_titles() -> dict[str, str]:
    """The first heading of each chapter in _toc.yml, to its docname."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    titles = {}
    for part in toc["parts"]:
        for entry in part["chapters"]:
            text = (REPO / f"{entry['file']}.md").read_text(encoding="utf-8")
            titles[re.search(r"^# (.+)$", text, re.M).group(1).strip()] = entry["file"]
    return titles


def glossary_queries() -> list[tuple[str, str]]:
    """(query, the chapter it must find) for every Chinese and English term of the glossary and of
    the chapters' titles."""
    ext, titles = _book_extension(), _chapter_titles()
    pairs = []
    for section, rows in ext.glossary_terms(REPO / "appendix" / "glossary.md").items():
        docname = titles.get(section) or next(d for t, d in titles.items() if t.startswith(section))
        for zh, en in rows:
            pairs += [(q, docname) for q in ext.chinese_words(zh) + ext.english_words(en)]
    for title, docname in titles.items():  # a chapter's title names it too: 感受野, Receptive field
        pairs += [(q, docname) for q in ext.chinese_words(title) + ext.english_words(title)]
    return sorted(set(pairs))


def test_search_finds_every_glossary_term_in_its_chapter(browser, site):
    """The built search index answers every term of the glossary, in Chinese (segmented by jieba
    with the glossary as its user dictionary) and in English (acronyms such as NMS, IoU, BN
    included), with at least the chapter whose glossary section lists it."""
    queries = glossary_queries()
    assert len(queries) > 300 and ("感受野", "chapters/02_receptive_field") in queries
    assert ("NMS", "chapters/10_detection") in queries and ("BN", "chapters/06_normalization") in queries
    page, outside, errors = _open(browser, site, "search.html")
    page.wait_for_function("() => typeof Search !== \"undefined\" && Search._index", timeout=30_000)
    found = page.evaluate("""(queries) => queries.map(q => Search._performSearch(...Search._parseQuery(q))
                                                   .map(r => r[0]))""", [q for q, _ in queries])
    missing = [(q, d) for (q, d), docs in zip(queries, found) if d not in docs]
    assert missing == [], f"{len(missing)} of {len(queries)} glossary terms do not find their chapter: {missing[:40]}"
    assert outside == [] and errors == []
    page.context.close()


@pytest.mark.parametrize("query,chapter", [("池化", "chapters/03_pooling"), ("焦点损失", "chapters/05_losses"),
                                           ("损失函数", "chapters/05_losses"), ("卷积", "chapters/01_conv"),
                                           ("感受野", "chapters/02_receptive_field"), ("NMS", "chapters/10_detection")])
def test_search_results_page_lists_the_chapter(browser, site, query, chapter):
    """What the reader sees: the search page, given a query in its address, lists the chapter."""
    page, outside, errors = _open(browser, site, f"search.html?q={query}")
    page.wait_for_selector("#search-results ul.search li", timeout=30_000)
    links = page.locator("#search-results ul.search li a").evaluate_all("(as) => as.map(a => a.href)")
    assert any(f"/{chapter}.html" in href for href in links), f"{query}: {links[:10]}"
    # Each result's snippet shows formulas as plain text, not their TeX source.
    page.wait_for_function("(n) => document.querySelectorAll('#search-results li p.context').length >= n",
                           arg=min(3, len(links)), timeout=30_000)
    snippets = page.locator("#search-results li p.context").all_inner_texts()
    raw = [t for t in snippets if re.search(r"\\[()\[\]]|\\(frac|lfloor|sqrt|text|mathrm|cdot)\b|\$\$", t)]
    assert raw == [], f"{query}: search snippets show TeX: {raw[:2]}"
    if query == "NMS":
        users = {p for p in PAGES if p not in ("search.html", "genindex.html")
                 and re.search(r"\bNMS\b", (HTML / p).read_text(encoding="utf-8"))}
        listed = {href.split(site + "/", 1)[-1].split("#")[0] for href in links}
        assert len(users) >= 4 and users <= listed, f"NMS is on {sorted(users)}, search lists {sorted(listed)}"
    assert outside == [] and errors == []
    page.context.close()


# Interface strings a zh_CN book must not show: English fallbacks, Taiwanese wording, and what a
# LaTeX accent in references.bib turns into in a citation label.
FOREIGN_UI = ["Click to show", "Click to hide", "列印", "Search this book", "Color mode", "System Settings",
              "Toggle primary sidebar", "Toggle secondary sidebar", "Link to this heading", 'title="Play"',
              "Dollar", "{\\'", "{\\\""]


@pytest.mark.parametrize("path", PAGES)
def test_page_chrome_is_chinese_and_complete(path):
    """zh_CN interface strings, readable citation labels, a favicon, one header (no second strip with
    a second search box), and a print split over several boxes joined into one."""
    html = (HTML / path).read_text(encoding="utf-8")
    shown = [s for s in FOREIGN_UI if s in html]
    assert shown == [], f"{path} shows {shown}"
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html)
    if 'http-equiv="Refresh"' in html:  # Jupyter Book's redirect: the browser asks for /favicon.ico
        assert (HTML / "favicon.ico").is_file(), "no /favicon.ico for the redirect page"
    else:
        assert icon and (HTML / path).parent.joinpath(icon.group(1)).resolve().is_file(), f"{path}: no favicon"
    assert "navbar-header-items" not in html and 'class="navbar-persistent--mobile"' not in html, (
        f"{path} has pydata-sphinx-theme's second header strip")
    split = re.search(r'<div class="output stream[^"]*">\s*<div class="highlight"><pre>(?:(?!</pre>).)*</pre>\s*'
                      r'</div>\s*</div>\s*<div class="output stream', html, re.S)
    assert split is None, f"{path}: one print is split over several boxes"
