"""The ``WebSocket`` component: a checked state machine over one ASGI WebSocket connection.

Messages reach the handler through bounded trio memory channels, never an unbounded queue:

* Under a server whose ASGI ``receive`` is a trio memory channel (Hypercorn's trio worker, whose
  own reader task feeds it), ``receive()`` reads a clone of that channel directly: no extra task
  and no extra task switch per message.
* A *reader task* in the connection's nursery pulls messages into the WebSocket's own bounded
  channel whenever something besides ``receive()`` waits on the client: a
  ``cancel_on_disconnect()`` block, ``wait_disconnected()``, tasks on the connection nursery, or a
  server whose ``receive`` is any other callable. It starts at the first such need and reads
  until the connection ends.

Either way:

* a client leaving reaches a ``receive()`` blocked at that moment at once, as
  ``WebSocketDisconnect(code)`` (the channel it waits on is closed under it);
* a handler that does not keep up applies backpressure: the channels fill, the server's own
  queue fills, and the server stops reading the socket;
* ``cancel_on_disconnect()`` scopes are cancelled when the client leaves;
* a handler that only sends takes what the server has queued without blocking (as many
  messages as the reader would hold), so its next ``send()`` raises ``WebSocketDisconnect``
  once the client has left. Past that bound the news waits behind unread messages, as it does
  for any handler that stops reading (docs/concurrency.md, "Backpressure").

States::

    CONNECTING --accept()--> CONNECTED --close()-----------> CLOSED        (we closed it)
        |                        \\--client leaves / 1001--> DISCONNECTED  (they left)
        \\--close() / refused----------------------------->  REFUSED       (no handshake)

Using the socket in a state that does not allow it raises ``WebSocketNotConnected`` at once,
naming the state.
"""

import contextlib
import enum
import json
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from ._types import Message, Receive, Scope, Send
from .datastructures import URL, Headers, QueryParams
from .exceptions import (
    SENDABLE_CLOSE_CODES,
    WebSocketDisconnect,
    WebSocketInvalidData,
    WebSocketMessageTooBig,
    WebSocketNotConnected,
)

__all__ = ["WebSocket", "WebSocketState", "WebSocketStatistics", "status"]

#: The ASGI extension that lets a refused handshake carry an HTTP response of our choosing.
DENIAL_EXTENSION = "websocket.http.response"


class status:
    """RFC 6455 (section 7.4.1) and IANA close codes."""

    WS_1000_OK = 1000
    WS_1001_LEAVING = 1001
    WS_1002_PROT_ERROR = 1002
    WS_1003_UNSUPPORTED_TYPE = 1003
    WS_1004_RESERVED = 1004
    WS_1005_NO_STATUS = 1005
    WS_1006_CLOSED_ABNORMAL = 1006
    WS_1007_INVALID_DATA = 1007
    WS_1008_POLICY_VIOLATION = 1008
    WS_1009_TOO_BIG = 1009
    WS_1010_MANDATORY_EXT = 1010
    WS_1011_INTERNAL_ERROR = 1011
    WS_1012_SERVICE_RESTART = 1012
    WS_1013_TRY_AGAIN_LATER = 1013
    WS_1014_BAD_GATEWAY = 1014
    WS_1015_TLS_HANDSHAKE = 1015


class WebSocketState(enum.Enum):
    """Where a :class:`WebSocket` is in its life."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"


@dataclass(frozen=True)
class WebSocketStatistics:
    """What :meth:`WebSocket.statistics` reports."""

    state: WebSocketState
    messages_buffered: int
    max_buffered: int
    tasks_waiting_receive: int
    close_code: int | None


#: Sends in a row (without a blocking receive) after which a send yields to the scheduler.
_YIELD_EVERY = 16

#: RFC 6455 7.4: the defined codes an endpoint may send, and the registered/private ranges.
_SENDABLE_CODES = SENDABLE_CLOSE_CODES

_READABLE = (WebSocketState.CONNECTED, WebSocketState.CLOSED)

_OPEN_FOR_RECEIVE = (WebSocketState.CONNECTED, WebSocketState.DISCONNECTED)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _channel_of(receive: Receive) -> "trio.MemoryReceiveChannel[Message] | None":
    """The server's memory channel, when its ASGI ``receive`` is that channel's ``receive``."""
    owner = getattr(receive, "__self__", None)
    if isinstance(owner, trio.MemoryReceiveChannel) and (
        getattr(receive, "__func__", None) is trio.MemoryReceiveChannel.receive
    ):
        return owner
    return None


class WebSocket:
    """One WebSocket connection, as handlers see it (``async def chat(ws: WebSocket)``).

    Built by the application for each connection; handlers, hooks and components that ask for
    it get the same instance. Text frames come back from :meth:`receive` as ``str`` and binary
    frames as ``bytes``; :meth:`send` sends a ``str`` as text and ``bytes`` as binary.
    """

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_closing",
        "_disconnect_scopes",
        "_disconnected_event",
        "_early",
        "_end_error",
        "_gone",
        "_inbox",
        "_max_message_size",
        "_max_queue",
        "_nursery",
        "_receive",
        "_receive_channel",
        "_send",
        "_send_channel",
        "_send_waiters",
        "_sending",
        "_sends_in_a_row",
        "_state",
        "scope",
    )

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
        self.scope = scope
        self._receive = receive
        self._send = send
        self._nursery = nursery
        self._max_queue = max_queue
        self._max_message_size = max_message_size
        if scope.get("type") != "websocket":
            raise ValueError(f"A WebSocket needs a 'websocket' scope, not {scope.get('type')!r}")
        self._state = WebSocketState.CONNECTING
        self._sending = False
        self._send_waiters: trio.lowlevel.ParkingLot | None = None
        self._sends_in_a_row = 0
        self._close_code: int | None = None
        self._close_reason = ""
        self._gone = False  # the client left (or answered our close), or the server goes away
        self._closing = False  # a close() is sending its frame
        self._end_error: type[WebSocketDisconnect] = WebSocketDisconnect
        self._disconnect_scopes: set[trio.CancelScope] | None = None
        self._disconnected_event: trio.Event | None = None
        # The reader's channel: both ends exist once (and only if) the reader task started.
        self._send_channel: trio.MemorySendChannel[str | bytes] | None = None
        self._receive_channel: trio.MemoryReceiveChannel[str | bytes] | None = None
        # Our clone of the server's channel, when its receive is a trio memory channel.
        self._inbox: trio.MemoryReceiveChannel[Message] | None = None
        # Messages a send() took from the inbox while looking for a disconnect.
        self._early: deque[str | bytes] | None = None

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
        buffered = len(self._early or ())
        waiting = 0
        for channel in (self._receive_channel, self._inbox):
            if channel is not None:
                stats = channel.statistics()
                buffered += stats.current_buffer_used
                waiting = stats.tasks_waiting_receive  # the reader's channel if it runs
                break
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
        """Accept the handshake, optionally choosing one of the offered subprotocols.

        Raises ``WebSocketNotConnected`` unless ``connecting``, and ``ValueError`` (before
        anything is sent, so the handshake can still be refused) for a subprotocol the client
        did not offer.
        """
        self._require(WebSocketState.CONNECTING, "accept")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"Cannot accept subprotocol {subprotocol!r}: the client offered "
                f"{self.subprotocols or 'none'}"
            )
        if self._nursery is None:
            raise WebSocketNotConnected("This WebSocket has no connection nursery to read in")
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = headers
        await self._send_message(message)
        self._state = WebSocketState.CONNECTED
        server = _channel_of(self._receive)
        if server is not None:
            try:
                self._inbox = server.clone()
            except trio.ClosedResourceError:
                pass
        if self._inbox is None or self._disconnect_scopes or self._disconnected_event:
            self._start_reader()

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

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text frame, ``bytes`` for a binary frame.

        Messages already received are returned even after the client left; then it raises
        ``WebSocketDisconnect`` (with the close code) at once. Cancelled, it loses no message.
        """
        if self._state not in _OPEN_FOR_RECEIVE:
            self._raise_for_state("receive")
        channel = self._receive_channel
        if channel is None and not self._early:
            # Straight from the server's channel: no reader task runs. (Inline, not a helper:
            # an idle socket parks here, and every suspended frame costs memory per socket.)
            inbox = self._inbox
            assert inbox is not None
            self._sends_in_a_row = 0
            while True:
                try:
                    message = await inbox.receive()  # cancelled, it takes nothing
                except (trio.ClosedResourceError, trio.EndOfChannel) as exc:
                    raise self._inbox_ended(exc) from None
                kind = message["type"]
                if kind == "websocket.receive":
                    data = self._data_of(message)
                    if data is None:
                        await self._abort(status.WS_1009_TOO_BIG, WebSocketMessageTooBig)
                        raise self._end()
                    return data
                if kind == "websocket.disconnect":
                    self._disconnected(
                        message.get("code", status.WS_1005_NO_STATUS),
                        message.get("reason") or "",
                    )
                    raise self._end()
        # Cancellation is checked before a message is taken, never after: a message taken is a
        # message returned. A message already waiting is returned without a trip through the
        # scheduler (whoever fills the channel cannot refill it without running, so this
        # cannot starve it).
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._early:
            return self._early.popleft()
        assert channel is not None
        try:
            return channel.receive_nowait()
        except trio.WouldBlock:
            pass  # wait outside the except block: its traceback would stay alive meanwhile
        except trio.EndOfChannel:
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise self._end() from None
        self._sends_in_a_row = 0
        try:
            return await channel.receive()
        except trio.EndOfChannel:
            raise self._end() from None

    def _end(self) -> WebSocketDisconnect:
        return self._end_error(self._close_code or status.WS_1005_NO_STATUS, self._close_reason)

    def _inbox_ended(self, exc: Exception) -> WebSocketDisconnect:
        # ClosedResourceError: _disconnected() closed our clone. EndOfChannel: the server
        # dropped the connection without a disconnect message.
        if isinstance(exc, trio.EndOfChannel):
            self._disconnected(status.WS_1006_CLOSED_ABNORMAL, "")
        return self._end()

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

    async def receive_json(self, loads: Callable[[str | bytes], Any] | None = None) -> Any:
        """The next message (text or binary frame) parsed as JSON.

        Raises ``WebSocketInvalidData`` (left unhandled: close code 1007) when it is not JSON.
        """
        data = await self.receive()
        try:
            return (loads or json.loads)(data)
        except ValueError as exc:
            raise WebSocketInvalidData(f"Invalid JSON message: {exc}") from exc

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
        """Send ``data`` serialised as JSON, in a text frame."""
        await self.send((dumps or _dumps)(data))

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
        else:
            await trio.lowlevel.checkpoint()

    # -- waiting for the client to leave ---------------------------------------------------

    @contextmanager
    def cancel_on_disconnect(self) -> Iterator[trio.CancelScope]:
        """A block that is cancelled when the client leaves, then raises ``WebSocketDisconnect``.

        ``with ws.cancel_on_disconnect(): await trio.sleep_forever()`` ends as soon as the client
        goes. Only the cancellation this scope caused is turned into ``WebSocketDisconnect``;
        any other cancellation passes through untouched.
        """
        scope = trio.CancelScope()
        self._cancel_on_disconnect(scope)
        try:
            with scope:
                yield scope
        finally:
            assert self._disconnect_scopes is not None
            self._disconnect_scopes.discard(scope)
        if scope.cancelled_caught:
            raise WebSocketDisconnect(
                self._close_code or status.WS_1005_NO_STATUS, self._close_reason
            )

    def _cancel_on_disconnect(self, scope: trio.CancelScope) -> None:
        """Have ``scope`` cancelled when the client leaves (at once if it has)."""
        if self._gone:
            scope.cancel()
        if self._disconnect_scopes is None:
            self._disconnect_scopes = set()
        self._disconnect_scopes.add(scope)
        self._start_reader()

    async def wait_disconnected(self) -> int:
        """Wait until the client leaves (or the server goes away); return the close code."""
        if not self._gone:
            if self._disconnected_event is None:
                self._disconnected_event = trio.Event()
            self._start_reader()
            await self._disconnected_event.wait()
        else:
            await trio.lowlevel.checkpoint()
        return self._close_code or status.WS_1005_NO_STATUS

    # -- internals ---------------------------------------------------------------------------

    def _start_reader(self) -> None:
        """Start the reader task, unless it runs already or the socket is not connected."""
        # After our own close() it still has to see the client's answer.
        if self._receive_channel is not None or self._state not in _READABLE:
            return
        if self._state is WebSocketState.CLOSED and self._inbox is None:
            return  # a reader for any other receive started at accept
        if self._nursery is None:
            raise WebSocketNotConnected("This WebSocket has no connection nursery to read in")
        self._send_channel, self._receive_channel = trio.open_memory_channel[str | bytes](
            self._max_queue
        )
        self._nursery.start_soon(self._reader, self._send_channel)

    async def _reader(self, send_channel: trio.MemorySendChannel[str | bytes]) -> None:
        """Pull ASGI messages into the channel until the client leaves."""
        # A handler already waiting on the inbox when this starts gets the next message first
        # (trio's channels serve receivers in order), so messages keep their order.
        receive = self._receive if self._inbox is None else self._inbox.receive
        async with send_channel:
            while True:
                try:
                    message = await receive()
                except (trio.ClosedResourceError, trio.EndOfChannel) as exc:
                    self._inbox_ended(exc)
                    return
                kind = message["type"]
                if kind == "websocket.receive":
                    if self._state is WebSocketState.CLOSED:
                        continue  # after our close() nobody may receive it: drop, keep reading
                    data = self._data_of(message)
                    if data is None:
                        await self._abort(status.WS_1009_TOO_BIG, WebSocketMessageTooBig)
                        return
                    try:
                        try:
                            send_channel.send_nowait(data)
                        except trio.WouldBlock:
                            await send_channel.send(data)  # full: backpressure
                    except trio.ClosedResourceError:
                        return  # closed by _disconnected(): the server is going away
                elif kind == "websocket.disconnect":
                    self._disconnected(
                        message.get("code", status.WS_1005_NO_STATUS), message.get("reason") or ""
                    )
                    return

    def _data_of(self, message: Message) -> str | bytes | None:
        """The payload of a ``websocket.receive`` message; ``None`` if it is over the limit."""
        data: str | bytes | None = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        limit = self._max_message_size
        if len(data) > limit and (isinstance(data, bytes) or len(data.encode()) > limit):
            return None
        return data

    def _drain(self) -> bool:
        """Take what the server has queued, without blocking, into ``_early`` (bounded).

        Returns True if a message was over the size limit (the caller aborts with 1009).
        """
        inbox = self._inbox
        assert inbox is not None
        early = self._early
        # As many as the reader would hold: a full channel and one in hand.
        while early is None or len(early) <= self._max_queue:
            try:
                message = inbox.receive_nowait()
            except trio.WouldBlock:
                return False
            except (trio.ClosedResourceError, trio.EndOfChannel) as exc:
                self._inbox_ended(exc)
                return False
            kind = message["type"]
            if kind == "websocket.receive":
                data = self._data_of(message)
                if data is None:
                    return True
                if early is None:
                    early = self._early = deque()
                early.append(data)
            elif kind == "websocket.disconnect":
                self._disconnected(
                    message.get("code", status.WS_1005_NO_STATUS), message.get("reason") or ""
                )
                return False
        return False  # full: the rest waits in the server's queue (backpressure)

    async def _abort(self, code: int, error: type[WebSocketDisconnect]) -> None:
        """End the connection for the peer's fault: close with ``code``; receivers get
        ``error``."""
        self._end_error = error
        if self._state is WebSocketState.CONNECTED:
            await self._send_message({"type": "websocket.close", "code": code})
        self._disconnected(code, "")

    def _disconnected(self, code: int, reason: str) -> None:
        """The client left, or the server is going away: wake everyone who waits on us."""
        self._gone = True
        if self._close_code is None or self._state is WebSocketState.CONNECTED:
            self._close_code, self._close_reason = code, reason
        if self._state is WebSocketState.CONNECTED:
            self._state = WebSocketState.DISCONNECTED
        if self._send_channel is not None:
            self._send_channel.close()
        if self._inbox is not None:
            self._inbox.close()  # wakes a receive() waiting on the server's channel
        for scope in self._disconnect_scopes or ():
            scope.cancel()
        if self._disconnected_event is not None:
            self._disconnected_event.set()

    async def _going_away(self, code: int = status.WS_1001_LEAVING) -> None:
        """Server shutdown: send a close frame now, and treat it like the client leaving."""
        if self._state is WebSocketState.CONNECTED:
            with trio.move_on_after(1), contextlib.suppress(WebSocketDisconnect):
                await self._send_message({"type": "websocket.close", "code": code})
            self._disconnected(code, "")

    async def _finish(self, code: int = status.WS_1000_OK, reason: str = "") -> None:
        """The handler is done: refuse a handshake never finished, close an open socket."""
        if self._state is WebSocketState.CONNECTING:
            await self.connect(close=True)
        elif self._state is WebSocketState.CONNECTED:
            await self.close(code, reason)

    async def _send_message(self, message: Message) -> None:
        # The server's send normally yields to the scheduler, so this does not on every call.
        # Not always: once the client has gone Hypercorn drops sends without yielding, and a
        # handler that only sends would starve the reader task about to tell it so. Hence a
        # real checkpoint every few sends in a row.
        self._sends_in_a_row += 1
        if self._sends_in_a_row >= _YIELD_EVERY:
            self._sends_in_a_row = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        # A FIFO lock around the server's send, with its parking lot made on first contention
        # (most sockets never have two senders, and idle sockets should cost little).
        if self._sending:
            if self._send_waiters is None:
                self._send_waiters = trio.lowlevel.ParkingLot()
            await self._send_waiters.park()  # the sender before us hands the lock over
        else:
            self._sending = True
        try:
            await self._send(message)
        except OSError as exc:
            self._disconnected(status.WS_1006_CLOSED_ABNORMAL, "")
            raise WebSocketDisconnect(status.WS_1006_CLOSED_ABNORMAL) from exc
        finally:
            if self._send_waiters:
                self._send_waiters.unpark()
            else:
                self._sending = False

    def _require(self, state: WebSocketState, action: str) -> None:
        if self._state is not state:
            self._raise_for_state(action)

    def _raise_for_state(self, action: str) -> None:
        state = self._state
        if state is WebSocketState.DISCONNECTED:
            raise self._end_error(self._close_code or status.WS_1005_NO_STATUS, self._close_reason)
        if self._closing:
            raise WebSocketNotConnected(
                f"Cannot {action}: the WebSocket is CLOSING (close() is sending its frame)"
            )
        raise WebSocketNotConnected(
            f"Cannot {action}: the WebSocket is {state.value.upper()}"
            + {
                WebSocketState.CONNECTING: " (call connect() or accept() first)",
                WebSocketState.CLOSED: " (closed by the server)",
                WebSocketState.REFUSED: " (the handshake was refused)",
            }.get(state, "")
        )

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self._state.value}>"
