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

# Offline assets: MathJax 3, pinned in package-lock.json. Only what pages load is copied to
# _vendor/vendor/ (which Sphinx copies to the book's vendor/ folder; deliberately not _static, whose
# every script Jupyter Book adds to each page): the one combined bundle, the TeX extensions it
# autoloads on demand and its woff2 fonts.
stamp=node_modules/.cvbook-assets
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -f _vendor/vendor/mathjax/tex-mml-chtml.js ]; then
  npm ci --no-audit --no-fund --loglevel=error
  rm -rf _vendor
  mj=node_modules/mathjax/es5
  mkdir -p _vendor/vendor/mathjax/input/tex _vendor/vendor/mathjax/output/chtml/fonts
  cp "$mj/tex-mml-chtml.js" _vendor/vendor/mathjax/
  cp -r "$mj/input/tex/extensions" _vendor/vendor/mathjax/input/tex/
  cp -r "$mj/output/chtml/fonts/woff-v2" _vendor/vendor/mathjax/output/chtml/fonts/
  echo "$want" > "$stamp"
fi

# The browser check needs Chromium from Debian (not a browser download of a test tool); the PDF
# (scripts/build_pdf.sh) also needs Debian's CJK fonts and poppler's pdftotext for its test.
missing=()
case "${1:-}" in
  --with-browser) command -v chromium >/dev/null || missing+=(chromium) ;;
  --with-pdf)
    command -v chromium >/dev/null || missing+=(chromium)
    fc-list ":family=Noto Sans CJK SC" family | grep -q . || missing+=(fonts-noto-cjk)
    command -v pdftotext >/dev/null || missing+=(poppler-utils) ;;
esac
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
