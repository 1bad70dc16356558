"""The exceptions the test helpers raise, and small shared helpers."""

from __future__ import annotations

import math

import httpx


class TestClientError(Exception):
    """Base class of the exceptions the test helpers raise about the app's behaviour."""

    __test__ = False


class LifespanFailed(TestClientError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.

    Raised by ``TestClient.__aenter__`` (startup) or ``__aexit__`` (shutdown); ``message`` is the
    app's message.
    """

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        self.message = message
        super().__init__(f"lifespan {phase} failed: {message}")


class WebSocketDenied(TestClientError):
    """The app refused the WebSocket handshake with an HTTP response.

    A ``websocket.close`` before ``websocket.accept`` is a 403 with an empty body; the denial
    response extension gives any status, headers and body. ``response`` is that response as an
    ``httpx.Response`` (``.json()``, ``.text``).
    """

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.content
        super().__init__(f"WebSocket handshake denied with HTTP {response.status_code}")


class WebSocketClosed(TestClientError):
    """The app closed the WebSocket (``websocket.close``) with ``code`` and ``reason``.

    Raised by the session's ``receive*()`` once the close is the next message, and by its
    ``send*()`` after the app closed.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(code, reason)

    def __repr__(self) -> str:
        return f"WebSocketClosed(code={self.code}, reason={self.reason!r})"


class ServerStartError(TestClientError):
    """``run_hypercorn()`` could not get the server listening; the message ends with its log."""


def _unwrap(error: Exception) -> Exception:
    """The one exception inside nested single-member ``ExceptionGroup``s, else ``error`` itself."""
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _timeout_of(value: float | None) -> float:
    return math.inf if value is None else value
