"""Format the chapters' code cells with ruff (88 columns, so a code line fits the book's column).

    python scripts/format_chapters.py [chapters/NN_topic.md ...]      # format in place
    python scripts/format_chapters.py --check [chapters/NN_topic.md ...]

The .md is the source: each ``{code-cell}`` body is piped through ``ruff format`` and written
back; the paired .ipynb gets the same sources (its stored outputs stay: formatting changes no
result). ``--check`` changes nothing and lists the cells that would change or still hold a line
wider than 88 columns (a long string or comment ruff cannot wrap). Without arguments, every
chapter is taken.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LINE_LENGTH = 88
# A code cell of a MyST notebook: the fence, option lines (":tags: [...]") and a blank line after
# them, the source, the closing fence on a line of its own.
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n((?::[\w-]+:[^\n]*\n)+\n)?(.*?)^```$", re.M | re.S)


def width(line: str) -> int:
    """Columns ``line`` takes in a monospaced font: a Chinese character (East Asian wide or
    full-width) takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def code_cells(text: str) -> list[re.Match]:
    return list(CELL.finditer(text))


def ruff_format(sources: list[str]) -> list[str]:
    """``sources`` as ruff formats them (88 columns), via a scratch notebook so that IPython
    magics such as ``%pip`` are understood as in Jupyter."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["language_info"] = {"name": "python"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.ipynb"
        nbformat.write(nb, path)
        done = subprocess.run([sys.executable, "-m", "ruff", "format", "--no-cache", "--isolated",
                               f"--line-length={LINE_LENGTH}", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"ruff format failed:\n{done.stderr}")
        return [c.source.rstrip("\n") for c in nbformat.read(path, as_version=4).cells]


def problems(md: Path) -> list[str]:
    """What ``--check`` reports for one chapter: unformatted cells and over-long lines."""
    text = md.read_text(encoding="utf-8")
    found = []
    cells = code_cells(text)
    sources = [m.group(2).rstrip("\n") for m in cells]
    for m, source, formatted in zip(cells, sources, ruff_format(sources)):
        line = text.count("\n", 0, m.start(2)) + 1
        if formatted != source:
            found.append(f"{md.name}:{line}: cell is not ruff-formatted (88 columns)")
        for k, code in enumerate(source.split("\n")):
            if width(code) > LINE_LENGTH:
                found.append(f"{md.name}:{line + k}: {width(code)} columns > {LINE_LENGTH}")
    return found


def format_chapter(md: Path) -> bool:
    """Format ``md`` in place and copy its code sources into the paired .ipynb; True if changed."""
    text = md.read_text(encoding="utf-8")
    cells = code_cells(text)
    sources = ruff_format([m.group(2).rstrip("\n") for m in cells])
    pieces, last = [], 0
    for m, source in zip(cells, sources):
        pieces += [text[last:m.start(2)], source + "\n"]
        last = m.end(2)
    new = "".join(pieces) + text[last:]
    ipynb = md.with_suffix(".ipynb")
    if ipynb.is_file():
        nb = nbformat.read(ipynb, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        if len(cells) == len(sources):
            for cell, source in zip(cells, sources):
                cell.source = source
            nbformat.write(nb, ipynb)
        else:  # the chapter's cells changed: its pair needs a refresh anyway
            print(f"{ipynb.name} not updated ({len(cells)} code cells, {md.name} has {len(sources)}): "
                  f"run scripts/refresh_notebook.py {md.relative_to(ROOT)}")
    if new != text:
        md.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", type=Path, help="chapter sources (default: all)")
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    args = parser.parse_args(argv)
    chapters = [p.resolve() for p in args.chapters] or sorted((ROOT / "chapters").glob("*.md"))
    if args.check:
        found = [p for md in chapters for p in problems(md)]
        print("\n".join(found) or "all code cells formatted, no line wider than 88 columns")
        return 1 if found else 0
    for md in chapters:
        print(f"{'formatted' if format_chapter(md) else 'unchanged'} {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
