# Sourced by build_book.sh and build_pdf.sh: keep Jupyter Book's caches no older than what they
# were made from. The execution cache is keyed on each chapter's code only, so it is dropped when
# cvbook_lib changed (no chapter output older than the library it shows); Sphinx re-reads a page
# only when its source or the configuration changed, so the doctrees are dropped when the book's
# extension (_ext/) changed.
book_cache_lib=$(find cvbook_lib -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
book_cache_ext=$(cat _ext/*.py | sha256sum | cut -d' ' -f1)

drop_stale_caches() {
  if [ "$(cat _build/.cvbook-lib 2>/dev/null)" != "$book_cache_lib" ]; then
    rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute
  fi
  if [ "$(cat _build/.cvbook-ext 2>/dev/null)" != "$book_cache_ext" ]; then
    rm -rf _build/.doctrees
  fi
}

record_caches() {
  echo "$book_cache_lib" > _build/.cvbook-lib
  echo "$book_cache_ext" > _build/.cvbook-ext
}
