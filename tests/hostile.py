"""Clients that misbehave on purpose, over raw TCP sockets: they stop reading, flood, reset,
trickle a body one byte at a time. WebSocket framing comes from wsproto (Hypercorn's own
dependency), so each client speaks the protocol exactly as far as it chooses to."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, RejectConnection
from wsproto.events import Request as WSRequest

from trio_apistar.test import LiveServer

ROOT = Path(__file__).resolve().parent.parent

#: A receive buffer so small that the server's writes to a client that stops reading block soon.
SMALL_RCVBUF = 4096


class RawWebSocket:
    """A WebSocket client on a raw trio socket that reads only when told to."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection, status: int) -> None:
        self.stream = stream
        self.ws = ws
        self.status = status

    @classmethod
    async def connect(
        cls, port: int, path: str, *, rcvbuf: int = SMALL_RCVBUF, host: str = "127.0.0.1"
    ) -> RawWebSocket:
        """Open a socket with a small receive buffer and run the handshake (``status`` is 101
        when accepted, else the HTTP status of the refusal)."""
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect((host, port))
        stream = trio.SocketStream(sock)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(WSRequest(host=host, target=path)))
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return cls(stream, ws, 0)
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return cls(stream, ws, 101)
                if isinstance(event, RejectConnection):
                    return cls(stream, ws, event.status_code)

    @classmethod
    async def connect_many(cls, port: int, path: str, count: int) -> list[RawWebSocket]:
        """Open ``count`` clients to ``path``, one after the other (see ``connect``)."""
        return [await cls.connect(port, path) for _ in range(count)]

    async def flood(self, size: int = 65536, stalled_after: float = 0.5) -> int:
        """Send ``size``-byte binary messages without reading until a write stalls for
        ``stalled_after`` seconds (the server stopped reading us); return how many went out."""
        sent = 0
        while True:
            with trio.move_on_after(stalled_after) as stalled:
                try:
                    await self.stream.send_all(self.ws.send(BytesMessage(data=b"z" * size)))
                except trio.BrokenResourceError:
                    return sent  # the server gave up on us first
                sent += 1
            if stalled.cancelled_caught:
                return sent

    async def send_partial_frame(self, announced: int, payload: int) -> None:
        """Send the header of a binary frame announcing ``announced`` bytes, then only
        ``payload`` of them (masked with a zero key, as a client must mask)."""
        header = bytes([0x82])  # FIN, binary
        if announced < 126:
            header += bytes([0x80 | announced])
        elif announced < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", announced)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", announced)
        header += b"\0\0\0\0"
        await self.stream.send_all(header + b"x" * payload)

    async def read_until_closed(self) -> int | None:
        """Read (and drop) messages until the server sends a close frame or ends the
        connection; return the close code, if a close frame came."""
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                return None
            if not data:
                return None
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, CloseConnection):
                    return event.code

    def reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), without a close frame."""
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.stream.socket.close()

    async def aclose(self) -> None:
        """Close our end (a FIN, no close frame)."""
        await self.stream.aclose()


async def slow_upload(port: int, path: str, length: int, every: float) -> tuple[int, bytes]:
    """POST ``length`` declared bytes one byte per ``every`` seconds; return the status line's
    code and the response once the server answers (0 and b"" if it closes without a word)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {length}\r\n"
        "content-type: application/octet-stream\r\n\r\n"
    )
    await stream.send_all(head.encode())
    response = b""

    async def trickle() -> None:
        for _ in range(length):
            try:
                await stream.send_all(b"x")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            await trio.sleep(every)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle)
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                break
            response += data
            if b"\r\n\r\n" in response:
                break
        nursery.cancel_scope.cancel()
    await stream.aclose()
    if not response:
        return 0, b""
    return int(response.split(b" ", 2)[1]), response


class WorkerStats:
    """Reads ``/stats`` of tests/apps/hardening_app.py (fds and trio tasks inside the worker)
    over one keep-alive connection, so that reading them costs the same every time.

    Entering reads them once as ``baseline``: what the worker holds before a test misbehaves.
    """

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url)
        self.baseline: dict[str, Any] = {}

    async def __aenter__(self) -> WorkerStats:
        await self.client.__aenter__()
        try:
            self.baseline = await self.read()
        except BaseException:
            await self.client.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(*exc)

    async def read(self) -> dict[str, Any]:
        response = await self.client.get("/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def wait_for(self, fds: int, tasks: int, poll: float = 0.1) -> dict[str, Any]:
        """Poll until the worker holds at most ``fds`` descriptors and ``tasks`` tasks (the
        caller bounds the wait with ``trio.fail_after``)."""
        while True:
            stats = await self.read()
            if stats["fds"] <= fds and stats["tasks"] <= tasks:
                return stats
            await trio.sleep(poll)

    async def back_to_baseline(self, extra_tasks: int = 0) -> dict[str, Any]:
        """Poll until the worker holds no more descriptors than at ``baseline`` and at most
        ``extra_tasks`` more tasks; return the stats read then (the caller bounds the wait)."""
        return await self.wait_for(self.baseline["fds"], self.baseline["tasks"] + extra_tasks)


@contextlib.contextmanager
def app_serve_process(app_path: str, env: dict[str, str], **options: Any) -> Iterator[LiveServer]:
    """Run ``app_path``'s ``app.serve()`` (signal handling and all) in a subprocess on a free
    port; yields once it listens, kills it on exit if it has not ended by then."""
    module, attr = app_path.split(":")
    port = _free_port()
    code = (
        f"import importlib; app = getattr(importlib.import_module({module!r}), {attr!r}); "
        f"app.serve('127.0.0.1', {port}, **{options!r})"
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = LiveServer("127.0.0.1", port, process, Path(f"/proc/{process.pid}/fd/1"))
        try:
            deadline = time.monotonic() + 20
            while f"Running on http://127.0.0.1:{port}".encode() not in _read(log):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app_path} did not start:\n{_read(log).decode()}")
                time.sleep(0.05)
            yield server
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def _read(log: Any) -> bytes:
    log.seek(0)
    return bytes(log.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
