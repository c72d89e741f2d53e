"""Serve a built book from 127.0.0.1 and keep Debian's headless Chromium off the network.

Shared by scripts/print_pdf.py (the whole-book PDF) and tests/test_html.py (the browser check):
Chromium resolves no host but 127.0.0.1, and ``offline_route`` aborts and records any request
that would leave the machine anyway.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# No sandbox (containers), no background traffic, no host but 127.0.0.1.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


class QuietHandler(SimpleHTTPRequestHandler):
    """A static-file handler that logs nothing."""

    def log_message(self, *args):
        pass


def serve(directory: Path, handler: type[SimpleHTTPRequestHandler] = QuietHandler) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``directory`` on a free port of 127.0.0.1 in a daemon thread; return (server, its URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def offline_route(site: str, outside: list[str]):
    """A Playwright route handler: requests to ``site`` (and data:/blob: URLs) go through, any
    other is aborted and its URL appended to ``outside``."""

    def route(r):
        url = r.request.url
        if url.startswith(site) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    return route
