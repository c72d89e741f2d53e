"""The book's own Sphinx extension: an offline, light, Chinese-searchable HTML book.

1. sphinx-thebe's scripts are dropped from every page. Jupyter Book 1 always loads it (live code via
   Binder); this book runs on Colab instead, and its scripts point at unpkg.com (and the
   configuration script is injected twice, which raises "Identifier 'THEBE_JS_URL' has already
   been declared").
2. Live ipywidgets explorers need a kernel. In the static page their sliders would move and change
   nothing, so the output of a cell whose result is a widget is replaced by a one-line note with a
   link that opens the chapter on Colab; the kernel-free (precomputed) explorers stay. No page then
   carries widget state or the 3.6 MB widget manager.
3. Chinese search: Sphinx's ``zh`` indexer segments Chinese with jieba. A user dictionary made from
   the Chinese terms of ``appendix/glossary.md`` keeps the book's own vocabulary (感受野, 焦点损失,
   非极大值抑制, ...) whole. The query side stems English words as the index does: an acronym such as
   "NMS" is indexed unstemmed ("nms"), so the browser must not stem it to "nm" either; and both
   sides use the same (Porter) stemmer.
4. zh_CN interface strings where the themes fall back to English or to Taiwanese wording; no
   source maps (pages never load them), no Font Awesome script (its web fonts draw the icons) and
   the search index only on the search page: a chapter loads under 4 MB.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import snowballstemmer
from docutils import nodes
from sphinx import addnodes
from sphinx.search import languages as search_languages
from sphinx.search.zh import SearchChinese

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LIVE_NOTE = "在 Colab 或 Jupyter 中运行可拖动全部参数："
LIVE_LINK = "在 Colab 中打开本章"

# Interface strings of pydata-sphinx-theme / sphinx-book-theme / Sphinx that have no zh_CN translation,
# or a Taiwanese one, and the button titles of matplotlib's animation player.
UI_STRINGS = {
    "列印成 PDF": "打印本页（PDF）",
    "Color mode": "颜色模式",
    "System Settings": "跟随系统",
    "Toggle primary sidebar": "显示/隐藏目录",
    "Toggle secondary sidebar": "显示/隐藏本页目录",
    "Launch on Colab": "在 Colab 中打开",
    "Link to this heading": "链接到此标题",
    "Link to this equation": "链接到此公式",
    "Link to this image": "链接到此图片",
    "Link to this table": "链接到此表格",
    "Link to this code": "链接到此代码",
}


# -- 1. thebe (and the search page's snippets) ---------------------------------------------------

def _is_unwanted(asset) -> bool:
    filename = getattr(asset, "filename", None) or ""
    attributes = getattr(asset, "attributes", {}) or {}
    body = attributes.get("body", "") or ""
    return "thebe" in filename or "THEBE_JS_URL" in body or attributes.get("type") == WIDGET_STATE


def _drop_scripts(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key][:] = [asset for asset in context[key] if not _is_unwanted(asset)]  # in place
    if pagename == "search":  # result snippets with formulas as plain text (book_assets/js/)
        app.add_js_file("js/search-snippets.js", loading_method="defer")


# -- 2. live widgets -----------------------------------------------------------------------------

def colab_url(config, docname: str) -> str:
    """The Colab address of a chapter's notebook, from ``repository.url`` / ``branch`` of _config.yml."""
    repo = (config.html_theme_options.get("repository_url") or "").rstrip("/")
    branch = config.html_theme_options.get("repository_branch") or "main"
    path = repo.split("github.com/", 1)[-1]
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/{docname}.ipynb"


def _is_widget_output(node) -> bool:
    return isinstance(node, nodes.raw) and WIDGET_VIEW in node.astext()


def _replace_live_widgets(app, doctree):
    docname = app.env.docname
    for raw in list(doctree.findall(_is_widget_output)):
        output = raw.parent
        while output is not None and "cell_output" not in output.get("classes", []):
            output = output.parent
        if output is None:
            continue
        url = colab_url(app.config, docname)
        note = nodes.paragraph("", LIVE_NOTE, classes=["cvbook-live-note"])
        note += nodes.reference("", LIVE_LINK, refuri=url, internal=False)
        output.children = [note]
        note.parent = output


# -- 3. Chinese search ---------------------------------------------------------------------------

# The query-side Porter stemmer, made to agree with SearchChinese.stem: a Latin word of three or more
# letters that stemming would cut below three letters ("nms" -> "nm") is indexed unstemmed.
_JS_STEMMER_GUARD = """
var PorterStemmer = Stemmer;
Stemmer = function () {
  var porter = new PorterStemmer();
  this.stemWord = function (w) {
    var s = porter.stemWord(w);
    return (/^[a-z0-9_]+$/.test(w) && w.length >= 3 && s.length < 3) ? w : s;
  };
};
"""


class BookSearchChinese(SearchChinese):
    """Sphinx's zh search with the index's stemmer equal to the query's: the browser stems with
    Porter's algorithm, so the index does too (SearchChinese uses Porter2, which stems e.g.
    "generalized" differently and the word is not found)."""

    js_stemmer_code = SearchChinese.js_stemmer_code + _JS_STEMMER_GUARD

    def init(self, options: dict[str, str]) -> None:
        super().init(options)
        self.stemmer = snowballstemmer.stemmer("porter")


def glossary_terms(glossary: Path) -> dict[str, list[tuple[str, str]]]:
    """The glossary's (Chinese, English) rows, by section title (= the chapter's title)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    title = None
    for line in glossary.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            sections[title] = []
        elif title and line.startswith("|") and not re.match(r"^\|\s*(中文|-+)\s*\|", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2:
                sections[title].append((cells[0], cells[1]))
    return sections


def chinese_words(term: str) -> list[str]:
    """The Chinese words a reader may type for one glossary entry: "空洞率 / 膨胀率" gives both,
    "惰性模块（延迟初始化）" gives 惰性模块 and 延迟初始化, "带泄露的 ReLU" stays whole."""
    parts = re.split(r"\s*[/／（）()、，,]\s*", term)
    return [" ".join(p.split()) for p in parts if re.search(r"[\u4e00-\u9fff]", p)]


def english_words(term: str) -> list[str]:
    """The English words a reader may type for one glossary entry: each "/"- or ","-separated
    alternative without its parentheses, and an abbreviation in parentheses on its own
    ("non-maximum suppression (NMS)" gives "non-maximum suppression" and "NMS")."""
    term = re.sub(r"\$[^$]*\$", "", term)
    inner = [a.strip() for group in re.findall(r"\(([^)]*)\)", term) for a in re.split(r"/|,", group)]
    main = re.sub(r"\([^)]*\)", " ", term)
    words = [" ".join(a.split()) for a in re.split(r"\s+/\s+|,\s+", main)]
    words += [a for a in inner if re.fullmatch(r"[A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*", a)]
    return [w for w in words if w]


def _cjk_runs(words: list[str]) -> list[str]:
    return [run for w in words for run in re.findall(r"[\u4e00-\u9fff]{2,}", w)]


def _search_dictionary(app):
    if not app.config.language.startswith("zh"):
        return
    glossary = Path(app.srcdir) / "appendix" / "glossary.md"
    app.env.cvbook_glossary = glossary_terms(glossary) if glossary.is_file() else {}
    words = {w for rows in app.env.cvbook_glossary.values() for zh, _ in rows for w in _cjk_runs(chinese_words(zh))}
    # and the Chinese of every page title (损失函数, 初始化与反向传播, 面试题库, ...)
    src = Path(app.srcdir)
    for page in [*sorted(src.glob("chapters/*.md")), *sorted(src.glob("appendix/*.md")), *src.glob("intro.md")]:
        title = re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.M)
        words |= set(_cjk_runs(chinese_words(title.group(1)))) if title else set()
    words = sorted(words)
    path = Path(app.doctreedir) / "search_userdict.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A high frequency: the term wins over its pieces in any context.
    path.write_text("".join(f"{w} 100000 n\n" for w in words), encoding="utf-8")
    app.config.html_search_options = {**(app.config.html_search_options or {}), "dict": str(path)}
    logging.getLogger("jieba").setLevel(logging.WARNING)


def _section_of_first_use(doctree, words: list[str]):
    """The section about one of ``words``: the first (below the page's title) whose heading names
    it, else the one where it first appears in the prose (not in code), else the page's top."""
    lowered = [w.lower() for w in words]
    top = next(iter(doctree.findall(nodes.section)), None)
    for section in doctree.findall(nodes.section):
        if section is not top and section["ids"] and any(w in section[0].astext().lower() for w in lowered):
            return section
    for text in doctree.findall(nodes.Text):
        if any(isinstance(a, (nodes.literal_block, nodes.raw, nodes.comment, nodes.title))
               for a in _ancestors(text)):
            continue
        content = text.astext().lower()
        if any(w in content for w in lowered):
            section = next((a for a in _ancestors(text) if isinstance(a, nodes.section) and a["ids"]), None)
            if section is not None:
                return section
    return top


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def _glossary_index(app, doctree):
    """Each chapter gets an index entry (搜索 and 索引) for every Chinese and English term its
    glossary section lists, at the section where the term is first used: a reader who searches
    焦点损失 finds the focal-loss chapter even where its prose says "focal loss"."""
    glossary = getattr(app.env, "cvbook_glossary", None) or {}
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None or not glossary:
        return
    rows = glossary.get(top[0].astext().strip())
    for section_title, section_rows in glossary.items():
        if rows is None and top[0].astext().strip().startswith(section_title):
            rows = section_rows
    for zh, en in rows or []:
        words = chinese_words(zh) + english_words(en)
        section = _section_of_first_use(doctree, words)
        if section is None or not section["ids"]:
            continue
        entries = [("single", w, section["ids"][0], "main", None) for w in words if ";" not in w]
        section.insert(1, addnodes.index(entries=entries, inline=False))


# -- 4. interface strings and page weight ----------------------------------------------------------

# pydata-sphinx-theme loads Font Awesome twice: as a 1.5 MB script ("so that users can add custom
# icons") and as the web fonts its stylesheet already declares; the fonts alone draw every icon.
_FONTAWESOME_JS = re.compile(r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>')
# It also loads the search index (0.25 MB) on every page for search-as-you-type, which this book
# leaves off (search_as_you_type = False): only the search page needs it.
_SEARCH_SCRIPTS = re.compile(r'\s*<script src="[^"]*_static/searchtools\.js"></script>'
                             r'\s*<script src="[^"]*_static/language_data\.js"></script>'
                             r'\s*<script src="[^"]*searchindex\.js"></script>')

def _root_favicon(out: Path) -> None:
    """/favicon.ico, which a browser asks for on a page without an icon link (Jupyter Book's
    index.html redirect): the book's icon (book_assets/favicon.svg) drawn again as a 32 px ICO."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 31, 31), radius=6, fill=(31, 95, 139, 255))
    alpha = [[255, 179, 102], [179, 255, 179], [102, 179, 255]]
    for row in range(3):
        for col in range(3):
            x, y = 6 + 7 * col, 6 + 7 * row
            draw.rectangle((x, y, x + 5, y + 5), fill=(255, 255, 255, alpha[row][col]))
    image.save(out / "favicon.ico", sizes=[(32, 32)])


def _finish(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    _root_favicon(out)
    for path in out.rglob("*.map"):
        path.unlink()
    for path in out.glob("_static/scripts/fontawesome.js*"):
        path.unlink()
    pattern = re.compile("|".join(re.escape(s) for s in UI_STRINGS))
    for page in out.rglob("*.html"):
        if "vendor" in page.relative_to(out).parts:
            continue
        text = page.read_text(encoding="utf-8")
        new = pattern.sub(lambda m: UI_STRINGS[m.group(0)], text)
        new = _FONTAWESOME_JS.sub("", new)
        if page.relative_to(out).as_posix() != "search.html":
            new = _SEARCH_SCRIPTS.sub("", new)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for script in out.glob("_static/**/*.js"):
        text = script.read_text(encoding="utf-8", errors="surrogateescape")
        new = re.sub(r"\n//# sourceMappingURL=\S+\.map\s*$", "\n", text)
        if new != text:
            script.write_text(new, encoding="utf-8", errors="surrogateescape")


# Two extensions Jupyter Book loads do not declare whether Sphinx may read pages in parallel, so Sphinx
# reads serially and (under -W) warns. Both are safe to read in parallel: sphinx_jupyterbook_latex only
# registers nodes and a LaTeX-builder transform, sphinx_multitoc_numbering renumbers the toctree in the
# main process after the reads are merged. Declaring it lets scripts/jupyter_book_build.py execute two
# chapters at a time (the chapters, not Sphinx, are what the build spends its time on).
_PARALLEL_SAFE = ("sphinx_jupyterbook_latex", "sphinx_multitoc_numbering")


def _declare_parallel_safe(app):
    for name in _PARALLEL_SAFE:
        ext = app.extensions.get(name)
        if ext is not None and ext.parallel_read_safe is None:
            ext.parallel_read_safe = True


def setup(app):
    search_languages["zh"] = BookSearchChinese
    app.connect("builder-inited", _declare_parallel_safe)
    app.connect("builder-inited", _search_dictionary)
    app.connect("doctree-read", _replace_live_widgets)
    app.connect("doctree-read", _glossary_index, priority=400)
    app.connect("html-page-context", _drop_scripts, priority=900)
    app.connect("build-finished", _finish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
