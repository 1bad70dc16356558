"""Hostile clients against a real ``hypercorn --worker-class trio`` worker.

Each test takes the worker's file descriptors and trio tasks as a baseline (tests/hostile.py
reads them from tests/apps/hardening_app.py), misbehaves, and then waits, under a guard, for the
worker to be back at that baseline, or for the answer a well-behaved client is owed.
"""

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import trio
from hostile import RawWebSocket, WorkerStats, app_serve_process
from trio_websocket import ConnectionClosed, open_websocket_url

from trio_apistar.test import LiveServer, run_hypercorn

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.hardening_app:app"


def _ended(stats: dict[str, object], code: int) -> int:
    ended = stats["ended"]
    assert isinstance(ended, dict)
    return int(ended.get(str(code), 0))


# -- 1. clients that stop reading ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/echo", "/ticker"])
async def test_a_client_that_floods_without_reading_then_resets_is_released(
    hardening_server: LiveServer, path: str
) -> None:
    async with WorkerStats(hardening_server.url) as stats:
        with trio.fail_after(15):
            clients = await RawWebSocket.connect_many(hardening_server.port, path, 3)
            for client in clients:
                await client.flood()
            for client in clients:
                client.reset()
            await stats.back_to_baseline()


@pytest.mark.parametrize("path", ["/echo", "/ticker", "/tasks-ticker"])
async def test_a_client_that_stops_reading_and_stays_is_released_after_the_send_timeout(
    hardening_server: LiveServer, path: str
) -> None:
    async with WorkerStats(hardening_server.url) as stats:
        with trio.fail_after(15):
            clients = await RawWebSocket.connect_many(hardening_server.port, path, 3)
            if path == "/echo":
                for client in clients:
                    await client.flood()  # echoes fill its buffers; then it stops
            # Still connected, never reading: the server must let go of them by itself.
            after = await stats.back_to_baseline()
            for client in clients:
                await client.aclose()
    # The handlers saw WebSocketDisconnect (1008: they did not read what they were sent).
    assert _ended(after, 1008) >= _ended(stats.baseline, 1008) + 3


# -- 2. shutdown that always finishes ------------------------------------------------------


async def test_sigterm_finishes_within_the_graceful_timeout_despite_a_client_not_reading() -> None:
    graceful = 1
    with run_hypercorn(APP, "--graceful-timeout", str(graceful), cwd=ROOT) as server:
        with trio.fail_after(15):
            stuck = await RawWebSocket.connect(server.port, "/ticker")
            async with open_websocket_url(server.ws_url + "/idle") as polite:
                await trio.sleep(0.5)  # the ticker's writes to `stuck` block by now
                started = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as closed:
                    await polite.get_message()
                await trio.to_thread.run_sync(server.process.wait, abandon_on_cancel=True)
            took = time.monotonic() - started
            await stuck.aclose()
    assert closed.value.reason.code == 1001  # the well-behaved client got its close frame
    assert server.process.returncode == 0
    print(f"shutdown took {took:.2f} s with graceful_timeout={graceful}")


async def test_sigterm_finishes_despite_an_http_client_not_reading_its_response() -> None:
    with run_hypercorn(APP, "--graceful-timeout", "1", cwd=ROOT) as server:
        with trio.fail_after(15):
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", server.port))
            stuck = trio.SocketStream(sock)
            await stuck.send_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
            await trio.sleep(0.5)  # the 8 MiB response's writes block by now
            server.process.send_signal(signal.SIGTERM)
            await trio.to_thread.run_sync(server.process.wait, abandon_on_cancel=True)
            await stuck.aclose()
    assert server.process.returncode == 0


async def test_app_serve_shutdown_finishes_despite_a_client_not_reading() -> None:
    # A send timeout far away: shutdown must not wait for it.
    env = {"HARDENING_SEND_TIMEOUT": "60"}
    with app_serve_process(APP, env, graceful_timeout=1) as server:
        with trio.fail_after(15):
            stuck = await RawWebSocket.connect(server.port, "/ticker")
            async with open_websocket_url(server.ws_url + "/idle") as polite:
                await trio.sleep(0.5)
                server.process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as closed:
                    await polite.get_message()
                await trio.to_thread.run_sync(server.process.wait, abandon_on_cancel=True)
            await stuck.aclose()
    assert closed.value.reason.code == 1001
    assert server.process.returncode == 0


# -- 6. limits beyond sizes -----------------------------------------------------------------


async def test_idle_websockets_are_closed_1001() -> None:
    with run_hypercorn(APP, cwd=ROOT, env={"HARDENING_IDLE": "1"}) as server:
        with trio.fail_after(15):
            async with open_websocket_url(server.ws_url + "/idle") as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
    assert closed.value.reason.code == 1001


async def test_websockets_over_the_limit_are_refused_503_and_counted(
    hardening_server: LiveServer,
) -> None:
    async with WorkerStats(hardening_server.url) as stats:
        before = stats.baseline["app"]
        with trio.fail_after(15):
            clients = await RawWebSocket.connect_many(hardening_server.port, "/idle", 32)
            after = (await stats.read())["app"]
            for client in clients:
                await client.aclose()
    assert sorted(c.status for c in clients) == [101] * 30 + [503] * 2
    assert after["refused_websockets"] == before.get("refused_websockets", 0) + 2


async def test_filling_the_file_descriptors_with_websockets_leaves_room_for_http() -> None:
    env = {"HARDENING_NOFILE": "128", "HARDENING_MAX_WEBSOCKETS": "auto"}
    with run_hypercorn(APP, cwd=ROOT, env=env) as server:
        with trio.fail_after(20):
            clients = await RawWebSocket.connect_many(server.port, "/idle", 150)
            async with httpx.AsyncClient(base_url=server.url) as client:
                health = await client.get("/health")
            for ws in clients:
                await ws.aclose()
    accepted = sum(c.status == 101 for c in clients)
    assert health.status_code == 200
    assert 0 < accepted <= 64
    assert all(c.status in (101, 503) for c in clients)
