#!/usr/bin/env bash
# Build the HTML book into _build/html (set-up included). Zero warnings allowed (-W -n).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg PYTHONHASHSEED=0
# The execution cache is keyed on each chapter's code only: drop it when cvbook_lib changed,
# so no chapter output is older than the library it shows. Never keep stale pages either.
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
rm -rf _build/html
jupyter-book build -W -n --keep-going .
echo "$lib" > _build/.cvbook-lib
echo "$ext" > _build/.cvbook-ext
echo "book built: $(pwd)/_build/html/index.html"
