"""Print the single-page HTML build of the book to one PDF with Debian's headless Chromium.

    python scripts/print_pdf.py            # _build/singlehtml/ -> _build/pdf/cvbook.pdf

scripts/build_pdf.sh builds _build/singlehtml first (`jupyter-book build --builder singlehtml`).
The page is served from 127.0.0.1; Chromium resolves no other host and every request elsewhere
is aborted, so the PDF is made from the book's own files (MathJax from vendor/, fonts from
Debian's fonts-noto-cjk). Before printing, the script

* waits for MathJax and fails if a formula is not typeset or reports a TeX error,
* waits for every image (the kernel-free animations show their first frame),
* opens every toggle (dropdown admonitions, hidden-cell toggles) and injects print_pdf.css,
* writes a title page and a table of contents (chapters and their sections, as links) and makes
  each chapter a top-level heading, so Chromium's PDF outline (bookmarks) lists the chapters,
* scales down display formulas and tables still wider than the column.

It prints twice: the first PDF tells, through its outline, on which page each heading landed; the
second carries those page numbers in the table of contents. _build/pdf/cvbook.json records what was
checked (tests/test_pdf.py reads the PDF and this report).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

from offline_site import CHROMIUM_ARGS, QuietHandler, offline_route, serve

REPO = Path(__file__).resolve().parents[1]
SINGLEHTML = REPO / "_build" / "singlehtml"
OUTPUT = REPO / "_build" / "pdf" / "cvbook.pdf"
CSS = Path(__file__).with_name("print_pdf.css")
# A4 minus the margins below, in CSS pixels (96 per inch): the width the print layout has.
MARGIN = {"top": "16mm", "bottom": "16mm", "left": "15mm", "right": "15mm"}
COLUMN_PX = round((210 - 30) / 25.4 * 96)
FONT = "'DejaVu Sans', sans-serif"
RAW_TEX = r"\$\$|\\(?:frac|lfloor|rfloor|lceil|rceil|sqrt|mathbf|mathrm|left|right|begin|end)\b"


FONTS = {  # (CSS family, weight): (fontconfig pattern, the family fc-match must return)
    ("CVBook Sans CJK SC", 400): "Noto Sans CJK SC:style=Regular",
    ("CVBook Sans CJK SC", 700): "Noto Sans CJK SC:style=Bold",
    ("CVBook Mono CJK SC", 400): "Noto Sans Mono CJK SC:style=Regular",
}
FONT_URL = "/_cvbook_pdf_fonts/"


class _QuietHandler(QuietHandler):
    fonts: Path | None = None

    def translate_path(self, path):
        if self.fonts is not None and path.startswith(FONT_URL):
            return str(self.fonts / Path(path[len(FONT_URL):]).name)
        return super().translate_path(path)


def cjk_fonts(folder: Path) -> str:
    """@font-face rules for Debian's Noto CJK SC fonts, each copied with its radicals left out.

    Noto CJK draws a CJK radical (⻅ U+2EC5, ⾯ U+2F82) with the glyph of its ideograph (见, 面),
    and Chromium's PDF text layer maps a glyph back to its lowest code point: the radical. So
    copied or extracted text would read 常⻅错误 for 常见错误. The copies here map each glyph only to
    the ideograph. They are made once (a few seconds each) and kept in `folder`.
    """
    from fontTools.ttLib import TTFont

    folder.mkdir(parents=True, exist_ok=True)
    rules = []
    for (family, weight), pattern in FONTS.items():
        found = subprocess.run(["fc-match", "--format=%{family}\n%{file}\n%{index}", pattern],
                               capture_output=True, text=True, check=False).stdout.split("\n")
        wanted = pattern.split(":")[0]
        if len(found) < 3 or wanted not in found[0].split(","):
            sys.exit(f"font {wanted!r} is missing: `bash scripts/setup_env.sh --with-pdf` installs "
                     "Debian's fonts-noto-cjk")
        source, index = Path(found[1]), int(found[2] or 0)
        stat = source.stat()
        stamp = f"{source}:{index}:{stat.st_size}:{int(stat.st_mtime)}"
        target = folder / f"{family.replace(' ', '')}-{weight}.otf"
        stamp_file = target.with_suffix(".stamp")
        if not target.is_file() or not stamp_file.is_file() or stamp_file.read_text() != stamp:
            # recalcBBoxes=False keeps the CFF table as it is (recompiling it takes minutes).
            font = TTFont(source, fontNumber=index, lazy=True, recalcBBoxes=False,
                          recalcTimestamp=False)
            for table in font["cmap"].tables:
                if table.isUnicode():
                    for code in [c for c in table.cmap if 0x2E80 <= c <= 0x2FDF]:
                        del table.cmap[code]
            font.save(target)
            stamp_file.write_text(stamp)
        rules.append(f"@font-face {{ font-family: '{family}'; font-weight: {weight}; "
                     f"src: url('{FONT_URL}{target.name}') format('opentype'); }}")
    return "\n".join(rules)


def normalise(text: str) -> str:
    """A heading's text as the TOC, the outline and pdftotext all agree on it."""
    text = unicodedata.normalize("NFKC", text).replace("\u00b6", "")
    return re.sub(r"\s+", "", text).rstrip("#")


def book_metadata() -> dict:
    import yaml

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8")) or {}
    return {"title": str(config.get("title", "")), "author": str(config.get("author", ""))}


# Runs in the page: opens toggles, marks chapters, promotes their headings, writes the front matter.
PREPARE = r"""
(meta) => {
  const root = document.documentElement;
  root.dataset.theme = 'light'; root.dataset.mode = 'light';
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach((e) => e.classList.remove('toggle-hidden'));
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const headingOf = (section) => [...section.children].find((c) => /^H[1-6]$/.test(c.tagName));
  const textOf = (h) => {
    const c = h.cloneNode(true);
    c.querySelectorAll('.headerlink').forEach((e) => e.remove());
    return c.textContent.replace(/\s+/g, ' ').trim();
  };
  // The singlehtml builder marks where each document starts: <span id="document-chapters/01_conv">.
  const docs = [];
  article.querySelectorAll('span[id^="document-"]').forEach((marker) => {
    let s = marker.nextElementSibling;
    while (s && s.tagName !== 'SECTION') s = s.nextElementSibling;
    if (s && headingOf(s) && !docs.some((d) => d.section.contains(s)))
      docs.push({doc: marker.id.slice('document-'.length), section: s});
  });
  const first = article.querySelector('section');
  // Each chapter becomes a top-level heading (h2 -> h1, h3 -> h2, ...): the PDF outline follows.
  const retag = (h, level) => {
    const n = document.createElement('h' + level);
    for (const a of h.attributes) n.setAttribute(a.name, a.value);
    while (h.firstChild) n.appendChild(h.firstChild);
    h.replaceWith(n);
    return n;
  };
  for (const d of docs) {
    d.section.classList.add('cvbook-chapter');
    const shift = Number(headingOf(d.section).tagName[1]) - 1;
    if (shift > 0)
      d.section.querySelectorAll('h2, h3, h4, h5, h6').forEach(
        (h) => retag(h, Math.max(1, Number(h.tagName[1]) - shift)));
  }
  // Parts (the captions of _toc.yml) from the theme's print TOC or the sidebar, where present.
  const partOf = {};
  const nav = document.querySelector('#jb-print-toc nav') || document.querySelector('.bd-sidebar-primary nav');
  if (nav) {
    let part = null;
    nav.querySelectorAll('p.caption, a[href^="#document-"]').forEach((e) => {
      if (e.tagName === 'P') part = e.textContent.trim();
      else if (part) partOf[decodeURIComponent(e.getAttribute('href').slice('#document-'.length))] = part;
    });
  }
  const entries = [];
  // Sphinx's ids are unique per document only ("id1" is in every chapter, on the sections): the
  // TOC links to an id of its own on each heading.
  const item = (level, section) => {
    const h = headingOf(section);
    h.id = 'cvbook-toc-' + entries.length;
    entries.push({level, id: h.id, text: textOf(h)});
  };
  const chapters = (first && !docs.some((d) => d.section === first)) ? [{doc: null, section: first}, ...docs] : docs;
  const front = document.createElement('div');
  front.id = 'cvbook-print-front';
  const esc = (t) => t.replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  let html = `<div class="cvbook-title-page"><h1 class="cvbook-title">${esc(meta.title)}</h1>` +
             `<p>${esc(meta.author)}</p></div><nav id="cvbook-print-toc"><h1>${esc(meta.toc)}</h1><ol>`;
  let part = null;
  for (const c of chapters) {
    const p = c.doc ? partOf[c.doc] : null;
    if (p && p !== part) { html += `<li class="toc-part">${esc(p)}</li>`; part = p; }
    item(1, c.section);
    const subs = [...c.section.children].filter((s) => s.tagName === 'SECTION' && headingOf(s));
    html += tocLine(entries[entries.length - 1]);
    for (const s of subs) { item(2, s); html += tocLine(entries[entries.length - 1]); }
  }
  function tocLine(e) {
    return `<li class="toc-l${e.level}"><a href="#${esc(e.id)}"><span class="toc-text">${esc(e.text)}</span>` +
           `<span class="toc-leader"></span><span class="toc-page" data-target="${esc(e.id)}"></span></a></li>`;
  }
  html += '</ol></nav>';
  front.innerHTML = html;
  article.prepend(front);
  return {chapters: chapters.map((c) => textOf(headingOf(c.section))), entries};
}
"""

# Runs in the page after MathJax and under print media: what would not print right.
CHECK = r"""
(rawTex) => {
  const article = document.querySelector('article.bd-article') || document.body;
  const math = [...article.querySelectorAll('.math')];
  const unrendered = math.filter((e) => !e.querySelector('mjx-container')).map((e) => e.textContent.slice(0, 80));
  const texErrors = [...article.querySelectorAll('mjx-merror')].map(
    (e) => e.getAttribute('data-mjx-error') || e.textContent);
  const images = [...article.querySelectorAll('img')];
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.id || i.src.slice(0, 80));
  // Raw LaTeX left in the prose (a formula the parser did not see), outside code and MathJax.
  const re = new RegExp(rawTex);
  const raw = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, mjx-container, .math, .cell_input, .cell_output'))
      continue;
    if (re.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 120));
  }
  return {formulas: math.length, typeset: article.querySelectorAll('mjx-container').length, unrendered,
          texErrors, images: images.length, broken, raw_tex: raw,
          animations: article.querySelectorAll('.animation').length};
}
"""

# Shrinks what is still wider than the column (long display formulas, wide tables).
FIT = r"""
() => {
  let n = 0;
  document.querySelectorAll('mjx-container[display="true"], table, .animation img').forEach((e) => {
    const column = e.parentElement.clientWidth;
    const wide = e.scrollWidth;
    if (column > 0 && wide > column + 1) { e.style.zoom = (column / wide).toFixed(4); n += 1; }
  });
  return n;
}
"""

WAIT_IMAGES = r"""
() => Promise.all([...document.images].map((i) => i.complete ? null :
  new Promise((r) => { i.addEventListener('load', r); i.addEventListener('error', r); })))
"""


def heading_pages(pdf: bytes) -> dict[str, int]:
    """1-based page of every named destination (Chromium names one after each linked id)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    pages = {}
    for name, dest in reader.named_destinations.items():
        page = reader.get_destination_page_number(dest)
        if page is not None:
            pages[str(name).lstrip("/")] = page + 1
    return pages


def fix_outline(pdf: bytes) -> tuple[bytes, int]:
    """Chromium 156 doubles the bookmark of a heading that starts a page ("前言前言"): undo that.

    Only the outline items change: pypdf appends them as an incremental update of the PDF.
    """
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(io.BytesIO(pdf), incremental=True)
    outlines = writer.root_object.get("/Outlines")
    fixed = 0
    stack = [outlines.get_object().get("/First")] if outlines is not None else []
    while stack:
        ref = stack.pop()
        if ref is None:
            continue
        item = ref.get_object()
        title = str(item.get("/Title", ""))
        half = len(title) // 2
        if half and len(title) % 2 == 0 and title[:half] == title[half:]:
            item[NameObject("/Title")] = TextStringObject(title[:half])
            fixed += 1
        stack.extend([item.get("/Next"), item.get("/First")])
    if not fixed:
        return pdf, 0
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), fixed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SINGLEHTML, help="the singlehtml build")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    index = args.source / "intro.html"
    if not index.is_file():
        pages = sorted(p for p in args.source.glob("*.html") if p.name != "index.html")
        if not pages:
            sys.exit(f"no single-page HTML in {args.source}: run `bash scripts/build_pdf.sh`")
        index = pages[0]
    executable = shutil.which("chromium")
    if executable is None:
        sys.exit("Debian's chromium is not installed: `bash scripts/setup_env.sh --with-pdf` installs it")
    from playwright.sync_api import sync_playwright

    meta = book_metadata()
    meta["toc"] = "目录"
    started = time.monotonic()
    font_faces = cjk_fonts(args.output.parent / "fonts")
    fonts_made = time.monotonic()
    handler = type("Handler", (_QuietHandler,), {"fonts": args.output.parent / "fonts"})
    server, site = serve(args.source, handler)
    outside: list[str] = []
    failed: list[str] = []
    route = offline_route(site, outside)

    footer = (f'<div style="width:100%;text-align:center;font-size:9px;color:#444;font-family:{FONT}">'
              '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
    # No running head: the header and footer are separate documents without the page's fonts, so
    # Chinese there would come from the stock Noto CJK (radicals in the text layer, see cjk_fonts).
    header = "<span></span>"
    pdf_options = {"format": "A4", "print_background": True, "outline": True, "tagged": True,
                   "display_header_footer": True, "header_template": header,
                   "footer_template": footer, "margin": MARGIN}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": COLUMN_PX, "height": 1100},
                                          color_scheme="light", locale="zh-CN")
            context.route("**/*", route)
            page = context.new_page()
            page.on("pageerror", lambda e: failed.append(f"JavaScript error: {e}"))
            # The single page has no search index (the HTML book has), nor a favicon.
            expected = ("/favicon.ico", "/searchindex.js")
            page.on("requestfailed", lambda r: r.url.startswith(site) and not r.url.endswith(expected)
                    and failed.append(f"failed: {r.url}"))
            page.on("response", lambda r: r.status >= 400 and not r.url.endswith(expected)
                    and failed.append(f"HTTP {r.status} for {r.url}"))
            page.set_default_timeout(120_000)
            response = page.goto(f"{site}/{index.name}", wait_until="load")
            if response is None or not response.ok:
                sys.exit(f"{index} did not load")
            if page.locator(".math").count():
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            page.evaluate(WAIT_IMAGES)
            loaded = time.monotonic()
            toc = page.evaluate(PREPARE, meta)
            page.add_style_tag(content=font_faces + "\n" + CSS.read_text(encoding="utf-8"))
            page.emulate_media(media="print")
            page.evaluate("() => document.fonts.ready")
            cjk_loaded = page.evaluate("""() => [...document.fonts].filter((f) =>
                f.family.replace(/["']/g, '').startsWith('CVBook') && f.status === 'loaded').length""")
            page.evaluate(WAIT_IMAGES)
            fitted = page.evaluate(FIT)
            check = page.evaluate(CHECK, RAW_TEX)
            ready = time.monotonic()
            # Pass 1 finds the page of each TOC target (its named destination); pass 2 prints those
            # numbers, which fit in the lines already there, so pages should not move. Chromium's
            # page breaks are not quite stable between prints (a heading near a page end may land
            # one page earlier or later), so a third pass runs if one moved; the report lists any
            # TOC number still off.
            ids = [e["id"] for e in toc["entries"]]
            pdf = page.pdf(**pdf_options)
            passes, timings = 1, [round(time.monotonic() - ready, 1)]
            pages = {i: n for i, n in heading_pages(pdf).items() if i in ids}
            while True:
                page.evaluate("""(pages) => document.querySelectorAll('#cvbook-print-toc .toc-page')
                                 .forEach((s) => { s.textContent = pages[s.dataset.target] || ''; })""", pages)
                start = time.monotonic()
                pdf = page.pdf(**pdf_options)
                passes += 1
                timings.append(round(time.monotonic() - start, 1))
                again = {i: n for i, n in heading_pages(pdf).items() if i in ids}
                if again == pages or passes == 3:
                    break
                moved = {i: (pages.get(i), n) for i, n in again.items() if pages.get(i) != n}
                print(f"pass {passes}: {len(moved)} TOC targets moved: {list(moved.items())[:5]}")
                pages = again
            browser.close()
    finally:
        server.shutdown()
    pdf, doubled = fix_outline(pdf)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(pdf)
    from pypdf import PdfReader

    n_pages = len(PdfReader(io.BytesIO(pdf)).pages)
    report = {"pdf": str(args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output),
              "pages": n_pages, "bytes": len(pdf), "chapters": toc["chapters"],
              "toc_entries": len(toc["entries"]), "toc_entries_with_page": len(pages),
              "toc_page_mismatches": {i: [pages.get(i), n] for i, n in again.items()
                                      if pages.get(i) != n},
              "print_passes": passes, "fitted_to_column": fitted,
              "bookmarks_undoubled": doubled, "cjk_font_faces_loaded": cjk_loaded,
              "outside_requests": outside, "load_errors": failed, **check,
              "seconds": {"fonts": round(fonts_made - started, 1),
                          "load_and_mathjax": round(loaded - fonts_made, 1),
                          "prepare": round(ready - loaded, 1), "print_passes": timings,
                          "total": round(time.monotonic() - started, 1)}}
    args.output.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                encoding="utf-8")
    problems = []
    if check["unrendered"]:
        problems.append(f"{len(check['unrendered'])} formulas not typeset: {check['unrendered'][:3]}")
    if check["texErrors"]:
        problems.append(f"TeX errors: {check['texErrors'][:3]}")
    if check["broken"]:
        problems.append(f"{len(check['broken'])} images did not load: {check['broken'][:3]}")
    if check["raw_tex"]:
        problems.append(f"raw LaTeX in the text: {check['raw_tex'][:3]}")
    if outside:
        problems.append(f"asked outside hosts for {outside[:3]}")
    if failed:
        problems.append("; ".join(failed[:3]))
    if len(pages) < len(ids):
        problems.append(f"{len(ids) - len(pages)} TOC entries found no page: {sorted(set(ids) - set(pages))[:5]}")
    if cjk_loaded < len(FONTS):
        problems.append(f"only {cjk_loaded} of the {len(FONTS)} CJK font faces were loaded")
    print(f"{args.output}: {n_pages} pages, {len(pdf) / 2**20:.1f} MiB, {check['typeset']} formulas, "
          f"{check['images']} images, {len(toc['entries'])} TOC entries, {passes} passes, "
          f"{report['seconds']['total']} s")
    for problem in problems:
        print(f"PDF problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
