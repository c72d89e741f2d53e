"""A cell that raises fails the book build, unless it is tagged raises-exception.

Builds a one-page book with the project's own _config.yml (so the real execution settings are
what is tested) in a temporary folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

PAGE = """---
jupytext:
  text_representation: {{extension: .md, format_name: myst}}
kernelspec: {{display_name: Python 3, language: python, name: python3}}
---
# Probe

```{{code-cell}} ipython3
{tags}
raise ValueError("boom")
```
"""


def _build(tmp_path: Path, tags: str) -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True)
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    (tmp_path / "references.bib").write_text((REPO / "references.bib").read_text(encoding="utf-8"), encoding="utf-8")
    config["sphinx"]["local_extensions"] = {"cvbook_offline": str(REPO / "_ext")}
    config["sphinx"]["config"]["html_extra_path"] = []
    shutil.copytree(REPO / "book_assets", tmp_path / "book_assets")  # the favicon and the book's CSS/JS
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: probe\n", encoding="utf-8")
    (tmp_path / "probe.md").write_text(PAGE.format(tags=tags), encoding="utf-8")
    exe = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(exe), "build", "-W", "-n", "--keep-going", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)


def test_raising_cell_fails_build_unless_tagged(tmp_path):
    failed = _build(tmp_path / "plain", "")
    assert failed.returncode != 0
    assert "ValueError" in failed.stdout + failed.stderr
    passed = _build(tmp_path / "tagged", ":tags: [raises-exception]\n")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
