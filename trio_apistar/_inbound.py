"""How messages reach a ``WebSocket``, and how the client leaving is noticed.

Messages reach the handler through bounded trio memory channels, never an unbounded queue:

* Under a server whose ASGI ``receive`` is a trio memory channel (Hypercorn's trio worker, whose
  own reader task feeds it), ``receive()`` reads a clone of that channel directly: no extra task
  and no extra task switch per message.
* A *reader task* pulls messages into the WebSocket's own bounded channel whenever something
  besides ``receive()`` waits on the client: a ``cancel_on_disconnect()`` block,
  ``wait_disconnected()``, tasks on the connection nursery, or a server whose ``receive`` is
  any other callable. It starts at the first such need and reads until the connection ends,
  in the connection's nursery if it has one, else in the app's ``Helpers`` nursery (where an
  error of its own wakes whoever waits on the client and is left for the session to report).

Either way:

* a client leaving reaches a ``receive()`` blocked at that moment at once, as
  ``WebSocketDisconnect(code)`` (the channel it waits on is closed under it);
* a handler that does not keep up applies backpressure: the channels fill, the server's own
  queue fills, and the server stops reading the socket;
* ``cancel_on_disconnect()`` scopes are cancelled when the client leaves;
* a handler that only sends takes what the server has queued without blocking (as many
  messages as the reader would hold), so its next ``send()`` raises ``WebSocketDisconnect``
  once the client has left. Past that bound the news waits behind unread messages, as it does
  for any handler that stops reading (docs/concurrency.md, "Backpressure");
* any other ASGI message after accept (a second ``websocket.connect``) is a ``RuntimeError``:
  the server broke the protocol, and dropping the message would hide it.

``Inbound`` is the lowest base class of the public ``WebSocket`` (``websocket.py``):
``Connection`` (``_connection.py``) adds the send side and the end, ``WebSocket`` the
handshake and what handlers call. It holds the connection's state, because the client leaving
changes it; methods are inlined rather than delegated, since an idle socket parks in
``receive()`` and every suspended frame is memory per socket.
"""

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import trio

from ._states import WebSocketState, status
from ._types import Message, Receive
from .exceptions import WebSocketDisconnect, WebSocketMessageTooBig, WebSocketNotConnected
from .nurseries import Helpers

__all__ = ["Inbound", "channel_of"]

_READABLE = (WebSocketState.CONNECTED, WebSocketState.CLOSED)

_OPEN_FOR_RECEIVE = (WebSocketState.CONNECTED, WebSocketState.DISCONNECTED)


def channel_of(receive: Receive) -> "trio.MemoryReceiveChannel[Message] | None":
    """The server's memory channel, when its ASGI ``receive`` is that channel's ``receive``."""
    owner = getattr(receive, "__self__", None)
    if isinstance(owner, trio.MemoryReceiveChannel) and (
        getattr(receive, "__func__", None) is trio.MemoryReceiveChannel.receive
    ):
        return owner
    return None


def _unexpected(kind: object) -> RuntimeError:
    # Starlette raises too: a server that sends these breaks ASGI, and dropping them would hide it.
    return RuntimeError(
        f"Unexpected ASGI message {kind!r} on an accepted WebSocket (the server may only send "
        "'websocket.receive' and 'websocket.disconnect' after 'websocket.connect')"
    )


class Cancellable(Protocol):
    """What waits for the client to leave: a cancel scope, or a broadcast subscription."""

    def cancel(self) -> None: ...


class Inbound:
    """The receiving side of one WebSocket connection and its state (see the module docs)."""

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_closing",
        "_disconnect_scopes",
        "_disconnected_event",
        "_early",
        "_end_error",
        "_failure",
        "_gone",
        "_helpers",
        "_inbox",
        "_max_message_size",
        "_max_queue",
        "_nursery",
        "_reader_scope",
        "_receive",
        "_receive_channel",
        "_received",
        "_send_channel",
        "_sends_in_a_row",
        "_server",
        "_server_done",
        "_state",
    )

    def __init__(
        self,
        receive: Receive,
        nursery: trio.Nursery | None,
        max_queue: int,
        max_message_size: int,
    ) -> None:
        self._receive = receive
        # The server's memory channel, when its receive is one (read directly once accepted).
        self._server = channel_of(receive)
        self._nursery = nursery
        self._max_queue = max_queue
        self._max_message_size = max_message_size
        self._state = WebSocketState.CONNECTING
        self._sends_in_a_row = 0
        self._received = 0  # messages taken from the server (the idle timeout watches it)
        self._close_code: int | None = None
        self._close_reason = ""
        self._gone = False  # the client left (or answered our close), or the server goes away
        self._server_done = False  # the server reported the connection over
        self._closing = False  # a close() is sending its frame
        self._end_error: type[WebSocketDisconnect] = WebSocketDisconnect
        self._disconnect_scopes: set[Cancellable] | None = None
        self._disconnected_event: trio.Event | None = None
        # The reader's channel: both ends exist once (and only if) the reader task started.
        self._send_channel: trio.MemorySendChannel[str | bytes] | None = None
        self._receive_channel: trio.MemoryReceiveChannel[str | bytes] | None = None
        # Our clone of the server's channel, when its receive is a trio memory channel.
        self._inbox: trio.MemoryReceiveChannel[Message] | None = None
        # Messages a send() took from the inbox while looking for a disconnect.
        self._early: deque[str | bytes] | None = None
        # Where the reader runs if the connection has no nursery: the app's (session.py).
        self._helpers: Helpers | None = None
        self._reader_scope: trio.CancelScope | None = None
        self._failure: Exception | None = None  # what a reader in Helpers raised

    async def _send_message(self, message: Message) -> None:
        raise NotImplementedError  # the WebSocket's, under its send lock

    def _open_inbox(self) -> None:
        """Accepted: read the server's channel directly if we can, else start the reader."""
        server = self._server
        if server is not None:
            try:
                self._inbox = server.clone()
            except trio.ClosedResourceError:
                pass
        if self._inbox is None or self._disconnect_scopes or self._disconnected_event:
            self._start_reader()

    def _buffered(self) -> tuple[int, int]:
        """(messages held on the application side, tasks waiting to receive)."""
        buffered = len(self._early or ())
        waiting = 0
        for channel in (self._receive_channel, self._inbox):
            if channel is not None:
                stats = channel.statistics()
                buffered += stats.current_buffer_used
                waiting = stats.tasks_waiting_receive  # the reader's channel if it runs
                break
        return buffered, waiting

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
                    self._received += 1
                    data = self._data_of(message)
                    if data is None:
                        await self._abort(status.WS_1009_TOO_BIG, WebSocketMessageTooBig)
                        raise self._end()
                    return data
                if kind == "websocket.disconnect":
                    self._left(message)
                    raise self._end()
                raise _unexpected(kind)
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
            self._server_done = True
            self._disconnected(status.WS_1006_CLOSED_ABNORMAL, "")
        return self._end()

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

    def _cancel_on_disconnect(self, scope: Cancellable) -> None:
        """Have ``scope`` cancelled when the client leaves (at once if it has).

        Takes anything with a ``cancel()``: a broadcast subscription ends that way too.
        Starts the reader task, which is what notices the client leaving.
        """
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

    async def _await_close_reply(self) -> None:
        """We closed: wait for the client's answering close (bound it at the call site).

        The closing handshake completes before the connection ends (RFC 6455 7.1.1): the
        server does not drop the socket under a close frame still on its way. What the client
        sent meanwhile is dropped.
        """
        receive = self._inbox.receive if self._inbox is not None else self._receive
        while not self._gone:
            try:
                message = await receive()
            except (trio.ClosedResourceError, trio.EndOfChannel):
                return
            if message["type"] == "websocket.disconnect":
                self._left(message)

    # -- internals ---------------------------------------------------------------------------

    def _start_reader(self) -> None:
        """Start the reader task, unless it runs already or the socket is not connected."""
        # After our own close() it still has to see the client's answer.
        if self._receive_channel is not None or self._state not in _READABLE:
            return
        if self._state is WebSocketState.CLOSED and self._inbox is None:
            return  # a reader for any other receive started at accept
        nursery = self._nursery or (self._helpers.nursery if self._helpers else None)
        if nursery is None:
            raise WebSocketNotConnected("This WebSocket has no connection nursery to read in")
        self._send_channel, self._receive_channel = trio.open_memory_channel[str | bytes](
            self._max_queue
        )
        self._reader_scope = trio.CancelScope()
        nursery.start_soon(self._reader, self._send_channel, self._reader_scope)

    def _stop_reading(self) -> None:
        """The connection is over: the reader, if any, stops waiting on the server at once."""
        if self._reader_scope is not None:
            self._reader_scope.cancel()

    async def _reader(
        self, send_channel: trio.MemorySendChannel[str | bytes], scope: trio.CancelScope
    ) -> None:
        """Pull ASGI messages into the channel until the client leaves."""
        try:
            with scope:
                await self._read_into(send_channel)
        except Exception as exc:
            if self._nursery is not None:
                raise  # the connection's nursery: the session reports it and closes with 1011
            if not (isinstance(exc, WebSocketDisconnect) and self._gone):
                # In the app's Helpers nursery an error would end every helper: the session
                # reports it instead, once whoever waits on the client has been woken.
                self._failure = exc
                for waiter in self._disconnect_scopes or ():
                    waiter.cancel()
                if self._disconnected_event is not None:
                    self._disconnected_event.set()

    async def _read_into(self, send_channel: trio.MemorySendChannel[str | bytes]) -> None:
        # A handler already waiting on the inbox when this starts gets the next message first
        # (trio's channels serve receivers in order), so messages keep their order.
        receive = self._receive if self._inbox is None else self._inbox.receive
        # The reader owns the sending end and closes it however it ends, without a checkpoint
        # (``aclose`` has one): an error of ours must reach the nursery before the handler,
        # woken by the close, ends the connection and cancels us, losing the error.
        try:
            while True:
                try:
                    message = await receive()
                except (trio.ClosedResourceError, trio.EndOfChannel) as exc:
                    self._inbox_ended(exc)
                    return
                kind = message["type"]
                if kind == "websocket.receive":
                    self._received += 1
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
                    self._left(message)
                    return
                else:
                    raise _unexpected(kind)  # the session reports it and closes with 1011
        finally:
            send_channel.close()

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
                self._received += 1
                data = self._data_of(message)
                if data is None:
                    return True
                if early is None:
                    early = self._early = deque()
                early.append(data)
            elif kind == "websocket.disconnect":
                self._left(message)
                return False
            else:
                raise _unexpected(kind)
        return False  # full: the rest waits in the server's queue (backpressure)

    async def _abort(self, code: int, error: type[WebSocketDisconnect]) -> None:
        """End the connection for the peer's fault: close with ``code``; receivers get
        ``error``."""
        self._end_error = error
        if self._state is WebSocketState.CONNECTED:
            await self._send_message({"type": "websocket.close", "code": code})
        self._disconnected(code, "")

    def _left(self, message: Message) -> None:
        """The server reports the client gone (``websocket.disconnect``): it knows the
        connection is over, so nothing need be handed to it any more."""
        self._server_done = True
        self._disconnected(
            message.get("code", status.WS_1005_NO_STATUS), message.get("reason") or ""
        )

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
