#!/usr/bin/env bash
# Build the HTML book into _build/html (set-up included). Zero warnings allowed (-W -n).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg PYTHONHASHSEED=0
# shellcheck source=scripts/book_cache.sh
. scripts/book_cache.sh
drop_stale_caches
rm -rf _build/html
python scripts/jupyter_book_build.py build -W -n --keep-going .   # jupyter-book build, two chapters at a time
record_caches
echo "book built: $(pwd)/_build/html/index.html"
