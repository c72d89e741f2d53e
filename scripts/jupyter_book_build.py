"""``jupyter-book`` with Sphinx's parallel reading: ``python scripts/jupyter_book_build.py build ...``.

Jupyter Book 1's command line has no ``--jobs`` option; this runs the same command with Sphinx's
``parallel`` set to ``CVBOOK_JOBS`` (default: the number of CPUs, at most 4), so Sphinx reads, and
myst-nb executes, that many chapters at a time. Everything else is ``jupyter-book`` unchanged:
same arguments, configuration and execution cache.
"""

from __future__ import annotations

import functools
import os
import sys

import jupyter_book.sphinx


def main() -> int:
    jobs = int(os.environ.get("CVBOOK_JOBS", min(4, os.cpu_count() or 1)))
    jupyter_book.sphinx.build_sphinx = functools.partial(jupyter_book.sphinx.build_sphinx, jobs=jobs)
    from jupyter_book.cli.main import main as cli  # imports build_sphinx from the module when it runs

    return cli()


if __name__ == "__main__":
    sys.exit(main())
