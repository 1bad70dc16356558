"""Which tasks a WebSocket session starts, and where, and how it ends, in process.

The app is called directly, the way Hypercorn calls it: a websocket scope and a ``receive``
that is a trio memory channel's (or, where said, a plain coroutine function). Tasks are
counted with a trio instrument, not timed. Over real sockets: ``test_concurrency_network.py``.
"""

import logging
from typing import Any

import pytest
import trio
import trio.testing
from task_counter import TaskCounter

from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import WebSocketDisconnect
from trio_apistar.test import TestClient

Message = dict[str, Any]


class _Tasks(TaskCounter):
    """Tasks counted, and the nurseries the session's task had open while it was blocked."""

    def __init__(self) -> None:
        super().__init__()
        self.session_nurseries = -1


class _Client:
    """One WebSocket connection as the server hands it to the app."""

    def __init__(self, channel: bool = True, answers_close: bool = True) -> None:
        self.scope: Message = {"type": "websocket", "path": "/ws", "headers": []}
        self._to_app, self._inbox = trio.open_memory_channel[Message](10)
        self._to_app.send_nowait({"type": "websocket.connect"})
        self._channel = channel
        self._answers_close = answers_close
        self.closed = trio.Event()
        self.closed_at = -1.0
        self.sent: list[Message] = []
        self.accepted = trio.Event()

    async def _receive(self) -> Message:
        return await self._inbox.receive()

    async def _send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "websocket.accept":
            self.accepted.set()
        elif message["type"] == "websocket.close":
            self.closed_at = trio.current_time()
            self.closed.set()
            if self._answers_close:  # as clients do
                self.answer_close(message["code"])

    def answer_close(self, code: int) -> None:
        self._to_app.send_nowait({"type": "websocket.disconnect", "code": code})

    async def run(self, app: ASyncApp) -> None:
        receive = self._inbox.receive if self._channel else self._receive
        await app(self.scope, receive, self._send)

    def say(self, text: str) -> None:
        self._to_app.send_nowait({"type": "websocket.receive", "text": text})

    def leave(self) -> None:
        self._to_app.send_nowait({"type": "websocket.disconnect", "code": 1001})

    def send(self, message: Message) -> None:
        self._to_app.send_nowait(message)


def _watching_app(log: list[str]) -> ASyncApp:
    """An app whose handler waits for the client to leave in a ``cancel_on_disconnect()``
    block (so a reader task runs), then logs the close code."""

    async def watching(ws: WebSocket) -> None:
        await ws.connect()
        try:
            with ws.cancel_on_disconnect():
                await trio.sleep_forever()
        except WebSocketDisconnect as exc:
            log.append(f"left {exc.code}")

    return ASyncApp([Route("/ws", "GET", watching)])


async def _serve(app: ASyncApp, client: _Client, then: Any) -> _Tasks:
    """Run ``client``'s session, calling ``then()`` once it is accepted and blocked."""
    tasks = _Tasks()
    trio.lowlevel.add_instrument(tasks)
    try:
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.run, app)
                await client.accepted.wait()
                await trio.testing.wait_all_tasks_blocked()
                tasks.session_nurseries = len(tasks.spawned[0].child_nurseries)
                then()
            await trio.testing.wait_all_tasks_blocked()  # let stopped helpers unwind
    finally:
        trio.lowlevel.remove_instrument(tasks)
    return tasks


async def test_a_session_that_needs_no_helper_starts_no_task() -> None:
    async def echo(ws: WebSocket) -> None:
        await ws.connect()
        async for message in ws:
            await ws.send(message)

    app = ASyncApp([Route("/ws", "GET", echo)])
    client = _Client()

    def talk_then_leave() -> None:
        client.say("hi")
        client.leave()

    async with TestClient(app):  # the lifespan runs, as under Hypercorn
        tasks = await _serve(app, client, talk_then_leave)
    # The client left: the server said so, and is handed nothing more (not even a close).
    assert [(m["type"], m.get("text")) for m in client.sent] == [
        ("websocket.accept", None),
        ("websocket.send", "hi"),
    ]
    # The session runs in the task it was called in (here: the test's), with no nursery; the
    # one task it needs is the writer its first send started in the app's own nursery
    # (_outbound.py: a write a client blocks must never hold the session).
    assert sorted(task.name.rsplit(".", 2)[-2] for task in tasks.spawned) == ["Writer", "_Client"]
    assert tasks.session_nurseries == 0


@pytest.mark.parametrize("channel", [True, False], ids=["channel", "callable"])
@pytest.mark.parametrize("lifespan", [True, False], ids=["lifespan", "no-lifespan"])
async def test_a_reader_starts_for_cancel_on_disconnect_and_ends_with_the_session(
    lifespan: bool, channel: bool
) -> None:
    log: list[str] = []
    app = _watching_app(log)
    client = _Client(channel)
    if lifespan:
        async with TestClient(app):
            tasks = await _serve(app, client, client.leave)
    else:
        tasks = await _serve(app, client, client.leave)
    assert log == ["left 1001"]
    readers = [task for task in tasks.spawned if "_reader" in task.name]
    assert len(readers) == 1
    assert readers[0] in tasks.exited
    # The reader's host: the app's Helpers nursery, or one of the session's own if no lifespan
    # runs or the server's receive is no channel (a reader then runs from accept on).
    assert tasks.session_nurseries == (0 if lifespan and channel else 1)
    assert set(tasks.exited) >= {t for t in tasks.spawned if "_Client.run" not in t.name}


async def test_a_failing_reader_in_the_app_nursery_is_the_connections_error_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    app = _watching_app(log)
    async with TestClient(app):
        broken = _Client()
        with caplog.at_level(logging.ERROR, logger="trio_apistar"):
            # A server breaking ASGI: a second connect makes the reader (in Helpers) raise.
            await _serve(app, broken, lambda: broken.send({"type": "websocket.connect"}))
        assert log == ["left 1005"]  # woken as if the client had left
        assert broken.sent[-1] == {"type": "websocket.close", "code": 1011, "reason": ""}
        [record] = [r for r in caplog.records if r.exc_info]
        assert "'websocket.connect'" in str(record.exc_info[1])  # type: ignore[index]
        # The app's Helpers nursery survived: the next connection gets a reader that works.
        second = _Client()
        await _serve(app, second, second.leave)
    assert log == ["left 1005", "left 1001"]
    # It left: no close frame is owed, and none is written (only handed to the server from a
    # cancelled scope, so that Hypercorn marks the socket closed without writing).
    assert [m["type"] for m in second.sent if m["type"] != "websocket.close"] == [
        "websocket.accept"
    ]


async def _greet(ws: WebSocket) -> None:
    await ws.connect()
    await ws.send("hi")  # and returns: the session closes the socket (1000)


async def test_a_session_that_closed_ends_once_the_client_answers() -> None:
    app = ASyncApp([Route("/ws", "GET", _greet)])
    client = _Client(answers_close=False)
    returned = trio.Event()

    async def run() -> None:
        await client.run(app)
        returned.set()

    with trio.fail_after(5):
        async with TestClient(app), trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await client.closed.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert not returned.is_set()  # the closing handshake is not complete yet
            client.answer_close(1000)
            await returned.wait()
    assert client.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


async def test_a_client_that_never_answers_the_close_is_let_go_after_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = ASyncApp([Route("/ws", "GET", _greet)])
    client = _Client(answers_close=False)
    with trio.fail_after(5):
        async with TestClient(app):
            await client.run(app)
            returned_at = trio.current_time()
    assert client.sent[-1]["type"] == "websocket.close"
    assert returned_at - client.closed_at == pytest.approx(1.0)


async def test_a_send_crossing_the_server_shutting_the_socket_is_a_disconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hypercorn shuts the socket down as the client's close arrives, outside the lock its sends
    take: a send of ours at that moment finds the socket busy. The client is leaving."""
    seen: list[int] = []

    async def talk(ws: WebSocket) -> None:
        await ws.connect()
        try:
            await ws.send("hi")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    app = ASyncApp([Route("/ws", "GET", talk)])
    client = _Client()

    async def busy_send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise trio.BusyResourceError("another task is currently sending data on this stream")
        await client._send(message)

    with trio.fail_after(5), caplog.at_level(logging.INFO, logger="trio_apistar"):
        async with TestClient(app):
            await app(client.scope, client._inbox.receive, busy_send)
    # The send was queued to the socket's writer (_outbound.py) and returned; the writer met
    # the busy socket, which means the client is leaving: no error, no data, nothing logged.
    assert seen == []
    assert [m["type"] for m in client.sent if m["type"] != "websocket.close"] == [
        "websocket.accept"
    ]
    assert not caplog.records
