"""Broadcast in an app: injection, its lifetime in the lifespan, WebSocket handlers.

In-process (TestClient) for both backends; the same over real sockets is in
``test_broadcast_network.py``.
"""

import logging
from typing import Any

import pytest
import trio

from trio_apistar import AppNursery, ASyncApp, Broadcast, Component, Route, WebSocket
from trio_apistar.exceptions import ConfigurationError, HistoryGap, SubscriberTooSlow
from trio_apistar.test import RedisServer, TestClient, WebSocketClosed


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> RedisServer | None:
    return None if request.param == "memory" else request.getfixturevalue("redis")


def url_of(redis: RedisServer | None) -> str:
    return "memory://" if redis is None else redis.url


async def eventually(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110  remote state: nothing to wait on
        await trio.sleep(0.01)


async def relay_room(ws: WebSocket, broadcast: Broadcast) -> None:
    """Subscribe to ``room``, send ``ready``, then send each event's data as JSON until the
    client leaves."""
    await ws.connect()
    async with broadcast.subscribe("room") as subscription:
        await ws.send("ready")
        async for event in subscription:
            await ws.send_json(event.data)


class Room:
    """What a handler sees of the broadcast, via a component that asks for it."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast


class RoomComponent(Component):
    def resolve(self, broadcast: Broadcast) -> Room:
        return Room(broadcast)


async def test_everything_gets_the_broadcast_and_it_lives_as_long_as_the_app(
    backend: RedisServer | None,
) -> None:
    broadcast = Broadcast(url_of(backend))
    seen: dict[str, Any] = {}

    async def startup(broadcast: Broadcast) -> None:
        seen["startup"] = broadcast.running
        await broadcast.publish("log", "started")

    async def shutdown(broadcast: Broadcast) -> None:
        seen["shutdown"] = broadcast.running  # still running: shutdown may publish

    class Hook:
        def on_request(self, broadcast: Broadcast) -> None:
            seen["hook"] = broadcast

    async def publish(room: Room, broadcast: Broadcast) -> dict[str, str]:
        assert room.broadcast is broadcast
        return {"id": await broadcast.publish("news", "hello")}

    app = ASyncApp(
        [Route("/publish", "POST", publish)],
        components=[RoomComponent()],
        event_hooks=[Hook()],
        on_startup=[startup],
        on_shutdown=[shutdown],
        broadcast=broadcast,
    )
    assert app.broadcast is broadcast and not broadcast.running
    with trio.fail_after(10):
        async with TestClient(app) as client:
            assert broadcast.running and broadcast.connected
            async with broadcast.subscribe("news") as news:
                response = await client.post("/publish")
                assert response.status_code == 200
                event = await news.receive()
                assert (event.data, event.id) == ("hello", response.json()["id"])
        assert not broadcast.running
    assert seen == {"startup": True, "hook": broadcast, "shutdown": True}


def test_asking_for_a_broadcast_the_app_lacks_is_a_configuration_error() -> None:
    async def handler(broadcast: Broadcast) -> None:
        pass

    with pytest.raises(ConfigurationError, match="broadcast"):
        ASyncApp([Route("/", "GET", handler)])
    with pytest.raises(ConfigurationError, match="takes a Broadcast"):
        ASyncApp([], broadcast="memory://")  # type: ignore[arg-type]


async def test_a_subscription_on_a_quiet_channel_ends_when_the_client_leaves(
    backend: RedisServer | None,
) -> None:
    """No opt-in: the handler's ``async for`` ends with WebSocketDisconnect, like receive()."""
    broadcast = Broadcast(url_of(backend))
    subscribed, ended = trio.Event(), trio.Event()
    outcome: list[str] = []

    async def room(ws: WebSocket, broadcast: Broadcast) -> None:
        await ws.connect()
        try:
            async with broadcast.subscribe("quiet") as subscription:
                subscribed.set()
                async for event in subscription:
                    await ws.send(event.data)
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise
        finally:
            ended.set()

    app = ASyncApp([Route("/room", "GET", room)], broadcast=broadcast)
    with trio.fail_after(10):
        async with TestClient(app) as client:
            for _ in range(3):
                subscribed, ended = trio.Event(), trio.Event()
                async with client.websocket_connect("/room"):
                    await subscribed.wait()
                    assert broadcast.statistics().subscriptions == 1
                await ended.wait()
                assert broadcast.statistics().subscriptions == 0
                if backend is not None:
                    await eventually(lambda: backend.numsub("trio_apistar:m:quiet") == 0)
            assert app.statistics().websockets == 0
    assert outcome == ["WebSocketDisconnect"] * 3


async def test_messages_flow_to_sockets_until_they_leave(backend: RedisServer | None) -> None:
    broadcast = Broadcast(url_of(backend))
    app = ASyncApp([Route("/room", "GET", relay_room)], broadcast=broadcast)
    with trio.fail_after(10):
        async with (
            TestClient(app) as client,
            client.websocket_connect("/room") as first,
            client.websocket_connect("/room") as second,
        ):
            for ws in (first, second):
                assert await ws.receive_text() == "ready"
            for i in range(20):
                await broadcast.publish("room", {"n": i})
            for ws in (first, second):
                assert [await ws.receive_json() for _ in range(20)] == [{"n": i} for i in range(20)]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SubscriberTooSlow("too slow", "c"), 1013),
        (HistoryGap("gone", "c", "1-0"), 1008),
    ],
)
async def test_a_broadcast_error_a_handler_lets_escape_closes_with_its_code(
    error: Exception, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        raise error

    app = ASyncApp([Route("/", "GET", handler)])
    with trio.fail_after(5):
        async with TestClient(app) as client, client.websocket_connect("/") as ws:
            with pytest.raises(WebSocketClosed):
                await ws.receive()
            assert ws.close_code == code
    assert not [r for r in caplog.records if r.exc_info]  # no traceback: not a bug


async def test_a_slow_socket_is_closed_with_1013_and_others_get_everything(
    backend: RedisServer | None,
) -> None:
    broadcast = Broadcast(url_of(backend), buffer=10)
    stalled = trio.Event()

    async def room(ws: WebSocket, broadcast: Broadcast, slow: bool = False) -> None:
        await ws.connect()
        async with broadcast.subscribe("room") as subscription:
            await ws.send("ready")
            async for event in subscription:
                if slow:
                    await stalled.wait()  # e.g. a client that does not read
                await ws.send_json(event.data)

    async def slow_room(ws: WebSocket, broadcast: Broadcast) -> None:
        await room(ws, broadcast, slow=True)

    app = ASyncApp(
        [Route("/room", "GET", room), Route("/slow", "GET", slow_room)], broadcast=broadcast
    )
    with trio.fail_after(10):
        async with (
            TestClient(app) as client,
            client.websocket_connect("/room") as fast,
            client.websocket_connect("/slow") as slow,
        ):
            assert await fast.receive_text() == "ready"
            assert await slow.receive_text() == "ready"
            for i in range(50):
                await broadcast.publish("room", i)
                assert await fast.receive_json() == i  # the fast one keeps up
            stalled.set()
            with pytest.raises(WebSocketClosed):
                while True:
                    await slow.receive_json()
            assert slow.close_code == 1013
            assert broadcast.statistics().dropped == 1


async def test_a_task_in_the_app_nursery_keeps_its_subscription_after_the_client_left() -> None:
    broadcast = Broadcast()
    got: list[str] = []
    subscribed = trio.Event()

    async def listen(broadcast: Broadcast) -> None:
        async with broadcast.subscribe("jobs") as jobs:
            subscribed.set()
            async for event in jobs:
                got.append(event.data)
                return

    async def start(ws: WebSocket, nursery: AppNursery, broadcast: Broadcast) -> None:
        await ws.connect()
        nursery.start_soon(listen, broadcast)
        await subscribed.wait()

    app = ASyncApp([Route("/", "GET", start)], broadcast=broadcast)
    with trio.fail_after(5):
        async with TestClient(app) as client:
            async with client.websocket_connect("/"):
                await subscribed.wait()
            await broadcast.publish("jobs", "done later")
            await eventually(lambda: got)
    assert got == ["done later"]


async def test_connection_nursery_tasks_subscriptions_end_with_the_client() -> None:
    broadcast = Broadcast()
    ended = trio.Event()

    async def forward(ws: WebSocket, broadcast: Broadcast, ready: trio.Event) -> None:
        try:
            async with broadcast.subscribe("c") as sub:
                ready.set()
                async for event in sub:
                    await ws.send(event.data)
        finally:
            ended.set()

    async def handler(ws: WebSocket, nursery: trio.Nursery, broadcast: Broadcast) -> None:
        await ws.connect()
        ready = trio.Event()
        nursery.start_soon(forward, ws, broadcast, ready)
        await ready.wait()
        await ws.send("ready")
        async for message in ws:
            await broadcast.publish("c", message)

    app = ASyncApp([Route("/", "GET", handler)], broadcast=broadcast)
    with trio.fail_after(5):
        async with TestClient(app) as client:
            async with client.websocket_connect("/") as ws:
                assert await ws.receive_text() == "ready"
                await ws.send_text("echo")
                assert await ws.receive_text() == "echo"
            await ended.wait()
            assert broadcast.statistics().subscriptions == 0


async def test_no_traceback_is_logged_for_a_client_leaving_a_subscription(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broadcast = Broadcast()
    app = ASyncApp([Route("/", "GET", relay_room)], broadcast=broadcast)
    with trio.fail_after(5):
        async with TestClient(app) as client:
            async with client.websocket_connect("/") as ws:
                assert await ws.receive_text() == "ready"
            await eventually(lambda: not broadcast.statistics().subscriptions)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_before_accept_and_over_http_a_broadcast_error_is_its_status() -> None:
    """Redis away while a handshake is pending is a 503 refusal; over HTTP a 503 answer."""
    from trio_apistar.exceptions import BroadcastUnavailable
    from trio_apistar.test import WebSocketDenied

    async def handler(ws: WebSocket) -> None:
        raise BroadcastUnavailable("Redis is away", "c")

    async def page() -> None:
        raise HistoryGap("gone", "c", "1-0")

    app = ASyncApp([Route("/ws", "GET", handler), Route("/page", "GET", page)])
    with trio.fail_after(5):
        async with TestClient(app) as client:
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/ws"):
                    pass
            assert denied.value.status_code == 503
            response = await client.get("/page")
            assert (response.status_code, response.json()) == (410, {"detail": "gone"})


async def test_a_handler_with_its_own_nursery_ends_quietly_when_its_client_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The disconnect arrives inside the handler's nursery's group: still the client leaving."""
    broadcast = Broadcast()
    ended = trio.Event()

    async def room(ws: WebSocket, broadcast: Broadcast) -> None:
        await ws.connect()
        try:
            async with broadcast.subscribe("room") as subscription, trio.open_nursery() as n:
                n.start_soon(trio.sleep_forever)
                await ws.send("ready")
                async for event in subscription:
                    await ws.send(event.data)
        finally:
            ended.set()

    app = ASyncApp([Route("/", "GET", room)], broadcast=broadcast)
    with trio.fail_after(5):
        async with TestClient(app) as client:
            async with client.websocket_connect("/") as ws:
                assert await ws.receive_text() == "ready"
            await ended.wait()
    assert not [r for r in caplog.records if r.exc_info]
