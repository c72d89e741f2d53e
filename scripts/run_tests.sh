#!/usr/bin/env bash
# Run every test (set-up included): lint, the zero-warning book build, then one pytest run with
# the unit tests, the notebook pairing checks, the offline headless-Chromium check of the built
# HTML and nbval over every chapter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --with-browser
# shellcheck disable=SC1091
. .venv/bin/activate
ruff check cvbook_lib tests benchmarks scripts _ext
bash scripts/build_book.sh
export MPLBACKEND=Agg PYTHONHASHSEED=0
python -m pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg tests/ chapters/
