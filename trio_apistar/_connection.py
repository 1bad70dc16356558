"""How an accepted WebSocket's messages leave, and how the connection ends.

``Connection`` is the middle layer of the public ``WebSocket`` (``websocket.py``): below it,
``Inbound`` (``_inbound.py``) takes what the server delivers; here, what goes out:

* ``_send_message`` is the one way to the server's ``send``. Before accept (and without a
  lifespan) it sends from the calling task, under a FIFO lock; once accepted it hands the
  message to the socket's ``Writer`` (``_outbound.py``), a task of the app's, so that no task
  of the session ever waits on a write the client blocks;
* ``_going_away`` closes on the server's initiative (shutdown, idle timeout) within a bound,
  and ``_give_up`` stops writing to a client that does not drain (the send timeout);
* ``_seal`` and ``_release`` are the session's very last steps: the server has had a close
  (handed from a cancelled scope if the client cannot take one, so that the server closes
  without writing), and whatever it queued for us is taken, so that its own last message finds
  room.
"""

import contextlib

import trio

from ._inbound import Inbound
from ._outbound import Abandoned, Writer
from ._states import WebSocketState, status
from ._types import Message, Receive, Send
from .exceptions import WebSocketDisconnect

__all__ = ["Connection"]

#: Sends in a row (without a blocking receive) after which a send yields to the scheduler.
_YIELD_EVERY = 16

_CONNECTING = WebSocketState.CONNECTING


class Connection(Inbound):
    """The sending side of one WebSocket connection, and its end (see the module docs)."""

    __slots__ = (
        "_close_handed",
        "_outbound",
        "_send",
        "_send_waiters",
        "_sending",
        "_writer",
    )

    def __init__(
        self,
        receive: Receive,
        send: Send,
        nursery: trio.Nursery | None,
        max_queue: int,
        max_message_size: int,
    ) -> None:
        super().__init__(receive, nursery, max_queue, max_message_size)
        self._send = send
        self._sending = False
        self._send_waiters: trio.lowlevel.ParkingLot | None = None
        # Where the writer task runs once accepted (the app's, set by the session); without
        # one, messages go to the server from the sending task itself.
        self._outbound: trio.Nursery | None = None
        self._writer: Writer | None = None
        self._close_handed = False  # a websocket.close went to the server's send inline

    async def _going_away(
        self, code: int = status.WS_1001_LEAVING, reason: str = "", bound: float = 1.0
    ) -> None:
        """Close now with ``code`` (server shutdown, idle timeout) and treat it like the client
        leaving. A client that does not take the close frame within ``bound`` seconds is given
        up on (the session can end; the server closes the socket)."""
        if self._state is WebSocketState.CONNECTED:
            with trio.move_on_after(bound), contextlib.suppress(WebSocketDisconnect):
                message: Message = {"type": "websocket.close", "code": code, "reason": reason}
                await self._send_message(message)
            # Before the client's answer can arrive: the handler sees our code, not its.
            self._disconnected(code, reason)
            if self._writer is not None:
                await self._writer.flush(bound)

    def _give_up(self, code: int, reason: str) -> None:
        """The client does not take what we send (the send timeout): stop writing to it, and
        wake everyone who waits on it with ``WebSocketDisconnect(code, reason)``."""
        if self._writer is not None:
            self._writer.abandon()
        self._disconnected(code, reason)

    def _owes_server(self) -> bool:
        """Whether the end of the session still owes the server something: a writer to flush
        and finish, or a close it has not had (nothing, before accept or after a refusal)."""
        if self._state is WebSocketState.CONNECTING or self._state is WebSocketState.REFUSED:
            return False
        return self._writer is not None or not (self._close_handed or self._server_done)

    async def _seal(self, bound: float) -> None:
        """The session ends: make sure the server has had a ``websocket.close`` without ever
        waiting on a write the client blocks.

        What the writer still holds gets ``bound`` seconds to go out; past that the client is
        given up on. If no close reached the server (the client left, or was given up on), one
        is handed to it from a cancelled scope: Hypercorn then marks the socket closed without
        writing, so that once we return it closes the connection instead of writing a 1011
        behind the stuck write.
        """
        if not self._owes_server():
            return
        writer = self._writer
        if writer is not None:
            if not writer.flushed:
                await writer.flush(bound)
            writer.finish()
            if writer.close_handed:
                return
        if self._close_handed or self._server_done:
            return  # the server had its close, or told us the connection is over
        with trio.CancelScope() as handed:
            handed.cancel()
            code = self._close_code or status.WS_1011_INTERNAL_ERROR
            await self._send({"type": "websocket.close", "code": code})

    def _release(self) -> None:
        """Take whatever the server queued for us, without blocking: the very last step of a
        session, so that the server's own last message (its disconnect) finds room."""
        server = self._server
        if server is None:
            return
        while True:
            try:
                server.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return

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
        writer = self._writer
        if writer is None and self._outbound is not None and self._state is not _CONNECTING:
            writer = self._start_writer()
        if writer is not None:
            try:
                await writer.put(message)
            except Abandoned:
                if self._state is WebSocketState.CONNECTED:
                    self._disconnected(status.WS_1006_CLOSED_ABNORMAL, "")
                raise self._end() from None
            return
        # A FIFO lock around the server's send, with its parking lot made on first contention
        # (most sockets never have two senders, and idle sockets should cost little).
        if self._sending:
            if self._send_waiters is None:
                self._send_waiters = trio.lowlevel.ParkingLot()
            await self._send_waiters.park()  # the sender before us hands the lock over
        else:
            self._sending = True
        try:
            if message["type"] == "websocket.close":
                self._close_handed = True
            await self._send(message)
        except (OSError, trio.BusyResourceError) as exc:
            # BusyResourceError: our sends take turns (above), so another task of the server's
            # holds the socket: Hypercorn shutting it down as the client's close arrives.
            self._disconnected(status.WS_1006_CLOSED_ABNORMAL, "")
            raise WebSocketDisconnect(status.WS_1006_CLOSED_ABNORMAL) from exc
        finally:
            if self._send_waiters:
                self._send_waiters.unpark()
            else:
                self._sending = False

    def _start_writer(self) -> Writer | None:
        """The first send after accept: start the writer task (see ``_outbound.py``)."""
        assert self._outbound is not None
        writer = Writer(self._send, self._max_queue)
        try:
            writer.start(self._outbound)
        except RuntimeError:  # the app is shutting down: its nursery takes no new tasks
            self._outbound = None
            return None
        self._writer = writer
        return writer
