"""Property-based tests: random client behaviours against the app, over an in-memory model of
Hypercorn's trio worker (tests/fake_hypercorn.py) in virtual time.

Whatever the client does (sends valid or invalid JSON, oversized messages, floods, stops reading,
reads again, closes, half-closes, resets), with any handler:

* no exception escapes the app to the server, and nothing is logged as an error;
* the connection always ends, within the timeouts (a deadlock would hang: ``fail_after``);
* every accepted socket ends with exactly one close: the app's (handed to the server before it
  returns, never a second one, never a message after it) or the client's;
* no task outlives its connection (the app's writer tasks are gone once it ended), and nothing
  keeps its ``WebSocket`` alive;
* memory stays bounded: the server's queue never holds more than its 10 messages, and the app
  holds at most ``websocket_queue_size`` (+1 in hand) messages for a client.
"""

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio
import trio.lowlevel
import trio.testing
from fake_hypercorn import APP_QUEUE, FakeConnection, run_lifespan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import WebSocketDisconnect

MAX_MESSAGE = 1024


async def echo(ws: WebSocket) -> None:
    await ws.connect()
    async for message in ws:
        await ws.send(message)


async def json_echo(ws: WebSocket) -> None:
    await ws.connect()
    while True:
        await ws.send_json(await ws.receive_json())


async def ticker(ws: WebSocket) -> None:
    await ws.connect()
    try:
        with ws.cancel_on_disconnect():
            while True:
                await ws.send("tick")
                await trio.sleep(0.1)
    except WebSocketDisconnect:
        pass


async def tasks(ws: WebSocket, nursery: trio.Nursery) -> None:
    async def tick() -> None:
        while True:
            await ws.send(b"tock")
            await trio.sleep(0.1)

    await ws.connect()
    nursery.start_soon(tick)
    async for message in ws:
        await ws.send(message)


async def chatty(ws: WebSocket) -> None:
    """Answers every message twice, then closes after the fifth."""
    await ws.connect()
    for _ in range(5):
        message = await ws.receive()
        await ws.send(message)
        await ws.send(message)
    await ws.close(4000)


HANDLERS = {"echo": echo, "json": json_echo, "ticker": ticker, "tasks": tasks, "chatty": chatty}

FRAMES = st.one_of(
    st.text(max_size=20).map(lambda t: {"type": "websocket.receive", "text": t}),
    st.binary(max_size=20).map(lambda b: {"type": "websocket.receive", "bytes": b}),
    st.sampled_from(['{"a": [1, 2]}', "[" * 300, '{"a": NaN}', "[1e999]", "{nope", "1" * 5000]).map(
        lambda t: {"type": "websocket.receive", "text": t}
    ),
    st.just({"type": "websocket.receive", "bytes": b"x" * (MAX_MESSAGE + 1)}),
)
ACTIONS = st.one_of(
    FRAMES.map(lambda frame: ("send", frame)),
    st.tuples(st.just("flood"), st.integers(1, 30)),
    st.tuples(st.just("stop_reading"), st.integers(0, 3)),
    st.just(("read",)),
    st.tuples(st.just("wait"), st.sampled_from([0, 0.01, 0.3, 2.0])),
)
ENDINGS = st.sampled_from(["close", "fin", "reset", "stop_reading_forever", "silence"])


@contextmanager
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.ERROR)
    logger = logging.getLogger("trio_apistar")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _check_memory(app: ASyncApp, queue_size: int) -> None:
    for ws in app._context.sockets:
        writer = ws._writer
        if writer is not None:
            assert writer.queued - writer.written <= queue_size + 1
        assert ws.statistics().messages_buffered <= APP_QUEUE + queue_size + 1


async def _scenario(handler: str, actions: list[Any], ending: str, queue_size: int) -> None:
    app = ASyncApp(
        routes=[Route(f"/{name}", "GET", h) for name, h in HANDLERS.items()],
        websocket_max_message_size=MAX_MESSAGE,
        websocket_queue_size=queue_size,
        websocket_send_timeout=1.0,
        websocket_idle_timeout=5.0,
    )
    connection = FakeConnection(app, f"/{handler}")
    with trio.fail_after(120):  # virtual time: only a deadlock gets here
        async with trio.open_nursery() as outer:
            shutdown = await run_lifespan(app, outer)
            outbound = app._context.outbound
            assert outbound is not None
            baseline = len(outbound.child_tasks)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(connection.run)
                await connection.accepted.wait()
                for action in actions:
                    kind = action[0]
                    if kind == "send":
                        connection.client_send(action[1])
                    elif kind == "flood":
                        for _ in range(action[1]):
                            connection.client_send({"type": "websocket.receive", "text": "f"})
                    elif kind == "stop_reading":
                        connection.client_stops_reading(action[1])
                    elif kind == "read":
                        connection.client_reads()
                    else:
                        await trio.sleep(action[1])
                    await trio.lowlevel.checkpoint()
                    _check_memory(app, queue_size)
                if ending == "close":
                    connection.client_reads()
                    connection.client_close(1000)
                elif ending == "fin":
                    connection.client_fin()
                elif ending == "reset":
                    connection.client_reset()
                elif ending == "stop_reading_forever" or handler in ("ticker", "tasks"):
                    # (A silent client that reads what a ticker sends is a live one: nothing
                    # ends that connection, rightly.)
                    connection.client_stops_reading(0)
                # "silence": the idle timeout (or the send timeout) ends it
                if ending in ("close", "fin"):
                    # As real clients do: one whose close (or FIN) the server does not read,
                    # because the app does not read what came before it, gives up and drops
                    # the connection after a while (websockets' close_timeout is 10 s).
                    with trio.move_on_after(10):
                        await connection.ended.wait()
                    connection.client_reset()
            await trio.sleep(0.5)  # the writer task ends once the socket is closed
            assert len(outbound.child_tasks) == baseline, "a task outlived its connection"
            gc.collect()
            holders = gc.get_referrers(connection.scope)  # (in C: cheaper than a Python scan)
            assert not [o for o in holders if isinstance(o, WebSocket)], "a WebSocket outlived it"
            await shutdown.send({"type": "lifespan.shutdown"})
    wire = connection.wire
    assert connection.app_error is None, repr(connection.app_error)
    assert connection.state_at_return != "CONNECTED", "returned without a close the server saw"
    assert wire.app_closes <= 1
    assert wire.app_closes == 1 or wire.client_left
    assert wire.max_queued <= APP_QUEUE
    # (A message after the app's own close would have raised in the server, as Hypercorn's
    # UnexpectedMessageError: an error logged by the writer, caught below.)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    handler=st.sampled_from(sorted(HANDLERS)),
    actions=st.lists(ACTIONS, max_size=12),
    ending=ENDINGS,
    queue_size=st.integers(1, 4),
)
def test_any_client_behaviour_ends_cleanly(
    handler: str, actions: list[Any], ending: str, queue_size: int
) -> None:
    with errors_logged() as errors:
        trio.run(
            _scenario,
            handler,
            actions,
            ending,
            queue_size,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    assert [r.getMessage() for r in errors] == []
