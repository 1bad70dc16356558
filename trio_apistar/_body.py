"""Reading an HTTP request body, bounded in size and in time, and what to do with one that is
refused.

* The whole body must arrive within ``body_timeout`` seconds, else ``RequestTimeout`` (408):
  a client trickling a byte a second holds nothing for long.
* Past ``max_body_size`` bytes (or a larger ``Content-Length``) it is ``PayloadTooLarge``
  (413). The rest of the body is then read and dropped, up to ``_DRAIN_BUDGET`` bytes more and
  within the same deadline, so that the connection can serve the client's next request: Hypercorn
  keeps a connection only if the request was read to its end, and otherwise closes it after the
  response. When the rest is too big or too slow, the refusal says ``Connection: close``, so
  that a keep-alive client opens a new connection instead of reusing one that is going away.
"""

import math

import trio

from ._types import Receive, Scope
from .exceptions import HTTPException, PayloadTooLarge, RequestTimeout

__all__ = [
    "ClientGone",
    "ambiguous_framing",
    "deadline_after",
    "declares_body",
    "drain_body",
    "read_body",
]

#: Bytes of a refused body read and dropped to keep the connection (beyond the limit).
_DRAIN_BUDGET = 1024 * 1024

_CLOSE = {"connection": "close"}


class ClientGone(Exception):
    """The HTTP client left while we read its body."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def ambiguous_framing(scope: Scope) -> bool:
    """True for a request with both ``Content-Length`` and ``Transfer-Encoding``: how requests
    are smuggled past a proxy that reads the other header (RFC 9112 6.1: refuse it, or close
    the connection after the response; Hypercorn does neither)."""
    length = coding = False
    for name, _ in scope.get("headers", ()):
        if name == b"content-length":
            length = True
        elif name == b"transfer-encoding":
            coding = True
    return length and coding


def declares_body(scope: Scope) -> bool:
    """True if the request says a body follows (a ``Content-Length`` above 0, or chunked)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


def deadline_after(seconds: float | None) -> float:
    """The ``trio.current_time()`` deadline ``seconds`` from now (never, for ``None``)."""
    return trio.current_time() + (math.inf if seconds is None else seconds)


async def read_body(scope: Scope, receive: Receive, limit: int, deadline: float) -> bytes:
    """The request body, which must be whole by ``deadline``; raises ``PayloadTooLarge``,
    ``RequestTimeout`` (both with ``Connection: close`` when the connection cannot be kept) or
    ``ClientGone``."""
    declared = _declared_length(scope)
    too_large = f"The request body is over {limit} bytes"
    if declared is not None and declared > limit:
        if declared - limit > _DRAIN_BUDGET:
            raise PayloadTooLarge(too_large, headers=_CLOSE)
        await _refuse(PayloadTooLarge(too_large), receive, deadline)
    chunks: list[bytes] = []
    size = 0
    with trio.move_on_at(deadline):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > limit:
                if not more:
                    raise PayloadTooLarge(too_large)
                await _refuse(PayloadTooLarge(too_large), receive, deadline)
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)
    raise RequestTimeout(headers=_CLOSE)


async def drain_body(receive: Receive, deadline: float) -> bool:
    """Read and drop a request body nobody asked for (bounded, and until ``deadline`` at
    most); True if it was read to its end, so that the connection can be kept. Raises
    ``ClientGone``."""
    return await _drain(receive, deadline)


async def _refuse(error: HTTPException, receive: Receive, deadline: float) -> None:
    if not await _drain(receive, deadline):
        error.headers.update(_CLOSE)
    raise error


async def _drain(receive: Receive, deadline: float) -> bool:
    budget = _DRAIN_BUDGET
    with trio.move_on_at(deadline):
        while budget >= 0:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
    return False
