"""An in-memory model of one WebSocket connection as Hypercorn 0.18's trio worker runs it, for
property-based tests that need thousands of connections per second and misbehaving clients.

It keeps what makes a non-reading client dangerous (docs/deployment.md, "Limits and timeouts"):

* the app's inbound queue is a trio memory channel of 10, ``receive`` is its ``receive``, and
  the server's reader blocks on it when full (``ws_stream.py`` ``app_put``);
* every write holds one lock and is shielded: to a client that stopped reading it blocks until
  the client reads again, resets, or the socket is closed (``tcp_server.py`` ``protocol_send``);
* a write that fails (reset) puts ``websocket.disconnect`` into the app's queue from the writing
  task, blocking if the queue is full;
* ``websocket.close`` marks the stream closed before the write; a second close writes nothing;
  ``websocket.send`` after a close is an error (``UnexpectedMessageError``);
* the socket is closed only once the ASGI callable has returned (``send(None)``, then
  ``StreamClosed``: a ``websocket.disconnect`` put, then the close that ends blocked writes), or
  once the app returned and the reader ended (the connection's task group exits).

A connection that deadlocks never finishes: tests run under a ``fail_after`` in virtual time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio

Message = dict[str, Any]

#: Hypercorn's ``max_app_queue_size``.
APP_QUEUE = 10


class UnexpectedMessage(Exception):
    """The app sent a message the connection's state does not allow (a bug of the app)."""


@dataclass
class Wire:
    """What crossed the (fake) network, for the invariants."""

    #: Messages the app's writes delivered to the client, in order.
    delivered: list[Message] = field(default_factory=list)
    #: ``websocket.close`` messages the app sent while the stream was open.
    app_closes: int = 0
    #: The stream ended because the client left (close frame, FIN or reset) before the app
    #: closed it.
    client_left: bool = False
    #: Most messages ever waiting in the app's inbound queue.
    max_queued: int = 0


class FakeConnection:
    """One WebSocket connection served to ``app`` (see the module docs); ``run()`` it."""

    def __init__(self, app: Any, path: str = "/", subprotocols: list[str] | None = None) -> None:
        self.app = app
        self.scope: Message = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
            "subprotocols": subprotocols or [],
            "extensions": {"websocket.http.response": {}},
            "state": {},
        }
        self._put, self._get = trio.open_memory_channel[Message](APP_QUEUE)
        self.wire = Wire()
        self.state = "HANDSHAKE"
        self.closed = False  # the stream (Hypercorn's WSStream.closed)
        self.socket_closed = False
        self.reset = False
        self.reading = True
        self.window = 0  # writes a non-reading client still absorbs (its buffers)
        self._changed = trio.Event()  # reading resumed, reset, or socket closed
        self._lock = trio.Lock()
        self._inbound: deque[Message | None] = deque()  # client -> reader (None: FIN)
        self._inbound_ready = trio.Event()
        #: Set once the app accepted: a client sends frames only after the 101.
        self.accepted = trio.Event()
        #: Set once the connection is over (the app returned, the socket is closed).
        self.ended = trio.Event()
        self.app_error: BaseException | None = None
        self.app_returned = False
        self.state_at_return = ""

    # -- the client's side -------------------------------------------------------------------

    def client_send(self, message: Message) -> None:
        """The client sends a frame (it reaches the app through the reader and the queue)."""
        self._inbound.append(message)
        self._inbound_ready.set()

    def client_close(self, code: int = 1000) -> None:
        """The client sends a close frame."""
        self.client_send({"type": "close", "code": code})

    def client_fin(self) -> None:
        """The client closes its side of the TCP connection without a close frame."""
        self._inbound.append(None)
        self._inbound_ready.set()

    def client_reset(self) -> None:
        """The client aborts the connection (RST): pending and later writes fail."""
        self.reset = True
        self._inbound_ready.set()
        self._wake()

    def client_stops_reading(self, window: int = 0) -> None:
        """The client stops reading; its buffers still take ``window`` more writes."""
        self.reading = False
        self.window = window

    def client_reads(self) -> None:
        """The client reads again: blocked writes complete."""
        self.reading = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- the server's side -------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the app has returned and the socket is closed."""
        async with trio.open_nursery() as connection:
            connection.start_soon(self._reader)
            await self._app_put({"type": "websocket.connect"})
            await self._run_app()
        # The connection's tasks are done (TCPServer.run's task group): its `finally` closes
        # the socket, which ends any write still blocked on it.
        self.socket_closed = True
        self._wake()
        self.ended.set()

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self._get.receive, self._app_send)
        except trio.Cancelled:
            raise
        except BaseException as exc:
            self.app_error = exc
        finally:
            self.app_returned = True
            # What send(None) will find: an open stream still CONNECTED gets Hypercorn's own
            # 1011 written through the lock (which a stuck write holds for ever).
            self.state_at_return = "ended" if self.closed else self.state
            await self._app_send(None)

    async def _app_put(self, message: Message) -> None:
        await self._put.send(message)
        used = self._get.statistics().current_buffer_used
        self.wire.max_queued = max(self.wire.max_queued, used)

    async def _reader(self) -> None:
        while not self.socket_closed:
            if not self._inbound:
                if self.reset or self.closed:
                    break
                self._inbound_ready = trio.Event()
                with trio.move_on_after(1):  # and look at reset/closed again
                    await self._inbound_ready.wait()
                continue
            frame = self._inbound.popleft()
            if self.closed:
                continue
            if frame is None:  # FIN
                await self._stream_closed(client_left=True)
                break
            if frame["type"] == "close":
                if self.state == "CONNECTED":
                    await self._write({"type": "websocket.close", "code": frame["code"]})
                await self._stream_closed(client_left=True, code=frame["code"])
                break
            if self.state == "CONNECTED":
                await self._app_put(frame)
        if self.reset and not self.closed:
            await self._stream_closed(client_left=True)

    async def _stream_closed(self, *, client_left: bool = False, code: int | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if client_left and self.state == "CONNECTED":
            self.wire.client_left = True
        if code is None:
            code = 1000 if self.state in ("CLOSED", "HTTPCLOSED") else 1006
        await self._app_put({"type": "websocket.disconnect", "code": code})

    async def _write(self, message: Message) -> None:
        async with self._lock:
            with trio.CancelScope(shield=True):  # Hypercorn shields its socket writes
                while True:
                    if self.socket_closed:
                        return  # ClosedResourceError, swallowed
                    if self.reset:
                        await self._stream_closed(client_left=True)  # the failed write's news
                        return
                    if self.reading or self.window > 0:
                        self.window -= not self.reading
                        self.wire.delivered.append(message)
                        await trio.lowlevel.cancel_shielded_checkpoint()
                        return
                    await self._changed.wait()

    async def _app_send(self, message: Message | None) -> None:
        if self.closed:
            return
        if message is None:
            if self.state == "HANDSHAKE":
                await self._write({"type": "http", "status": 500})
            elif self.state == "CONNECTED":
                await self._write({"type": "websocket.close", "code": 1011})
            await self._stream_closed()
            self.socket_closed = True
            self._wake()
            return
        kind = message["type"]
        if kind == "websocket.accept" and self.state == "HANDSHAKE":
            self.state = "CONNECTED"
            await self._write(message)
            self.accepted.set()
        elif kind == "websocket.http.response.start" and self.state == "HANDSHAKE":
            self.state = "RESPONSE"
        elif kind == "websocket.http.response.body" and self.state in ("HANDSHAKE", "RESPONSE"):
            self.state = "HTTPCLOSED"
            await self._write(message)
        elif kind == "websocket.send" and self.state == "CONNECTED":
            await self._write(message)
        elif kind == "websocket.close" and self.state == "HANDSHAKE":
            self.state = "HTTPCLOSED"
            await self._write({"type": "http", "status": 403})
        elif kind == "websocket.close":
            first = self.state == "CONNECTED"
            self.state = "CLOSED"  # before the write, as Hypercorn does
            if first:
                self.wire.app_closes += 1
                await self._write(message)
        else:
            raise UnexpectedMessage(f"{kind} in state {self.state}")


async def run_lifespan(app: Any, nursery: trio.Nursery) -> trio.MemorySendChannel[Message]:
    """Start ``app``'s lifespan in ``nursery``; return the channel to send its shutdown on."""
    to_app, app_inbox = trio.open_memory_channel[Message](math.inf)
    started = trio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    nursery.start_soon(
        app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, app_inbox.receive, send
    )
    await to_app.send({"type": "lifespan.startup"})
    await started.wait()
    return to_app
