#!/usr/bin/env bash
# Build the whole book as one PDF, _build/pdf/cvbook.pdf (set-up included): Jupyter Book's
# single-page HTML (zero warnings allowed, -W -n, sharing the execution cache with the HTML build,
# so chapters already executed there are not run again), printed by Debian's headless Chromium
# with Debian's Noto CJK fonts (scripts/print_pdf.py). Nothing is downloaded but packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --with-pdf
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg PYTHONHASHSEED=0
start=$SECONDS
# Same rule as build_book.sh: no chapter output older than the library it shows.
lib=$(find cvbook_lib -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
if [ "$(cat _build/.cvbook-lib 2>/dev/null)" != "$lib" ]; then
  rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute
fi
# Sphinx re-reads a page only when its source or the configuration changed: after a change of the
# book's extension (_ext/), read every page again.
ext=$(cat _ext/*.py | sha256sum | cut -d' ' -f1)
if [ "$(cat _build/.cvbook-ext 2>/dev/null)" != "$ext" ]; then
  rm -rf _build/.doctrees
fi
rm -rf _build/singlehtml _build/pdf/cvbook.pdf _build/pdf/cvbook.json
jupyter-book build -W -n --keep-going --builder singlehtml .
echo "$lib" > _build/.cvbook-lib
echo "$ext" > _build/.cvbook-ext
echo "== single-page HTML: $(( SECONDS - start )) s"
start=$SECONDS
python scripts/print_pdf.py
echo "== PDF: $(( SECONDS - start )) s"
