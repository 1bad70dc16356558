"""A lean WebSocket client for the fan-out benchmark's many subscribed sockets.

One publish reaches every subscriber, so the client receives 1,000 frames for each message the
server is asked to send. Read through a general client (a reader task, a channel and a wsproto
event per frame) the load generator would be the limit, not the server. This one does only what
a subscriber needs: an opening handshake, then unmasked frames from the server parsed straight
out of each read, every complete frame of a read handled in one go, and a masked close frame to
leave. Text and binary frames go to a callback; a close frame or the end of the stream raises
``ServerClosed``. Fragmented messages are not expected here and raise ``ValueError``.
"""

import base64
import math
import os
import socket
from collections.abc import Callable

import trio

_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE = 0x0, 0x1, 0x2, 0x8
# FIN + close opcode, mask bit + 2-byte payload, an all-zero mask (payload sent as is), code 1000.
_CLOSE_1000 = bytes([0x88, 0x82, 0, 0, 0, 0]) + (1000).to_bytes(2, "big")
_READ_SIZE = 65536
_MAX_HEADER = 16384


class ServerClosed(Exception):
    """The server sent a close frame (``code`` is its status, or ``None``) or ended the stream."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"the server closed the WebSocket ({code} {reason})".strip())
        self.code = code
        self.reason = reason


class FrameReader:
    """One subscribed WebSocket: connect, read every frame into a callback, close."""

    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self.stream = stream
        self._buffer = bytearray(leftover)

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, receive_buffer: int | None = None
    ) -> "FrameReader":
        """Open ``ws://host:port{path}``; ``receive_buffer`` sets a small ``SO_RCVBUF`` first.

        A small receive buffer makes a socket that stops reading push back on the server after
        a few kilobytes instead of the megabytes loopback TCP would otherwise absorb. Raises
        ``ConnectionError`` if the server does not switch protocols.
        """
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            await sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        stream = trio.SocketStream(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        try:
            await stream.send_all(request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                data = await stream.receive_some(_READ_SIZE)
                if not data or len(head) > _MAX_HEADER:
                    raise ConnectionError(f"no WebSocket handshake from {path}: {head[:200]!r}")
                head += data
            head, _, leftover = head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(f"{path} refused the WebSocket: {head[:200]!r}")
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return cls(stream, leftover)

    def _parse(self, on_message: Callable[[bytearray], None], limit: float = math.inf) -> int:
        """Hand up to ``limit`` complete messages in the buffer to ``on_message``; count them."""
        buffer = self._buffer
        size = len(buffer)
        pos = handled = 0
        try:
            while size - pos >= 2 and handled < limit:
                first, second = buffer[pos], buffer[pos + 1]
                length = second & 0x7F
                head = 2
                if length == 126:
                    if size - pos < 4:
                        break
                    length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                    head = 4
                elif length == 127:
                    if size - pos < 10:
                        break
                    length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                    head = 10
                end = pos + head + length
                if end > size:
                    break
                opcode = first & 0x0F
                payload = buffer[pos + head : end]
                pos = end
                if opcode == _OP_TEXT or opcode == _OP_BINARY:
                    if not first & 0x80:
                        raise ValueError("a fragmented message")
                    handled += 1
                    on_message(payload)
                elif opcode == _OP_CLOSE:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    raise ServerClosed(code, bytes(payload[2:]).decode(errors="replace"))
                elif opcode == _OP_CONTINUATION:
                    raise ValueError("a fragmented message")
                # Pings and pongs are skipped: the servers measured here send none unasked.
        finally:
            del buffer[:pos]
        return handled

    async def read_one(self) -> bytes:
        """Return the next message (the server's ``ready``, before the load starts).

        Raises ``ServerClosed`` if the server closes first.
        """
        got: list[bytearray] = []
        while not self._parse(got.append, limit=1):
            await self._fill()
        return bytes(got[0])

    async def _fill(self) -> None:
        try:
            data = await self.stream.receive_some(_READ_SIZE)
        except trio.BrokenResourceError as exc:
            raise ServerClosed(None, "connection reset") from exc
        if not data:
            raise ServerClosed(None, "end of stream")
        self._buffer += data

    async def run(self, on_message: Callable[[bytearray], None]) -> None:
        """Hand every message to ``on_message`` until cancelled or the server closes.

        Raises ``ServerClosed`` on a close frame or the end of the stream.
        """
        while True:
            self._parse(on_message)
            await self._fill()

    async def aclose(self) -> None:
        """Send a close frame (1000) if the socket takes it at once, then close the stream."""
        with trio.move_on_after(1):
            try:
                await self.stream.send_all(_CLOSE_1000)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(self.stream)
