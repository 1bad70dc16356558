"""Broadcast over real sockets: hypercorn's trio worker, trio-websocket clients, redis-server.

``tests/apps/broadcast_app.py`` serves rooms (``/room/{name}``: every event as JSON, what a
client sends is published), presence (``/members/{name}``), publishing (``POST
/publish/{name}``) and statistics (``/stats``). With Redis, two hypercorn processes share one
redis-server: what one publishes reaches the clients of both.
"""

import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
)

from trio_apistar.test import LiveServer, RedisServer, run_hypercorn

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent

APP = "tests.apps.broadcast_app:app"


def serve(url: str, **env: str) -> Any:
    """The app on ``url``; subscribers may fall 1,000 events behind a burst."""
    return run_hypercorn(
        APP, cwd=ROOT, env={"BROADCAST_URL": url, "BROADCAST_BUFFER": "1000", **env}
    )


@pytest.fixture(scope="session")
def memory_server() -> Iterator[LiveServer]:
    with serve("memory://") as server:
        yield server


@pytest.fixture(scope="session")
def workers(redis_server: RedisServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two hypercorn processes on one redis-server."""
    with (
        serve(redis_server.url, BROADCAST_PRESENCE_TTL="1") as first,
        serve(redis_server.url, BROADCAST_PRESENCE_TTL="1") as second,
    ):
        yield first, second


@pytest.fixture(params=["memory", "redis"])
def servers(request: pytest.FixtureRequest) -> tuple[LiveServer, LiveServer]:
    """Where clients connect: one process (memory://) or two sharing Redis."""
    if request.param == "memory":
        server: LiveServer = request.getfixturevalue("memory_server")
        return server, server
    pair: tuple[LiveServer, LiveServer] = request.getfixturevalue("workers")
    return pair


@asynccontextmanager
async def join_room(
    server: LiveServer, name: str, since: str | None = None, buffer: int | None = None
) -> AsyncIterator[WebSocketConnection]:
    query = f"?since={since}" if since else f"?buffer={buffer}" if buffer else ""
    async with open_websocket_url(f"{server.ws_url}/room/{name}{query}") as ws:
        assert json.loads(await ws.get_message()) == {"ready": True}
        yield ws


async def events(ws: WebSocketConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.get_message()) for _ in range(count)]


async def publish(
    server: LiveServer, name: str, count: int = 1, size: int = 0, pause: int = 0
) -> list[str]:
    params = {"count": count, "size": size, "pause": pause}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post(f"/publish/{name}", params=params)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["ids"]
    return ids


async def stats(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get("/stats")
    result: dict[str, Any] = response.json()
    return result


async def eventually(check: Any, *args: Any) -> Any:
    """Poll ``check(*args)`` (sync or async) until truthy; return its value."""
    while True:
        result = check(*args)
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return result
        await trio.sleep(0.02)


async def test_every_client_on_every_worker_gets_every_message_in_order(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = servers
    with trio.fail_after(20):
        async with (
            join_room(first, "order") as a1,
            join_room(first, "order") as a2,
            join_room(second, "order") as b1,
            join_room(second, "order") as b2,
        ):
            ids = await publish(first, "order", count=300)
            await b1.send_message("from a client on the second worker")
            ids += await publish(second, "order", count=1)
            expected = [f"{i} " for i in range(300)] + ["from a client on the second worker"]
            for ws in (a1, a2, b1, b2):
                got = await events(ws, 302)
                data = [e["data"] for e in got]
                assert data[:300] == expected[:300]
                assert set(data[300:]) == {expected[300], "0 "}
                # Everyone sees the same order of ids.
                assert [e["id"] for e in got][:300] == ids[:300]


async def test_100_clients_join_and_leave_without_leftovers(
    servers: tuple[LiveServer, LiveServer], redis_server: RedisServer
) -> None:
    first, second = servers
    processes = [first] if first is second else [first, second]
    with trio.fail_after(30):
        for server in processes:
            await publish(server, "warm-up")  # the publishing connection, opened once
        before = [await stats(server) for server in processes]
        async with trio.open_nursery() as nursery:
            joined, leave = trio.Event(), trio.Event()
            inside = 0

            async def client(server: LiveServer) -> None:
                nonlocal inside
                async with join_room(server, "crowd") as ws:
                    inside += 1
                    if inside == 100:
                        joined.set()
                    await leave.wait()
                    assert json.loads(await ws.get_message())["data"] == "0 "

            for i in range(100):
                nursery.start_soon(client, (first, second)[i % 2])
            await joined.wait()
            await publish(first, "crowd")
            leave.set()
        for server, old in zip(processes, before, strict=True):

            async def settled(server: LiveServer = server, old: dict[str, Any] = old) -> bool:
                now = await stats(server)
                return (
                    now["websockets"] == 0
                    and now["subscriptions"] == 0
                    and now["topics"] == 0
                    and now["tasks"] <= old["tasks"]
                )

            await eventually(settled)
        if first is not second:
            await eventually(lambda: redis_server.numsub("trio_apistar:m:crowd") == 0)


async def test_a_client_that_stops_reading_is_dropped_and_costs_the_others_nothing(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = servers
    with trio.fail_after(60):
        async with (
            # Room for the whole flood: on a busy machine they may lag, not fail.
            join_room(first, "flood", buffer=3000) as fast1,
            join_room(second, "flood", buffer=3000) as fast2,
            join_room(second, "flood", buffer=50) as slow,
        ):
            dropped_before = (await stats(second))["dropped"]
            # 3,000 messages of 4 kB: more than the slow client's socket buffers (a few MB)
            # and its subscription's 50 hold.
            got: list[list[dict[str, Any]]] = []

            async def read(ws: WebSocketConnection) -> None:
                got.append(await events(ws, 3000))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish, first, "flood", 3000, 4000, 20)
                nursery.start_soon(read, fast1)
                nursery.start_soon(read, fast2)
            for received in got:
                assert [e["data"].split()[0] for e in received] == [str(i) for i in range(3000)]
            now = await stats(second)
            assert now["dropped"] == dropped_before + 1
            # The fast ones' (one process or two): the slow one's buffer is gone.
            assert now["subscriptions"] == (2 if first is second else 1)
            del slow  # closed without reading: its handler ends with the connection


async def test_presence_across_workers(servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = servers
    with trio.fail_after(20):
        url = "/members/lobby?nick="
        async with open_websocket_url(f"{first.ws_url}{url}ann") as ann:
            hello = json.loads(await ann.get_message())
            assert hello["members"] == ["ann"]
            assert json.loads(await ann.get_message()) == {"kind": "join", "nick": "ann"}
            async with open_websocket_url(f"{second.ws_url}{url}bob") as bob:
                assert json.loads(await bob.get_message())["members"] == ["ann", "bob"]
                assert json.loads(await ann.get_message()) == {"kind": "join", "nick": "bob"}
                assert json.loads(await bob.get_message()) == {"kind": "join", "nick": "bob"}
            assert json.loads(await ann.get_message()) == {"kind": "leave", "nick": "bob"}


async def test_a_worker_that_dies_is_announced_gone(
    workers: tuple[LiveServer, LiveServer], redis_server: RedisServer
) -> None:
    first, _ = workers
    with (
        trio.fail_after(30),
        serve(redis_server.url, BROADCAST_PRESENCE_TTL="1") as doomed,
    ):
        url = "/members/expiry?nick="
        async with open_websocket_url(f"{first.ws_url}{url}ann") as ann:
            assert json.loads(await ann.get_message())["members"] == ["ann"]
            assert json.loads(await ann.get_message()) == {"kind": "join", "nick": "ann"}
            async with open_websocket_url(f"{doomed.ws_url}{url}carl") as carl:
                assert json.loads(await carl.get_message())["members"] == ["ann", "carl"]
                assert json.loads(await ann.get_message()) == {"kind": "join", "nick": "carl"}
                os.killpg(doomed.process.pid, signal.SIGKILL)  # no leave, no goodbye
                # Announced by ann's worker once carl's entry expires (ttl 1 s).
                assert json.loads(await ann.get_message()) == {"kind": "leave", "nick": "carl"}


async def test_redis_outages_are_announced_and_the_service_resumes(
    own_redis: RedisServer,
) -> None:
    with serve(own_redis.url) as server, trio.fail_after(40):
        # 1. The pub/sub connection is killed: every client is told at once (1013).
        async with join_room(server, "r") as ws1, join_room(server, "r") as ws2:
            ids = await publish(server, "r", count=3)
            last = (await events(ws1, 3))[-1]["id"]
            await events(ws2, 3)
            assert own_redis.cli("CLIENT", "KILL", "TYPE", "pubsub") == "1"
            for ws in (ws1, ws2):
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1013
        assert (await stats(server))["disconnects"] == 1
        # Published while nobody listens: kept in history.
        missed = await publish(server, "r", count=5)
        # 2. Back within the reconnection backoff; catch up exactly from the last id seen.
        await wait_until_joinable(server, "r")
        async with join_room(server, "r", since=last) as ws:
            got = await events(ws, 5)
            assert [e["id"] for e in got] == missed
            assert ids[-1] == last
        # 3. Redis itself goes away: clients are told, publishing says so (503).
        async with join_room(server, "r") as ws:
            own_redis.stop()
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1013
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.post("/publish/r")
        assert response.status_code == 503
        assert "unreachable" in response.json()["detail"]
        assert not (await stats(server))["connected"]
        # 4. Redis is back (empty: it kept nothing): the service resumes by itself.
        own_redis.start()
        await wait_until_joinable(server, "r")
        async with join_room(server, "r") as ws:
            await publish(server, "r")
            assert (await events(ws, 1))[0]["data"] == "0 "
        assert (await stats(server))["connected"]
        # A catch-up across the restart is an announced gap, not a silent partial list.
        with pytest.raises(ConnectionClosed) as closed:
            async with join_room(server, "r", since=missed[-1]):
                pass
        assert closed.value.reason.code == 1008


async def wait_until_joinable(server: LiveServer, name: str) -> None:
    """Retry joining until the server accepts (Redis back, reconnected)."""
    while True:
        try:
            async with join_room(server, name):
                return
        except (ConnectionClosed, ConnectionRejected):
            await trio.sleep(0.05)
