"""HTTP handlers and the client leaving, in process: what is watched, when, and at what cost.

The app is called directly, the way Hypercorn calls it: a fresh scope per request and a
``receive`` that is a trio memory channel's, holding the request and, once the client
leaves, ``http.disconnect``. Tasks are counted with a trio instrument, not timed. The same
promises over a real socket: ``tests/test_concurrency_network.py``.
"""

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from scopes import http_scope
from task_counter import TaskCounter

from trio_apistar import ASyncApp, Route
from trio_apistar.http import StreamingResponse
from trio_apistar.test import TestClient

Message = dict[str, Any]


class _Request:
    """One ``GET`` as the server hands it to the app; :meth:`leave` is the client going.

    ``receive`` is a trio memory channel's, as Hypercorn's is, unless ``channel`` is false:
    then it is a plain coroutine function, as other servers' are.
    """

    def __init__(self, path: str, channel: bool = True) -> None:
        self._channel = channel
        self.scope: Message = http_scope(path)
        self._to_app, self._inbox = trio.open_memory_channel[Message](10)
        self._to_app.send_nowait({"type": "http.request", "body": b"", "more_body": False})
        self.sent: list[Message] = []
        self.first_send = trio.Event()

    async def _send(self, message: Message) -> None:
        self.sent.append(message)
        self.first_send.set()

    async def _receive(self) -> Message:
        return await self._inbox.receive()

    async def run(self, app: ASyncApp) -> None:
        """Call ``app`` with this request until it returns."""
        receive = self._inbox.receive if self._channel else self._receive
        await app(self.scope, receive, self._send)

    def leave(self) -> None:
        self._to_app.send_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None


async def _nothing() -> dict[str, str]:
    return {"hello": "world"}


def plain() -> dict[str, str]:
    return {"hello": "world"}


async def awaits_nothing() -> dict[str, str]:
    return {"hello": "world"}


async def awaits_without_yielding() -> dict[str, str]:
    return await _nothing()  # a coroutine that finishes at once: no yield to trio


async def yields_once() -> dict[str, str]:
    await trio.lowlevel.checkpoint()
    return {"hello": "world"}


@pytest.mark.parametrize("handler", [plain, awaits_nothing, awaits_without_yielding])
async def test_a_handler_that_never_yields_starts_no_task(handler: Any) -> None:
    app = ASyncApp([Route("/", "GET", handler)])
    async with TestClient(app):  # the lifespan runs, as under Hypercorn
        request = _Request("/")
        instrument = TaskCounter()
        trio.lowlevel.add_instrument(instrument)
        try:
            with trio.fail_after(5):
                await request.run(app)
        finally:
            trio.lowlevel.remove_instrument(instrument)
    assert request.status == 200
    assert instrument.spawned == []


@pytest.mark.parametrize("channel", [True, False], ids=["channel", "callable"])
@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
async def test_a_handler_that_yields_gets_one_watcher_that_ends_with_the_request(
    with_lifespan: bool, channel: bool
) -> None:
    app = ASyncApp([Route("/", "GET", yields_once)])
    request = _Request("/", channel)
    instrument = TaskCounter()

    async def serve_one() -> None:
        trio.lowlevel.add_instrument(instrument)
        try:
            with trio.fail_after(5):
                await request.run(app)
                await trio.testing.wait_all_tasks_blocked()
        finally:
            trio.lowlevel.remove_instrument(instrument)

    if with_lifespan:
        async with TestClient(app):
            await serve_one()
    else:
        await serve_one()
    assert request.status == 200
    assert len(instrument.spawned) == 1  # the watcher, and nothing else
    assert instrument.exited == instrument.spawned  # gone once the request is over


async def long_poll_app(log: list[str]) -> ASyncApp:
    async def long_poll() -> dict[str, str]:
        try:
            await trio.sleep_forever()
        finally:
            log.append("long-poll finally")
        return {}  # pragma: no cover

    async def chunks(event: str) -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await trio.sleep_forever()
        finally:
            log.append(event)

    async def stream() -> StreamingResponse:
        return StreamingResponse(chunks("stream finally"))

    def streams_at_once() -> StreamingResponse:  # an inline route whose body blocks
        return StreamingResponse(chunks("inline stream finally"))

    return ASyncApp(
        [
            Route("/long-poll", "GET", long_poll),
            Route("/stream", "GET", stream),
            Route("/streams-at-once", "GET", streams_at_once),
        ]
    )


@pytest.mark.parametrize("channel", [True, False], ids=["channel", "callable"])
@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
@pytest.mark.parametrize(
    ("path", "event", "answered"),
    [
        ("/long-poll", "long-poll finally", False),
        ("/stream", "stream finally", True),
        ("/streams-at-once", "inline stream finally", True),
    ],
)
async def test_the_client_leaving_cancels_a_handler_blocked_before_the_response_is_complete(
    with_lifespan: bool, channel: bool, path: str, event: str, answered: bool
) -> None:
    log: list[str] = []
    app = await long_poll_app(log)
    request = _Request(path, channel)

    async def leave_when_blocked() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(request.run, app)
            if answered:
                await request.first_send.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert log == []  # blocked, not finished
            request.leave()
        # The nursery exits only once the app returned: the handler was cancelled.

    with trio.fail_after(5):
        if with_lifespan:
            async with TestClient(app):
                await leave_when_blocked()
        else:
            await leave_when_blocked()
    assert log == [event]
    if answered:
        assert [m.get("body") for m in request.sent[1:]] == [b"first"]  # nothing after it
    else:
        assert request.sent == []  # nobody left to answer


async def test_a_disconnect_after_the_response_cancels_nothing() -> None:
    log: list[str] = []

    async def slow() -> dict[str, str]:
        await trio.sleep(0.01)
        log.append("answered")
        return {"hello": "world"}

    app = ASyncApp([Route("/", "GET", slow)])
    request = _Request("/")
    with trio.fail_after(5):
        async with TestClient(app):
            await request.run(app)
            request.leave()  # the server reports the end of the exchange this way too
    assert request.status == 200
    assert log == ["answered"]


async def test_helpers_end_with_the_lifespan_and_later_requests_watch_on_their_own() -> None:
    log: list[str] = []
    app = await long_poll_app(log)
    async with TestClient(app):
        pass
    request = _Request("/long-poll")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(request.run, app)
            await trio.testing.wait_all_tasks_blocked()
            request.leave()
    assert log == ["long-poll finally"]
    assert math.isfinite(trio.current_time())  # the run itself is unharmed
