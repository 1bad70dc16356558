"""ASGI ``http`` scopes shaped like Hypercorn's, for tests that call an app directly.

Imported as ``from scopes import http_scope`` (pytest puts ``tests/`` on ``sys.path`` for
``tests/conftest.py``).
"""

from collections.abc import Iterable
from typing import Any

__all__ = ["http_scope"]


def http_scope(
    path: str = "/", method: str = "GET", headers: Iterable[tuple[bytes, bytes]] = ()
) -> dict[str, Any]:
    """Return a new ``http`` scope for ``method`` ``path`` with a ``host`` header, then
    ``headers``.

    ``path`` is the decoded path, as the server hands it over; ``raw_path`` is its UTF-8 bytes,
    surrogate escapes kept, so that unnormalised and undecodable paths reach the app as sent.
    No ``state``: the app sees what a server without lifespan state would send.
    """
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
