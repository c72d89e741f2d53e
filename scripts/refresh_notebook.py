"""Re-execute chapters and refresh their paired .ipynb (the nbval baseline, and what Colab opens).

    python scripts/refresh_notebook.py chapters/01_conv.md [more .md files]

The .md is the source. Its cells are written to the .ipynb, executed top to bottom in a fresh
kernel (working directory chapters/), and the outputs are stored with images removed (the book
build regenerates them; the repository keeps text only). Cells tagged ``nbval-ignore-output``
(timings, live widgets, embedded animations) keep no output at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

DROP_MIME_PREFIXES = ("image/",)


def _merge_streams(outputs: list) -> list:
    """Join consecutive chunks of one stream: how a print is split depends on the machine's load."""
    merged = []
    for out in outputs:
        if merged and out.output_type == "stream" and merged[-1].output_type == "stream" \
                and merged[-1].name == out.name:
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def strip_outputs(nb: nbformat.NotebookNode) -> None:
    """Keep what nbval compares and Colab shows: text outputs, no images, no volatile metadata."""
    nb.metadata.pop("widgets", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"                 # stable ids and no timestamps: small, quiet diffs
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            cell.outputs = []
            continue
        cell.outputs = _merge_streams(cell.outputs)
        for out in cell.outputs:
            if "data" in out:
                for mime in [m for m in out["data"] if m.startswith(DROP_MIME_PREFIXES)]:
                    del out["data"][mime]
                out.get("metadata", {}).pop("needs_background", None)
                for mime in list(out.get("metadata", {})):
                    if mime.startswith(DROP_MIME_PREFIXES):
                        del out["metadata"][mime]


def refresh(md_path: Path, timeout: int) -> Path:
    if md_path.suffix != ".md" or not md_path.is_file():
        raise SystemExit(f"expected a chapter .md file, got {md_path}")
    nb = jupytext.read(md_path)
    os.environ.setdefault("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(md_path.parent)}}).execute()
    strip_outputs(nb)
    ipynb_path = md_path.with_suffix(".ipynb")
    jupytext.write(nb, ipynb_path, fmt="ipynb")
    return ipynb_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="+", type=Path, help="chapter sources (chapters/NN_topic.md)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    for md in args.chapters:
        print(f"refreshed {refresh(md, args.timeout)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
