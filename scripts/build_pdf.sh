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
# shellcheck source=scripts/book_cache.sh
. scripts/book_cache.sh
drop_stale_caches
rm -rf _build/singlehtml _build/pdf/cvbook.pdf _build/pdf/cvbook.json
python scripts/jupyter_book_build.py build -W -n --keep-going --builder singlehtml .
record_caches
echo "== single-page HTML: $(( SECONDS - start )) s"
start=$SECONDS
python scripts/print_pdf.py
echo "== PDF: $(( SECONDS - start )) s"
