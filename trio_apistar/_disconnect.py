"""How an HTTP exchange notices its client leaving before the response is complete.

Once the body is read, the only message an HTTP request's ASGI ``receive`` still delivers is
``http.disconnect``. Noticing it while the handler works takes a task blocked in that
``receive``, the *watcher*: it cancels the handler's scope (and the connection's tasks) if the
client leaves before the response is complete.

A task is dear next to a small handler (a nursery, a task started and cancelled: ten times a
whole raw ASGI request), and Trio only ever cancels a task where it yields to the scheduler.
So the watcher starts when the handler first yields, not before: :func:`watched` runs the
handler's coroutine step by step in the caller's own task, hands each yield to Trio and each
resumption back unchanged (what ``await`` does), and starts the watcher at the first yield.
A watcher started up front could not have run before that yield either (it would only have
been scheduled), so a client leaving is noticed exactly as soon as before. A handler that
finishes without yielding costs no task at all.

Watchers run in the app's ``Helpers`` nursery (``nurseries.py``), open while the lifespan
runs: the handler's task cannot open one of its own in the middle of the handler (its cancel
scopes must nest). Each watcher ends with its exchange, and stops waiting on the server's
channel at that very moment: under a server whose ``receive`` is a trio memory channel's
(Hypercorn's trio worker) the watcher reads a clone of that channel and the exchange closes
the clone; under any other the watcher is cancelled (Trio takes a cancelled task off what it
waits on at once). Without a lifespan, an exchange opens a nursery of its own to host its
watcher (``exchange.py``).
"""

import logging
import types
from collections.abc import Coroutine, Generator, Iterable
from typing import Any, TypeVar

import trio

from ._inbound import channel_of
from ._types import Message, Receive, Send
from .nurseries import Helpers

__all__ = ["Exchange", "Watch", "watch_disconnect", "watched"]

logger = logging.getLogger("trio_apistar")

T = TypeVar("T")


class Exchange:
    """How far an HTTP response has gone, for the watcher; ``send`` is the server's, tracked."""

    __slots__ = ("_send", "complete", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False

    async def send(self, message: Message) -> None:
        """Send ``message`` with the server's send, noting how far the response has gone."""
        self.started = True
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            # From here on the server may report the end of the exchange as a disconnect.
            self.complete = True
        await self._send(message)


async def watch_disconnect(
    receive: Receive,
    exchange: Exchange,
    to_cancel: Iterable[trio.CancelScope],
    watcher: trio.CancelScope,
) -> None:
    """Cancel ``to_cancel`` if the client leaves before the response is complete.

    ``watcher`` is this task's own scope: cancelling it ends the watch.
    """
    with watcher:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                if not exchange.complete:
                    for scope in to_cancel:
                        scope.cancel()
                return


class Watch:
    """Watching one exchange: ``scope`` is the handler's, cancelled if the client leaves.

    The watcher task starts at :meth:`start` (by :func:`watched` at the first yield of the
    work it runs), in ``nursery`` if given, else in the app's ``helpers``; it ends at
    :meth:`stop`. ``also`` are scopes cancelled with the handler's (the connection's tasks).
    """

    __slots__ = (
        "_also",
        "_exchange",
        "_helpers",
        "_inbox",
        "_nursery",
        "_receive",
        "_watcher",
        "scope",
    )

    def __init__(
        self,
        receive: Receive,
        exchange: Exchange,
        helpers: Helpers,
        nursery: trio.Nursery | None = None,
        also: tuple[trio.CancelScope, ...] = (),
    ) -> None:
        self.scope = trio.CancelScope()
        self._receive = receive
        self._exchange = exchange
        self._helpers = helpers
        self._nursery = nursery
        self._also = also
        self._watcher: trio.CancelScope | None = None
        self._inbox: trio.MemoryReceiveChannel[Message] | None = None

    def start(self) -> None:
        """Start the watcher task, unless it runs already or the app's lifespan has ended."""
        nursery = self._nursery or self._helpers.nursery
        if self._watcher is not None or self._inbox is not None or nursery is None:
            return
        server = channel_of(self._receive)
        if server is not None:
            # The server's own channel (Hypercorn's): a clone of it is read, and closing the
            # clone ends the wait at once, with no cancel scope to enter, cancel and unwind.
            self._inbox = server.clone()
            nursery.start_soon(self._watch_inbox, self._inbox)
        else:
            self._watcher = trio.CancelScope()
            nursery.start_soon(self._watch, self._watcher)

    def stop(self) -> None:
        """The exchange is over: end the watcher, if it started."""
        if self._inbox is not None:
            self._inbox.close()
        elif self._watcher is not None:
            self._watcher.cancel()

    async def _watch_inbox(self, inbox: trio.MemoryReceiveChannel[Message]) -> None:
        try:
            while True:
                message = await inbox.receive()
                if message["type"] == "http.disconnect":
                    if not self._exchange.complete:
                        self.scope.cancel()
                        for scope in self._also:
                            scope.cancel()
                    return
        except (trio.ClosedResourceError, trio.EndOfChannel):
            pass  # closed by stop(), or the server dropped the exchange

    async def _watch(self, watcher: trio.CancelScope) -> None:
        try:
            await watch_disconnect(
                self._receive, self._exchange, (self.scope, *self._also), watcher
            )
        except Exception:
            # The server's receive failed. In the app's nursery an error would end every
            # watcher and the lifespan with them: the handler just goes unwatched.
            logger.exception("Watching an HTTP client for a disconnect failed")


@types.coroutine
def watched(coro: Coroutine[Any, Any, T], watch: Watch) -> Generator[Any, Any, T]:
    """Await ``coro`` in the caller's task, starting ``watch``'s watcher at its first yield.

    Exactly ``await coro`` otherwise: what the coroutine yields goes to Trio unchanged, and
    what Trio sends or throws back goes to the coroutine unchanged.
    """
    try:
        message = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    watch.start()
    while True:
        try:
            value = yield message
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            # Not swallowed: handed on to the coroutine, which raises it again or handles it
            # (what ``await`` does with an exception thrown into the awaiting coroutine).
            try:
                message = coro.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                message = coro.send(value)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
