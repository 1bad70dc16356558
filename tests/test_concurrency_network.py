"""Structured concurrency over real sockets: disconnects, nurseries, backpressure, no leaks,
and shutdown. Server: hypercorn --worker-class trio; clients: trio-websocket, httpx, raw TCP."""

import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from trio_apistar.test import LiveServer, run_hypercorn

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with run_hypercorn("tests.apps.concurrency_app:app", cwd=ROOT) as live:
        yield live


async def _events(server: LiveServer, wanted: str, within: float = 5) -> list[str]:
    """Poll the app's event log until ``wanted`` shows up (bounded)."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        with trio.fail_after(within):
            while True:
                events: list[str] = (await http.get("/events")).json()
                if wanted in events:
                    return events
                await trio.sleep(0.02)


async def _clear(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.delete("/events")


async def _stats(server: LiveServer) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/stats")).json()  # type: ignore[no-any-return]


async def test_disconnect_reaches_a_blocked_receive_at_once(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        async with open_websocket_url(server.ws_url + "/blocked-receive") as ws:
            await trio.sleep(0.05)
            await ws.aclose(4000)
        await _events(server, "receive-disconnect 1006", within=2)


async def test_cancel_on_disconnect_wakes_a_handler_blocked_elsewhere(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        async with open_websocket_url(server.ws_url + "/blocked-sleep") as ws:
            assert await ws.get_message() == "ready"
        await _events(server, "sleep-disconnect 1006", within=2)


async def test_connection_tasks_are_cancelled_when_the_client_leaves(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        async with open_websocket_url(server.ws_url + "/with-task") as ws:
            assert await ws.get_message() == "beat"
            assert await ws.get_message() == "beat"
        await _events(server, "heartbeat-finally", within=2)


async def test_connection_task_error_closes_1011_and_server_keeps_serving(
    server: LiveServer,
) -> None:
    with trio.fail_after(5):
        async with open_websocket_url(server.ws_url + "/task-crash") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason.code == 1011
        async with open_websocket_url(server.ws_url + "/echo") as ws:
            await ws.send_message("still here")
            assert await ws.get_message() == "still here"
    assert "task crashed" in server.log()  # the traceback went to the server log


async def test_closes_that_cross_each_other_leave_the_server_serving(server: LiveServer) -> None:
    """The handler returns (we close) just as the client closes: Hypercorn answers the client's
    close while the session ends. Ending only once the closing handshake is complete keeps
    Hypercorn from shutting the socket under that answer (which crashed the whole server)."""
    logged = len(server.log())
    with trio.fail_after(30):
        for _ in range(200):
            async with open_websocket_url(server.ws_url + "/greet") as ws:
                assert await ws.get_message() == "hello"
        assert (await _stats(server))["sockets"] == 0
    assert "Error" not in server.log()[logged:]


async def test_http_client_leaving_cancels_a_long_poll(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        async with httpx.AsyncClient(base_url=server.url, timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/long-poll")
        await _events(server, "long-poll-finally", within=2)


async def test_http_client_leaving_stops_a_streaming_response(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(b"GET /stream-forever HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while b"started" not in received:
                data = await stream.receive_some()
                assert data, "server closed mid-response"
                received += data
        assert received.startswith(b"HTTP/1.1 200")
        await _events(server, "stream-finally", within=2)


async def test_background_task_runs_after_the_response(server: LiveServer) -> None:
    await _clear(server)
    with trio.fail_after(5):
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/background")
            assert response.json() == {"queued": True}
            assert (await http.get("/events")).json() == ["background-responding"]
        events = await _events(server, "background-done")
    assert events == ["background-responding", "background-done"]


@pytest.mark.parametrize("path", ["/not-reading", "/not-reading-watched"])
async def test_flooding_a_handler_that_does_not_read_is_held_back(
    server: LiveServer, path: str
) -> None:
    """Backpressure: the client is blocked long before server memory grows with what it sends,
    whether the handler reads Hypercorn's channel directly or through its reader task."""
    chunk = b"z" * (512 * 1024)
    attempts = 200  # 100 MiB, if nothing held the client back
    before = (await _stats(server))["rss_kb"]
    sent = 0

    async def flood(ws: WebSocketConnection) -> None:
        nonlocal sent
        for _ in range(attempts):
            await ws.send_message(chunk)
            sent += 1

    with trio.fail_after(30):
        async with open_websocket_url(server.ws_url + path) as ws:
            assert await ws.get_message() == "ready"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood, ws)
                await trio.sleep(1.5)  # the handler starts reading only after 2.5 s
                during = (await _stats(server))["rss_kb"]
                sent_while_not_reading = sent
    assert sent == attempts  # once the handler read again, nothing was lost
    sent = sent_while_not_reading
    assert sent < attempts, "the client was never held back"
    grown_mib = (during - before) / 1024
    # Bounded by the channel (4 messages), hypercorn's queue (10) and socket buffers: far from
    # the 100 MiB the client tried to send.
    assert grown_mib < 40, f"server grew {grown_mib:.1f} MiB for {sent} messages sent"


def _raw_handshake(port: int, path: str, wait_for: bytes = b"") -> socket.socket:
    """A WebSocket opened by hand; returns once the 101 (and ``wait_for``, if given) arrived."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response or wait_for not in response.partition(b"\r\n\r\n")[2]:
        data = sock.recv(4096)
        assert data, "server closed during the handshake"
        response += data
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: an abrupt client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def _masked_close(code: int) -> bytes:
    mask = os.urandom(4)
    payload = code.to_bytes(2, "big")
    return bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_no_leaked_tasks_or_memory_after_many_connections(server: LiveServer) -> None:
    rounds = 300  # x8 kinds = 2,400 connections

    async def normal() -> None:
        async with open_websocket_url(server.ws_url + "/echo") as ws:
            await ws.send_message("hi")
            await ws.get_message()

    def reset_mid_send() -> None:
        sock = _raw_handshake(server.port, "/chatty")
        sock.recv(4096)
        _reset(sock)

    def close_mid_send() -> None:
        sock = _raw_handshake(server.port, "/chatty")
        sock.recv(4096)
        sock.sendall(_masked_close(1000))
        sock.close()

    def reset_mid_receive() -> None:
        _reset(_raw_handshake(server.port, "/blocked-receive"))

    def reset_while_watched() -> None:  # a reader task, cancel_on_disconnect
        _reset(_raw_handshake(server.port, "/blocked-sleep", wait_for=b"ready"))

    def reset_with_tasks() -> None:  # a reader task and a connection-nursery task
        _reset(_raw_handshake(server.port, "/with-task", wait_for=b"beat"))

    def reset_mid_stream() -> None:  # an HTTP handler's watcher, started when it blocked
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /stream-forever HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = b""
        while b"started" not in response:
            data = sock.recv(4096)
            assert data, "server closed mid-response"
            response += data
        _reset(sock)

    def reset_mid_message() -> None:
        sock = _raw_handshake(server.port, "/echo")
        frame = _masked_text(b"hello there")
        sock.sendall(frame[: len(frame) // 2])  # half a frame, then vanish
        _reset(sock)

    async def one_round() -> None:
        await normal()
        for kind in (
            reset_mid_send,
            close_mid_send,
            reset_mid_receive,
            reset_while_watched,
            reset_with_tasks,
            reset_mid_stream,
            reset_mid_message,
        ):
            await trio.to_thread.run_sync(kind)

    async def settled(baseline: dict[str, int]) -> dict[str, int]:
        for _ in range(100):  # give the server time to see the last resets
            after = await _stats(server)
            if after["tasks"] <= baseline["tasks"] and after["sockets"] == 0:
                break
            await trio.sleep(0.05)
        return after

    with trio.fail_after(120):
        for _ in range(20):  # warm up caches and allocator pools
            await one_round()
        baseline = await settled(await _stats(server))
        for _ in range(rounds):
            await one_round()
        after = await settled(baseline)
    assert after["sockets"] == 0
    assert after["tasks"] <= baseline["tasks"], (baseline, after)
    assert after["rss_kb"] - baseline["rss_kb"] < 8 * 1024, (baseline, after)


def _serve_in_subprocess(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.apps.concurrency_app", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int) -> None:
    with trio.fail_after(15):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
            else:
                await stream.aclose()
                return


async def test_app_serve_closes_websockets_1001_at_once_on_sigterm() -> None:
    port = _free_port()
    process = _serve_in_subprocess(port)
    try:
        await _wait_listening(port)
        async with open_websocket_url(f"ws://127.0.0.1:{port}/blocked-sleep") as ws:
            assert await ws.get_message() == "ready"
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            elapsed = time.monotonic() - started
        assert closed.value.reason.code == 1001
        assert elapsed < 5  # graceful_timeout is 10 s: the close came from the signal
        output, _ = await trio.to_thread.run_sync(process.communicate, None, 15)
        assert b"event: sleep-disconnect 1001" in output
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_hypercorn_shutdown_gives_1001_not_1006() -> None:
    with run_hypercorn(
        "tests.apps.concurrency_app:app", "--graceful-timeout", "1", cwd=ROOT
    ) as live:
        async with open_websocket_url(live.ws_url + "/blocked-sleep") as ws:
            assert await ws.get_message() == "ready"
            live.process.send_signal(signal.SIGTERM)
            with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
    assert closed.value.reason.code == 1001
