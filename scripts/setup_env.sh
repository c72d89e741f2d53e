#!/usr/bin/env bash
# Shared set-up for build_book.sh and run_tests.sh: a virtual environment in .venv with the
# pinned requirements and cvbook_lib (editable), and the offline JavaScript assets from npm.
# Idempotent: a step is skipped when its inputs have not changed since it last ran.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=.venv/.cvbook-requirements
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python -m pip install -q --upgrade pip
  python -m pip install -q -r requirements.txt
  python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# Offline assets: MathJax 3, require.js and the ipywidgets HTML manager, pinned in
# package-lock.json, copied to _vendor/vendor/ which Sphinx copies to the book's vendor/ folder
# (html_extra_path; deliberately not _static, whose every script Jupyter Book adds to each page).
stamp=node_modules/.cvbook-assets
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -f _vendor/vendor/mathjax/tex-mml-chtml.js ]; then
  npm ci --no-audit --no-fund --loglevel=error
  rm -rf _vendor
  mkdir -p _vendor/vendor/html-manager
  cp -r node_modules/mathjax/es5 _vendor/vendor/mathjax
  cp node_modules/requirejs/require.js _vendor/vendor/require.js
  find node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f \
    \( -name 'embed-amd.js' -o -name '*.woff*' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' \) \
    -exec cp {} _vendor/vendor/html-manager/ \;
  echo "$want" > "$stamp"
fi

# The browser check needs Chromium from Debian (not a browser download of a test tool).
if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
