"""How an accepted WebSocket's messages reach the server: from a task its session can leave.

Hypercorn's trio worker writes to the socket in a shielded cancel scope, under a lock, and
closes a connection only once the ASGI callable has returned. A task blocked in that write (the
client stopped reading) can therefore not be cancelled, and if it were the session's own task
the session could never end, the socket never close, and the write never finish: the
connection would be held until the process dies, and shutdown with it.

So, once accepted, a WebSocket hands its messages to a ``Writer``: one task per socket, started
at the first send in a nursery the app's lifespan owns (never the session's), fed through a
bounded channel. The session can then always end: a writer that makes no progress for the send
timeout is *abandoned* (``abandon()``: queued and future puts fail, waiters wake), the session
returns, the server closes the socket under the stuck write, and the writer task ends.

Costs: an idle socket that was never sent to has no writer; a socket that was has one parked
task. Messages keep their order; ``put`` returns once the message is queued (the channel bounds
how far a sender may run ahead of the network).
"""

import logging

import trio

from ._types import Message, Send

__all__ = ["Abandoned", "Writer"]

logger = logging.getLogger("trio_apistar")


class Abandoned(Exception):
    """The writer was abandoned: nothing more reaches this client."""


class Writer:
    """Writes one WebSocket's messages to the server's ``send``, in order, from its own task.

    ``busy`` is true while a message is with the server; ``queued`` counts the messages put,
    ``written`` those the server took. ``close_handed`` is true once a ``websocket.close`` was
    given to the server's ``send`` (whose state changes then, even if the bytes never go out).
    """

    __slots__ = (
        "_flushed",
        "_from_session",
        "_scope",
        "_send",
        "_size",
        "_to_writer",
        "abandoned",
        "busy",
        "close_handed",
        "failed",
        "queued",
        "written",
    )

    def __init__(self, send: Send, size: int) -> None:
        self._send = send
        self._size = size
        self._to_writer, self._from_session = trio.open_memory_channel[Message](size)
        self._scope = trio.CancelScope()
        self._flushed: trio.Event | None = None
        self.abandoned = False
        self.busy = False
        self.close_handed = False
        #: The server's send raised (``OSError``, or a bug of ours or the server's): the
        #: writer stopped, as if abandoned.
        self.failed = False
        self.queued = 0
        self.written = 0

    def start(self, nursery: trio.Nursery) -> None:
        """Start the writer's task in ``nursery`` (raises ``RuntimeError`` if it is closed)."""
        nursery.start_soon(self._run)

    async def put(self, message: Message) -> None:
        """Queue ``message``; wait while the queue is full. Raises ``Abandoned`` if the writer
        was abandoned or stopped. Not a checkpoint when there is room (the caller makes one)."""
        try:
            self._to_writer.send_nowait(message)
        except trio.WouldBlock:
            try:
                await self._to_writer.send(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise Abandoned() from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise Abandoned() from None
        self.queued += 1

    @property
    def flushed(self) -> bool:
        """Everything queued went to the server (or nothing more ever will)."""
        return self.written == self.queued or self.abandoned or self.failed

    async def wait_flushed(self) -> None:
        """Wait until everything queued so far went to the server, or the writer was abandoned
        or stopped."""
        if self.flushed:
            await trio.lowlevel.checkpoint()
            return
        if self._flushed is None:
            self._flushed = trio.Event()
        await self._flushed.wait()

    async def flush(self, bound: float) -> None:
        """Wait up to ``bound`` seconds for everything queued to go to the server; past that,
        abandon the writer if it is stuck in a write.

        A writer that was merely not scheduled yet (a process too busy to run it within the
        bound) gets its turns first: a client is given up on for not reading, never for our
        slowness. Not cancellable past the bound.
        """
        with trio.move_on_after(bound):
            await self.wait_flushed()
        # One turn per queued message (each write yields once), while each turn writes one.
        for _ in range(self._size + 2):
            if self.flushed:
                return
            written = self.written
            await trio.lowlevel.cancel_shielded_checkpoint()
            if self.written == written and self.busy:
                break  # in a write that the client does not take
        if not self.flushed:
            self.abandon()

    def finish(self) -> None:
        """No more messages: the task ends once it has written what is queued."""
        self._to_writer.close()

    def abandon(self) -> None:
        """Give up on this client: fail queued and future puts, wake flush waiters, and stop the
        task as soon as it is out of the server's (uncancellable) write."""
        self.abandoned = True
        self._from_session.close()
        self._scope.cancel()
        self._wake_flushed()

    def _wake_flushed(self) -> None:
        flushed, self._flushed = self._flushed, None
        if flushed is not None:
            flushed.set()

    async def _run(self) -> None:
        receive = self._from_session
        send = self._send
        with self._scope:
            try:
                while True:
                    if self.queued - self.written > 0:  # (no exception when it is empty)
                        try:
                            message = receive.receive_nowait()
                        except trio.WouldBlock:
                            message = await receive.receive()  # queued by a blocked sender
                    else:
                        self._wake_flushed()
                        message = await receive.receive()
                    if self.close_handed:
                        # Queued by another task while the close was on its way (a connection
                        # task's send racing a shutdown or a 1009): after a close the server
                        # takes nothing more, so it goes no further, like sends to a client
                        # that left.
                        self.written += 1
                        continue
                    self.busy = True
                    if message["type"] == "websocket.close":
                        self.close_handed = True
                    await send(message)
                    self.busy = False
                    self.written += 1
            except (trio.EndOfChannel, trio.ClosedResourceError):
                pass
            except Exception as exc:
                # OSError: the client is gone (the session learns it from the server).
                # BusyResourceError: Hypercorn is shutting the socket (its send_eof holds the
                # stream while the client's close is answered), so the connection is ending.
                # Anything else is a bug (ours or the server's): logged, and this client is
                # given up.
                if not isinstance(exc, OSError | trio.BusyResourceError):
                    logger.error("Error writing to a WebSocket", exc_info=exc)
                self.failed = True
                self._from_session.close()
        self.busy = False
        self._wake_flushed()
