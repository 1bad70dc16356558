"""The ``WebSocket`` component: a checked state machine over one ASGI WebSocket connection.

This module holds what handlers see: the handshake (``connect``/``accept``/``deny``), the
typed receives, ``send`` and ``close``. Below it, in its base classes: how messages go out and
how a connection ends (``_connection.py``), how messages arrive and how the client leaving is
noticed (``_inbound.py``); what a message becomes as JSON or a type is ``_messages.py``.

States::

    CONNECTING --accept()--> CONNECTED --close()-----------> CLOSED        (we closed it)
        |                        \\--client leaves / 1001--> DISCONNECTED  (they left)
        \\--close() / refused----------------------------->  REFUSED       (no handshake)

Using the socket in a state that does not allow it raises ``WebSocketNotConnected`` at once,
naming the state.
"""

import contextlib
import warnings
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any, TypeVar, overload

import trio

from . import _json
from ._connection import Connection
from ._messages import JSONMessages, decode_json
from ._states import WebSocketState, WebSocketStatistics, status
from ._types import Message, Receive, Scope, Send
from .datastructures import URL, Headers, QueryParams
from .exceptions import (
    SENDABLE_CLOSE_CODES,
    WebSocketDisconnect,
    WebSocketInvalidData,
    WebSocketMessageTooBig,
    WebSocketNotConnected,
)

__all__ = ["WebSocket", "WebSocketState", "WebSocketStatistics", "current_session", "status"]

_T = TypeVar("_T")

#: The ASGI extension that lets a refused handshake carry an HTTP response of our choosing.
DENIAL_EXTENSION = "websocket.http.response"

#: RFC 6455 7.4: the defined codes an endpoint may send, and the registered/private ranges.
_SENDABLE_CODES = SENDABLE_CLOSE_CODES


def _spec_version(scope: Scope) -> tuple[int, ...]:
    """The ASGI spec version the server implements (2.0 when it does not say, as ASGI reads)."""
    version = (scope.get("asgi") or {}).get("spec_version") or "2.0"
    try:
        return tuple(int(part) for part in str(version).split("."))
    except ValueError:
        return (2, 0)


class WebSocket(Connection):
    """One WebSocket connection, as handlers see it (``async def chat(ws: WebSocket)``).

    Built by the application for each connection; handlers, hooks and components that ask for
    it get the same instance. Text frames come back from :meth:`receive` as ``str`` and binary
    frames as ``bytes``; :meth:`send` sends a ``str`` as text and ``bytes`` as binary.
    """

    __slots__ = ("_seen", "scope")

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        nursery: trio.Nursery | None = None,
        *,
        max_queue: int = 4,
        max_message_size: int = 1024 * 1024,
    ) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"A WebSocket needs a 'websocket' scope, not {scope.get('type')!r}")
        super().__init__(receive, send, nursery, max_queue, max_message_size)
        self.scope = scope
        self._seen: Any = None  # what the limits watch last saw of it (limits.py)

    # -- facts about the connection ------------------------------------------------------

    @property
    def state(self) -> WebSocketState:
        """The current :class:`WebSocketState`."""
        return self._state

    @property
    def connecting(self) -> bool:
        """True until the handshake is accepted or refused."""
        return self._state is WebSocketState.CONNECTING

    @property
    def connected(self) -> bool:
        """True while both sides may send."""
        return self._state is WebSocketState.CONNECTED

    @property
    def closed(self) -> bool:
        """True once closed by either side, or refused."""
        return self._state in (
            WebSocketState.CLOSED,
            WebSocketState.DISCONNECTED,
            WebSocketState.REFUSED,
        )

    @property
    def close_code(self) -> int | None:
        """The code the connection was closed with (by us or by the client), else ``None``."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason sent with the close, if any."""
        return self._close_reason

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols", ()))

    @property
    def protocols(self) -> list[str]:
        """Alias of :attr:`subprotocols`."""
        return self.subprotocols

    @property
    def headers(self) -> Headers:
        """The handshake request's headers."""
        return Headers.from_raw(self.scope.get("headers", ()))

    @property
    def query_params(self) -> QueryParams:
        """The handshake URL's query parameters."""
        return QueryParams.from_query_string(self.scope.get("query_string", b""))

    @property
    def path(self) -> str:
        """The request path."""
        return str(self.scope.get("path", ""))

    @property
    def url(self) -> URL:
        """The full URL the client connected to."""
        return URL.from_scope(self.scope)

    def statistics(self) -> WebSocketStatistics:
        """Counters for monitoring and tests: state, buffered messages, waiting receivers.

        ``messages_buffered`` counts what the application side holds (the reader's channel, or
        the server's channel it reads directly), not what the server has yet to parse.
        """
        buffered, waiting = self._buffered()
        return WebSocketStatistics(
            self._state, buffered, self._max_queue, waiting, self._close_code
        )

    # -- handshake -------------------------------------------------------------------------

    async def connect(
        self,
        subprotocol: str | None = None,
        close: bool = False,
        close_code: int = status.WS_1000_OK,
    ) -> None:
        """Finish the handshake: accept it, or with ``close=True`` refuse it (HTTP 403).

        Raises ``WebSocketNotConnected`` if the handshake is already over.
        """
        if close:
            self._require(WebSocketState.CONNECTING, "refuse")
            await self._send_message({"type": "websocket.close", "code": close_code})
            self._state = WebSocketState.REFUSED
            self._close_code = close_code
        else:
            await self.accept(subprotocol)

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Accept the handshake, optionally choosing one of the offered subprotocols and adding
        ``headers`` to the server's response.

        Raises ``WebSocketNotConnected`` unless ``connecting``, and ``ValueError`` (before
        anything is sent, so the handshake can still be refused) for a subprotocol the client
        did not offer. Under a server older than ASGI 2.1 (``spec_version``), which cannot send
        accept headers, ``headers`` are left out with a ``RuntimeWarning``.
        """
        self._require(WebSocketState.CONNECTING, "accept")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"Cannot accept subprotocol {subprotocol!r}: the client offered "
                f"{self.subprotocols or 'none'}"
            )
        if self._nursery is None and self._helpers is None:
            raise WebSocketNotConnected("This WebSocket has no connection nursery to read in")
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            if _spec_version(self.scope) >= (2, 1):
                message["headers"] = headers
            else:
                warnings.warn(
                    "The server speaks ASGI "
                    + ".".join(map(str, _spec_version(self.scope)))
                    + ", which cannot send headers with websocket.accept (ASGI 2.1 can): "
                    "the handshake is accepted without them",
                    RuntimeWarning,
                    stacklevel=2,
                )
        await self._send_message(message)
        self._state = WebSocketState.CONNECTED
        self._open_inbox()

    async def deny(
        self, status_code: int = 403, body: bytes | str = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Refuse the handshake with an HTTP response.

        Uses the ASGI denial-response extension when the server offers it; otherwise the client
        sees a plain 403. Raises ``WebSocketNotConnected`` unless ``connecting``.
        """
        self._require(WebSocketState.CONNECTING, "deny")
        if DENIAL_EXTENSION in self.scope.get("extensions", {}):
            payload = body.encode() if isinstance(body, str) else body
            raw = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in (headers or {}).items()
            ]
            if not any(k == b"content-type" for k, _ in raw):
                raw.append((b"content-type", b"application/json"))
            raw.append((b"content-length", str(len(payload)).encode()))
            await self._send_message(
                {"type": "websocket.http.response.start", "status": status_code, "headers": raw}
            )
            await self._send_message({"type": "websocket.http.response.body", "body": payload})
        else:
            await self._send_message({"type": "websocket.close", "code": status.WS_1000_OK})
        self._state = WebSocketState.REFUSED

    # -- receiving ---------------------------------------------------------------------------

    async def receive_text(self) -> str:
        """The next message, which must be a text frame (else ``WebSocketInvalidData``, 1003)."""
        data = await self.receive()
        if not isinstance(data, str):
            raise WebSocketInvalidData(
                "Expected a text frame, got a binary frame", status.WS_1003_UNSUPPORTED_TYPE
            )
        return data

    async def receive_bytes(self) -> bytes:
        """The next message, which must be a binary frame (else ``WebSocketInvalidData``, 1003)."""
        data = await self.receive()
        if not isinstance(data, bytes):
            raise WebSocketInvalidData(
                "Expected a binary frame, got a text frame", status.WS_1003_UNSUPPORTED_TYPE
            )
        return data

    @overload
    async def receive_json(self, loads: type[_T]) -> _T: ...

    @overload
    async def receive_json(self, loads: Callable[[str | bytes], Any] | None = None) -> Any: ...

    @overload
    async def receive_json(self, loads: Any) -> Any: ...  # a union, Annotated[...]: unchecked

    async def receive_json(self, loads: Any = None) -> Any:
        """The next message (text or binary frame) parsed as JSON; given a type (a pydantic
        model, a dataclass, a ``TypedDict``, ``list[Product]`` ...), validated into it.

        ``loads`` (positional or by name, as before) is a parser of your own, used instead of
        the standard one. Raises ``WebSocketInvalidData`` (left unhandled: close code 1007, with
        a reason in plain words) when the message is not JSON (nested past 128 levels, ``NaN`` and
        ``Infinity`` included), and its subclass ``WebSocketValidationError`` (whose ``errors``
        say why) when it is not of the type. The type's validator is made once and reused.
        """
        return decode_json(await self.receive(), loads)

    @overload
    def iter_json(self, kind: type[_T], /) -> AsyncIterator[_T]: ...

    @overload
    def iter_json(self, kind: Any, /) -> AsyncIterator[Any]: ...

    def iter_json(self, kind: Any, /) -> AsyncIterator[Any]:
        """``async for product in ws.iter_json(Product)``: each message received as ``kind``
        (see :meth:`receive_json`); the iteration stops when the client leaves, and raises
        ``WebSocketValidationError`` for a message not of the type."""
        return JSONMessages(self.receive_json, kind)

    def __aiter__(self) -> "WebSocket":
        return self

    async def __anext__(self) -> str | bytes:
        """The next message; iteration stops when the client leaves."""
        try:
            return await self.receive()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None

    # -- sending -----------------------------------------------------------------------------

    async def send(self, data: str | bytes) -> None:
        """Send ``str`` as a text frame, ``bytes`` (or bytearray/memoryview) as a binary frame.

        Raises ``WebSocketDisconnect`` if the client has gone, ``WebSocketNotConnected`` if the
        socket is not connected, ``TypeError`` for anything else than text or bytes.
        """
        if self._sends_in_a_row and self._inbox is not None and self._receive_channel is None:
            # A send right after a send, and nothing else watches the client: see whether it
            # left (the server drops sends to a gone client without a word).
            if self._drain():
                await self._abort(status.WS_1009_TOO_BIG, WebSocketMessageTooBig)
        if self._state is not WebSocketState.CONNECTED or self._closing:
            self._raise_for_state("send")
        if isinstance(data, str):
            message: Message = {"type": "websocket.send", "text": data}
        elif isinstance(data, bytes | bytearray | memoryview):
            message = {"type": "websocket.send", "bytes": bytes(data)}
        else:
            raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")
        await self._send_message(message)

    async def send_json(self, data: Any, dumps: Callable[[Any], str] | None = None) -> None:
        """Send ``data`` serialised as JSON, in a text frame. Pydantic models, dataclasses,
        dates, UUIDs, Decimals and Enums (also inside dicts and lists) are serialised as their
        types say. Raises ``ValueError`` for NaN or infinite floats and ``TypeError`` for
        values JSON cannot hold."""
        await self.send((dumps or _json.dumps)(data))

    async def send_msg(self, msg: Message) -> None:
        """Send a raw ASGI message, checked against the ASGI spec and the current state.

        Raises ``ValueError``/``TypeError`` for a malformed message and ``WebSocketNotConnected``
        for one the current state does not allow.
        """
        kind = msg.get("type")
        if kind == "websocket.accept":
            headers = msg.get("headers")
            await self.accept(msg.get("subprotocol"), list(headers) if headers else None)
        elif kind == "websocket.send":
            text, data = msg.get("text"), msg.get("bytes")
            if (text is None) == (data is None):
                raise ValueError("websocket.send needs exactly one of 'text' and 'bytes'")
            if text is not None and not isinstance(text, str):
                raise TypeError("websocket.send 'text' must be str")
            if data is not None and not isinstance(data, bytes):
                raise TypeError("websocket.send 'bytes' must be bytes")
            await self.send(text if text is not None else bytes(data or b""))
        elif kind == "websocket.close":
            code = msg.get("code", status.WS_1000_OK)
            if not isinstance(code, int):
                raise TypeError("websocket.close 'code' must be int")
            await self.close(code, msg.get("reason") or "")
        elif kind == "websocket.http.response.start" or kind == "websocket.http.response.body":
            raise ValueError(f"Use WebSocket.deny() to send a {kind!r} response")
        else:
            raise ValueError(f"{kind!r} is not an ASGI message an application may send")

    async def close(self, code: int = status.WS_1000_OK, reason: str = "") -> None:
        """Close the connection with ``code``; before the handshake, refuse it (HTTP 403).

        Closing a socket that is already closed, refused or disconnected does nothing. The
        reason is cut to the 123 bytes a close frame can carry. Raises ``ValueError`` for a code
        an endpoint may not send (RFC 6455 7.4: 1004-1006, 1015, and anything outside
        1000-4999).
        """
        if code not in _SENDABLE_CODES:
            raise ValueError(f"{code} is not a close code an endpoint may send")
        if self._state is WebSocketState.CONNECTING:
            await self.connect(close=True, close_code=code)
        elif self._state is WebSocketState.CONNECTED and not self._closing:
            # CLOSED once the frame is out. Meanwhile sends from other tasks fail, the socket
            # still receives, and if this is cancelled before the frame went out nothing
            # happened: whoever finishes the socket (or shuts the server down) sends one.
            self._closing = True
            reason_bytes = reason.encode()[:123]
            try:
                await self._send_message(
                    {
                        "type": "websocket.close",
                        "code": code,
                        "reason": reason_bytes.decode(errors="ignore"),
                    }
                )
            finally:
                self._closing = False
            if self._state is WebSocketState.CONNECTED:
                self._state = WebSocketState.CLOSED
                self._close_code, self._close_reason = code, reason
            if self._writer is not None:
                # Queued, so it will go out (unless the client is given up on): closed now,
                # and back to the caller once the frame is out.
                await self._writer.wait_flushed()
        else:
            await trio.lowlevel.checkpoint()

    # -- ending ------------------------------------------------------------------------------

    async def _finish(self, code: int = status.WS_1000_OK, reason: str = "") -> None:
        """The handler is done: refuse a handshake never finished, close an open socket."""
        if self._state is WebSocketState.CONNECTING:
            await self.connect(close=True)
        elif self._state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect):  # gone meanwhile: nothing owed
                await self.close(code, reason)

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self._state.value}>"


#: The WebSocket whose session runs in this context and the task that runs it (set by the
#: session): what must end when that client leaves (a broadcast subscription) finds it here.
current_session: ContextVar[tuple[WebSocket, trio.lowlevel.Task] | None] = ContextVar(
    "trio_apistar.current_session", default=None
)
