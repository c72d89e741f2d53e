#!/usr/bin/env bash
# Run every test (set-up included): lint, the zero-warning book build, then
#   1. one pytest run with the unit tests, the notebook pairing checks, the offline headless-Chromium
#      check of the built HTML, the check of the whole-book PDF and nbval over every chapter, natively;
#   2. nbval over every chapter again with torch's non-vectorized kernels on one thread
#      (ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1): other kernels, other reduction order, a
#      stand-in for a reader's machine. A stored output that only one CPU reproduces fails here.
# The first run keeps torch's own threading (what a reader gets); the second, single-threaded,
# spreads the notebooks over two workers (pytest-xdist --dist loadfile; a notebook stays on one worker).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --with-pdf   # chromium, fonts-noto-cjk, poppler-utils
# shellcheck disable=SC1091
. .venv/bin/activate
part() { echo "== $1: $(( SECONDS - start )) s"; start=$SECONDS; }
start=$SECONDS
ruff check cvbook_lib tests benchmarks scripts _ext
bash scripts/build_book.sh
part "set-up, lint and book build"
bash scripts/build_pdf.sh   # after the HTML build: shares its execution cache
part "whole-book PDF"
export MPLBACKEND=Agg PYTHONHASHSEED=0
NBVAL=(--nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg)
python -m pytest --durations=25 "${NBVAL[@]}" tests/ chapters/   # the slowest tests, for keeping the run short
part "unit tests, HTML check and nbval (native)"
ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 python -m pytest -n 2 --dist loadfile "${NBVAL[@]}" chapters/
part "nbval (ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1)"
