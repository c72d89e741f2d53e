"""The chapter sources and their executed .ipynb pairs, and the book configuration around them."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "chapters").glob("*.md"))
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/*.md found"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_md_and_ipynb_agree_cell_for_cell(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} is missing: python scripts/refresh_notebook.py {md.relative_to(REPO)}"
    source, stored = jupytext.read(md), nbformat.read(ipynb, as_version=4)
    a, b = _cells(source), _cells(stored)
    assert len(a) == len(b), f"{md.name} has {len(a)} cells, {ipynb.name} {len(b)}: refresh the pair"
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"cell {i} differs between {md.name} and {ipynb.name}: refresh the pair"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_is_executed_and_keeps_text_only(md):
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code if "nbval-ignore-output" not in c.metadata.get("tags", [])), \
        "the baseline must be executed top to bottom"
    for c in code:
        for out in c.outputs:
            assert not any(m.startswith("image/") for m in out.get("data", {})), "images belong to the build, not git"
            assert out.output_type != "error", f"a stored cell raised: {c.source[:80]}"
            assert out.get("name") != "stderr", f"a stored cell wrote to stderr (a warning?): {c.source[:80]}"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_chapter_anatomy(md):
    """Title, the questions list, the first code cell installing cvbook_lib for Colab, the closing sections."""
    nb = jupytext.read(md)
    assert nb.metadata["jupytext"]["formats"] == "ipynb,md:myst"
    text = md.read_text(encoding="utf-8")
    assert re.search(r"^# .+ \(.+\)$", text, re.M), "the title is bilingual: '# 中文 (English)'"
    for heading in ("## 面试问题", "## 常见错误", "## 面试速答", "## 练习", "## 参考文献"):
        assert heading in text, f"{md.name} lacks the section {heading}"
    first = next(c for c in nb.cells if c.cell_type == "code")
    url = CONFIG["repository"]["url"]
    assert "import cvbook_lib" in first.source and "except ImportError" in first.source
    assert f"git+{url}" in first.source, "the install cell must name the repository of _config.yml"
    assert "--no-deps" in first.source, "Colab's torch/torchvision must never be reinstalled"


def test_config_excludes_pairs_and_links_colab_to_ipynb():
    assert "**/*.ipynb" in CONFIG["exclude_patterns"]
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["execute"]["raise_on_error"] is True and CONFIG["execute"]["allow_errors"] is False
    html = REPO / "_build" / "html" / "chapters" / "01_conv.html"
    if not html.is_file():
        pytest.fail("the book is not built: run `bash scripts/build_book.sh`")
    owner_repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    want = f"https://colab.research.google.com/github/{owner_repo}/blob/{CONFIG['repository']['branch']}/chapters/01_conv.ipynb"
    assert want in html.read_text(encoding="utf-8")


# Cells whose output is not a claim: the live explorers, their kernel-free animations, timings.
_NOT_A_CLAIM = re.compile(r"_explorer\(|_animation\(|\banimate\(|timeit\.|perf_counter\(")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_ignored_outputs_have_their_claims_asserted(md):
    """nbval does not compare what a cell tagged nbval-ignore-output prints (a training run, an
    iteration whose last digits depend on the machine), so the claim drawn from it must be an
    assertion: in that cell or in the code cell right after it. And no cell is skipped by nbval."""
    code = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        tags = cell.metadata.get("tags", [])
        assert "nbval-skip" not in tags, f"{md.name}: a cell is skipped by nbval: {cell.source[:80]!r}"
        if "nbval-ignore-output" not in tags or _NOT_A_CLAIM.search(cell.source):
            continue
        after = code[i + 1].source if i + 1 < len(code) else ""
        assert re.search(r"^\s*assert\b", cell.source + "\n" + after, re.M), (
            f"{md.name}: the output of this cell is not compared by nbval and no assertion follows it: "
            f"{cell.source[:80]!r}")


def _format_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("format_chapters", REPO / "scripts" / "format_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_are_ruff_formatted_to_88_columns(md):
    """A code line wider than the book's column scrolls sideways (and off a phone's screen)."""
    found = _format_tool().problems(md)
    assert found == [], "run `python scripts/format_chapters.py` and wrap what it cannot:\n" + "\n".join(found)


_HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_cells_hidden_in_the_book_say_what_they_are(md):
    """Colab shows the cells the book hides: each opens with a comment saying what it is, and a
    hidden check says that it is the regression check of the cell above."""
    for cell in jupytext.read(md).cells:
        if cell.cell_type != "code" or not _HIDDEN & set(cell.metadata.get("tags", [])):
            continue
        first = cell.source.lstrip().split("\n", 1)[0]
        assert first.startswith("# "), f"{md.name}: a hidden cell has no opening comment: {cell.source[:80]!r}"
        if re.search(r"^\s*assert\b", cell.source, re.M):
            assert first.startswith("# 回归检查"), (
                f"{md.name}: a hidden check must open with '# 回归检查：…' (the regression check of the cell "
                f"above): {first!r}")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_exercises_do_not_show_their_answers(md):
    """An exercise shows its question and a cell to fill in; no visible output says "✓" (the right
    answer), and every check the chapter imports is asserted on the worked solution in a cell the
    book hides (remove-cell), so nbval proves the 解答 right without the page giving it away."""
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    checks, asserted = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        checks |= set(re.findall(r"\b(check_\w+)\(", cell.source))
        if "remove-cell" in cell.metadata.get("tags", []):
            for line in re.findall(r"^\s*assert\b.*$", cell.source, re.M):  # a positive assertion
                asserted |= {name for neg, name in re.findall(r"(not\s+)?\b(check_\w+)\(", line) if not neg}
            continue
        shown = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
        assert "✓" not in shown, f"{md.name}: an exercise prints its answer: {cell.source[:80]!r}"
    assert checks, f"{md.name} has no exercises"
    assert checks <= asserted, f"{md.name}: exercises whose solution no hidden cell asserts: {checks - asserted}"


@pytest.mark.parametrize("page", CHAPTERS + sorted((REPO / "appendix").glob("*.md")) + [REPO / "intro.md"],
                         ids=lambda p: p.name)
def test_chapters_are_referred_to_by_links(page):
    """"第 N 章" typed as text goes stale when a chapter is inserted; the number comes from the
    numbered table of contents through {numref}`第 %s 章 <ch-…>`."""
    text = page.read_text(encoding="utf-8")
    plain = [m.group(0) for m in re.finditer(r"第\s*\d+\s*章", text)
             if not re.search(r"\{numref\}`[^`]*$", text[max(0, m.start() - 80):m.start()])]
    assert plain == [], f"{page.name}: chapter numbers typed as text: {plain}"
