"""The whole-book PDF, _build/pdf/cvbook.pdf, as a reader gets it (build: bash scripts/build_pdf.sh).

The text layer is read with poppler's pdftotext (pypdf takes ~50 s for this book), the structure
(outline, links) with pypdf. Checks: a sane page count; every chapter title of _toc.yml is there
as real text (no CJK radical standing in for an ideograph, no replacement character), in the
table of contents, in the bookmarks and on its own page; formulas were typeset by MathJax; page
numbers "n / N" on every page; the printing script's own report (scripts/print_pdf.py) shows no
formula left to MathJax, no missing image, no raw LaTeX in the prose and no request off the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PDF = REPO / "_build" / "pdf" / "cvbook.pdf"
REPORT = PDF.with_suffix(".json")
MIN_PAGES = 150  # 214 pages in December 2026 (16 documents, A4)


def _squash(text: str) -> str:
    """Compare text without layout: NFKC (ligatures), no whitespace, no markdown emphasis."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text.replace("`", "").replace("**", ""))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def _title(file: str) -> str:
    """The first `# ` heading of a book file (outside code fences)."""
    path = REPO / (file if file.endswith(".md") else f"{file}.md")
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            return line[2:].strip()
    raise AssertionError(f"{path} has no '# ' title")


TITLES = {file: _title(file) for file in _toc_files()}


@pytest.fixture(scope="module")
def pdf_pages() -> list[str]:
    """The text of each page (pdftotext; pages are separated by form feeds)."""
    if not PDF.is_file():
        pytest.fail(f"{PDF.relative_to(REPO)} is missing: run `bash scripts/build_pdf.sh`")
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: `bash scripts/setup_env.sh --with-pdf` installs poppler-utils")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(PDF), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


@pytest.fixture(scope="module")
def reader():
    pypdf = pytest.importorskip("pypdf")
    if not PDF.is_file():
        pytest.fail(f"{PDF.relative_to(REPO)} is missing: run `bash scripts/build_pdf.sh`")
    return pypdf.PdfReader(PDF)


@pytest.fixture(scope="module")
def report() -> dict:
    if not REPORT.is_file():
        pytest.fail(f"{REPORT.relative_to(REPO)} is missing: run `bash scripts/build_pdf.sh`")
    return json.loads(REPORT.read_text(encoding="utf-8"))


def test_page_count(pdf_pages, reader):
    assert len(pdf_pages) == len(reader.pages)
    assert len(reader.pages) > MIN_PAGES, f"only {len(reader.pages)} pages: is a chapter missing?"


def test_every_page_has_its_number(pdf_pages):
    n = len(pdf_pages)
    missing = [i for i, text in enumerate(pdf_pages, 1) if f"{i} / {n}" not in text]
    assert missing == [], f"pages without the footer 'n / {n}': {missing[:10]}"


def test_chinese_is_real_text(pdf_pages):
    text = "".join(pdf_pages)
    assert len(re.findall(r"[\u4e00-\u9fff]", text)) > 20_000, "too little Chinese text in the PDF"
    # Noto CJK draws 见 and the radical ⻅ with one glyph; the PDF must map it to the ideograph.
    radicals = sorted(set(re.findall(r"[\u2e80-\u2fdf]", text)))
    assert radicals == [], f"CJK radicals instead of ideographs in the text layer: {radicals[:20]}"
    assert "\ufffd" not in text, "unmapped glyphs (U+FFFD) in the text layer"


@pytest.mark.parametrize("file", list(TITLES))
def test_chapter_title_is_text_in_toc_bookmarks_and_body(file, pdf_pages, reader):
    title = _squash(TITLES[file])
    pages = [i for i, text in enumerate(pdf_pages) if title in _squash(text)]
    assert pages, f"the title {TITLES[file]!r} of {file} is not in the PDF's text"
    assert pages[0] <= 10, f"{TITLES[file]!r} is not in the table of contents at the front"
    assert any(i > pages[0] for i in pages), f"{TITLES[file]!r} is in the contents only, not as a page"
    outline = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                outline.append(_squash(item.title))

    walk(reader.outline)
    assert any(title in t for t in outline), f"no bookmark for {TITLES[file]!r}"


def test_table_of_contents_links_to_every_chapter(reader, pdf_pages):
    toc_pages = [i for i, text in enumerate(pdf_pages[:12]) if "目录" in text.split("\n", 3)[0]]
    assert toc_pages, "no page starts with the table of contents (目录)"
    links = []
    for i in range(toc_pages[0], toc_pages[0] + 10):
        for annot in reader.pages[i].get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/Subtype") == "/Link" and "/Dest" in annot:
                links.append(annot["/Dest"])
    assert len(links) >= len(TITLES), f"{len(links)} links in the contents for {len(TITLES)} chapters"
    targets = {reader.get_destination_page_number(reader.named_destinations[str(d)])
               for d in links if str(d) in reader.named_destinations}
    assert len(targets) >= len(TITLES), "the contents' links do not reach every chapter"


def test_formulas_rendered(pdf_pages, report):
    assert report["formulas"] > 100 and report["typeset"] >= report["formulas"]
    assert report["unrendered"] == [], f"formulas MathJax did not typeset: {report['unrendered'][:5]}"
    assert report["texErrors"] == [], f"TeX errors: {report['texErrors'][:5]}"
    text = "".join(pdf_pages)
    # MathJax's output, not TeX source: its minus sign, floor brackets and a summation sign.
    for glyph in "−⌊⌋∑":
        assert glyph in text, f"no {glyph!r} from a typeset formula in the PDF"
    assert text.count("−") > 100
    assert "$$" not in text, "a display formula was printed as its TeX source"


def test_print_report_is_clean(report):
    assert report["raw_tex"] == [], f"raw LaTeX in the printed prose: {report['raw_tex'][:5]}"
    assert report["broken"] == [], f"images that did not load: {report['broken'][:5]}"
    assert report["images"] >= report["animations"] > 0, "the animations' first frames are missing"
    assert report["outside_requests"] == [], f"asked hosts off the machine: {report['outside_requests']}"
    assert report["load_errors"] == [], report["load_errors"]
    assert report["cjk_font_faces_loaded"] == 3
    assert report["toc_entries_with_page"] == report["toc_entries"]
