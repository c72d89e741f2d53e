"""Keep the built book offline and free of JavaScript errors.

Jupyter Book 1 always loads sphinx-thebe (live code via Binder). This book runs on Colab instead,
so its scripts are dropped from every page: they point at unpkg.com, and the configuration script
is injected twice, which raises "Identifier 'THEBE_JS_URL' has already been declared".
"""

from __future__ import annotations


def _is_thebe(asset) -> bool:
    filename = getattr(asset, "filename", None) or ""
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
