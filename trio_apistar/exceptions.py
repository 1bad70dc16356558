"""Every exception trio_apistar raises, in one tree.

```
TrioApiStarError
├── BroadcastError                publish/subscribe failed; carries the close code for a socket
│   ├── BroadcastUnavailable      the backend is unreachable, or the Broadcast not running (1013)
│   ├── HistoryGap                since= asks for what is no longer kept, or an unknown id (1008)
│   └── SubscriberTooSlow         a subscription's buffer overflowed; it was dropped (1013)
├── ConfigurationError            the app was built wrong; raised at ASyncApp(...) time
├── HTTPException                 rendered as JSON {"detail": ...} with its status code
│   ├── BadRequest                400
│   │   └── ValidationError       400, a parameter or body failed validation
│   ├── Forbidden                 403
│   ├── NotFound                  404
│   ├── MethodNotAllowed          405
│   ├── RequestTimeout            408
│   ├── PayloadTooLarge           413
│   └── UnsupportedMediaType      415
└── WebSocketError
    ├── WebSocketDisconnect       the peer went away (or the server is going away); carries the code
    │   └── WebSocketMessageTooBig  the peer sent a message over the limit; we closed with 1009
    ├── WebSocketNotConnected     the socket was used in a state that does not allow it (your bug)
    ├── WebSocketProtocolError    refuse the handshake (HTTP 4xx) or close with 1002 after accept
    └── WebSocketInvalidData      a message could not be decoded; unhandled, closes with 1007 (1003)
        └── WebSocketValidationError  a message is not of the type asked for; unhandled, 1007
```

As in Trio, a resource *you* misused (``WebSocketNotConnected``, a ``RuntimeError``) is kept apart
from a resource the *peer* broke (``WebSocketDisconnect``), which is never a server error.
"""

from typing import Any, ClassVar

__all__ = [
    "SENDABLE_CLOSE_CODES",
    "BadRequest",
    "BroadcastError",
    "BroadcastUnavailable",
    "ConfigurationError",
    "Forbidden",
    "HTTPException",
    "HistoryGap",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "SubscriberTooSlow",
    "TrioApiStarError",
    "UnsupportedMediaType",
    "ValidationError",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketInvalidData",
    "WebSocketMessageTooBig",
    "WebSocketNotConnected",
    "WebSocketProtocolError",
    "WebSocketValidationError",
]


#: RFC 6455 7.4: the defined codes an endpoint may send, and the registered/private ranges.
SENDABLE_CLOSE_CODES = frozenset({*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)})


class TrioApiStarError(Exception):
    """Base class of every exception defined by trio_apistar."""


class BroadcastError(TrioApiStarError):
    """Base class of the errors of ``Broadcast``.

    Each carries the ``close_code`` a WebSocket handler that lets it escape is closed with,
    and the ``status_code`` of an HTTP handler's response (logged without a traceback: these
    are conditions of the service, not bugs).
    """

    close_code: ClassVar[int] = 1011
    status_code: ClassVar[int] = 503

    def __init__(self, detail: str, channel: str | None = None) -> None:
        self.detail = detail
        self.channel = channel
        super().__init__(detail)


class BroadcastUnavailable(BroadcastError):
    """The broadcast backend cannot be reached (the Redis connection is lost or not yet back),
    or the ``Broadcast`` is not running.

    Raised by ``publish``/``subscribe``/``join`` during an outage, and by every live
    subscription at once when the connection is lost (nothing is delivered silently late).
    Unhandled in a WebSocket handler: close code 1013, try again later; in an HTTP
    handler: 503.
    """

    close_code = 1013


class HistoryGap(BroadcastError):
    """``subscribe(channel, since=...)`` cannot give exactly what was missed: messages after
    ``since`` are no longer kept (or ``since`` is not an id this channel ever had).

    The subscription is not opened; subscribe again without ``since`` and reload what you need
    from elsewhere. Unhandled in a WebSocket handler: close code 1008; in an HTTP handler: 410.
    """

    close_code = 1008
    status_code = 410

    def __init__(self, detail: str, channel: str | None = None, since: str | None = None) -> None:
        super().__init__(detail, channel)
        self.since = since


class SubscriberTooSlow(BroadcastError):
    """A subscription's buffer filled up because it was not read fast enough: it was dropped
    (publishers and other subscribers never wait for it) and counted in ``statistics()``.

    ``last_id`` is the id of the last event it delivered, for a new ``subscribe(since=...)``.
    Unhandled in a WebSocket handler: close code 1013; in an HTTP handler: 503.
    """

    close_code = 1013

    def __init__(self, detail: str, channel: str | None = None, last_id: str | None = None) -> None:
        super().__init__(detail, channel)
        self.last_id = last_id


class ConfigurationError(TrioApiStarError):
    """The application is configured in a way that cannot work (raised while building it)."""


class HTTPException(TrioApiStarError):
    """An error that becomes an HTTP response: ``{"detail": detail}`` with ``status_code``.

    Subclasses set ``default_status_code`` and ``default_detail``; both can be overridden per
    instance. ``detail`` may be a string, or a dict/list (e.g. per-field validation errors).
    """

    default_status_code: ClassVar[int] = 500
    default_detail: ClassVar[str] = "Server error"

    def __init__(
        self,
        detail: Any = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail: Any = self.default_detail if detail is None else detail
        self.status_code: int = self.default_status_code if status_code is None else status_code
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r}, status_code={self.status_code})"


class BadRequest(HTTPException):
    """400: the request is malformed (e.g. a body that is not valid JSON)."""

    default_status_code = 400
    default_detail = "Bad request"


class ValidationError(BadRequest):
    """400: a parameter or the body does not have the expected shape or type."""

    default_detail = "Invalid parameters"


class Forbidden(HTTPException):
    """403: the client may not do this."""

    default_status_code = 403
    default_detail = "Forbidden"


class NotFound(HTTPException):
    """404: no route matches the path."""

    default_status_code = 404
    default_detail = "Not found"


class MethodNotAllowed(HTTPException):
    """405: the path exists but not for this method."""

    default_status_code = 405
    default_detail = "Method not allowed"


class RequestTimeout(HTTPException):
    """408: the request body did not arrive within the app's ``body_timeout``."""

    default_status_code = 408
    default_detail = "The request body took too long to arrive"


class PayloadTooLarge(HTTPException):
    """413: the request body is larger than the app's ``max_body_size``."""

    default_status_code = 413
    default_detail = "Request body too large"


class UnsupportedMediaType(HTTPException):
    """415: the request body's content type cannot be parsed."""

    default_status_code = 415
    default_detail = "Unsupported media type"


class WebSocketError(TrioApiStarError):
    """Base class of the WebSocket exceptions."""


class WebSocketDisconnect(WebSocketError):
    """The client has gone (or the server is shutting down, with code 1001).

    Raised by ``receive*()`` as soon as the client leaves, by ``send*()`` after it left, and at the
    exit of ``WebSocket.cancel_on_disconnect()``. Not a server error: a handler that lets it
    propagate ends normally.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(code, reason)

    def __repr__(self) -> str:
        return f"WebSocketDisconnect(code={self.code}, reason={self.reason!r})"


class WebSocketNotConnected(WebSocketError, RuntimeError):
    """The WebSocket was used in a state that does not allow it (e.g. send before connect)."""


class WebSocketProtocolError(WebSocketError):
    """Refuse a WebSocket, or end it for breaking the application's protocol.

    Raised before the handshake completes (in ``on_request`` or a handler), the connection is
    refused with ``status_code`` (403 by default) and ``detail`` as the response body when the
    server supports the denial-response extension. Raised after accept, the socket is closed
    with ``close_code`` (1002 by default) and ``detail`` as the reason. Raises ``ValueError`` for
    a status code that is not 4xx or a close code an endpoint may not send.
    """

    default_detail: ClassVar[str] = "WebSocket protocol error"

    def __init__(
        self, detail: str | None = None, status_code: int = 403, close_code: int = 1002
    ) -> None:
        if not 400 <= status_code <= 499:
            raise ValueError(f"A refusal needs a 4xx status code, not {status_code}")
        if close_code not in SENDABLE_CLOSE_CODES:
            raise ValueError(f"{close_code} is not a close code an endpoint may send")
        self.detail = self.default_detail if detail is None else detail
        self.status_code = status_code
        self.close_code = close_code
        super().__init__(self.detail)


class WebSocketInvalidData(WebSocketError, ValueError):
    """A received message could not be decoded: invalid JSON (close code 1007), or the wrong
    frame type for ``receive_text()``/``receive_bytes()`` (1003). Left unhandled, the socket is
    closed with ``close_code``."""

    def __init__(self, detail: str, close_code: int = 1007) -> None:
        self.detail = detail
        self.close_code = close_code
        super().__init__(detail)


class WebSocketMessageTooBig(WebSocketDisconnect):
    """The client sent a message over ``websocket_max_message_size``: the server closed the
    socket with 1009. Raised by ``receive*()`` like any other disconnect."""


class WebSocketValidationError(WebSocketInvalidData):
    """A message received as a type (``await ws.receive_json(Product)``) is not JSON or not of
    that type. ``errors`` says why, in the shape of an HTTP 400's detail: one message, or dotted
    field paths to messages. Catch it to answer the client and keep the socket open; left
    unhandled, the socket closes with 1007 and a short reason."""

    def __init__(self, errors: str | dict[str, str]) -> None:
        self.errors = errors
        if isinstance(errors, str):
            reason = errors
        else:
            reason = "; ".join(f"{path}: {message}" for path, message in errors.items())
        super().__init__(f"Invalid message: {reason}", 1007)
