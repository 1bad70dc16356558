"""``FileResponse``: a file from disk, streamed in chunks without blocking the event loop.

Opening, ``fstat`` and every read happen in a worker thread (``trio.to_thread``), one chunk at
a time: a large file costs one chunk of memory per response, and a slow disk never stalls the
other connections. The validators (``ETag``, ``Last-Modified``) and ``Content-Length`` come from
the file as it is once opened, so they always describe the bytes that are sent.
"""

import logging
import mimetypes
import os
import stat
from email.utils import formatdate

import trio

from ._types import Send
from .http import JSONResponse, StreamingResponse

__all__ = ["CHUNK_SIZE", "FileResponse", "etag_of", "http_date", "media_type_of"]

logger = logging.getLogger("trio_apistar")

#: Bytes read (and sent) at a time.
CHUNK_SIZE = 64 * 1024

# The system's table (/etc/mime.types and the like) is read once here, at import, rather than by
# the first request inside the event loop.
mimetypes.init()

#: What the web needs, the same on every machine whatever its mime.types says.
_WEB_TYPES = {
    ".css": "text/css",
    ".htm": "text/html",
    ".html": "text/html",
    ".js": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".mjs": "text/javascript",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
#: A compressed file is sent as the archive it is, not as what it would decompress to: no
#: ``Content-Encoding`` is set, so the browser must not be told it is, say, JavaScript.
_ENCODED_TYPES = {
    "br": "application/x-brotli",
    "bzip2": "application/x-bzip2",
    "compress": "application/x-compress",
    "gzip": "application/gzip",
    "xz": "application/x-xz",
}


def media_type_of(path: str) -> str:
    """The ``Content-Type`` media type for a file name (``application/octet-stream`` if unknown).

    ``text/*`` types get ``; charset=utf-8`` added when sent, as for every ``Response``.
    """
    guessed, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    known = _WEB_TYPES.get(os.path.splitext(path)[1].lower())
    return known or guessed or "application/octet-stream"


def etag_of(result: os.stat_result) -> str:
    """A strong ``ETag`` for a file: its modification time (ns) and size, quoted."""
    return f'"{result.st_mtime_ns:x}-{result.st_size:x}"'


def http_date(timestamp: float) -> str:
    """``timestamp`` as an HTTP date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return formatdate(timestamp, usegmt=True)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
    )


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading; ``(fd, fstat)``. Raises ``OSError`` if it is not a file."""
    # O_NONBLOCK: opening a FIFO put where a file was must not hang a worker thread.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        result = os.fstat(fd)
        if not stat.S_ISREG(result.st_mode):
            raise OSError(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, result


def _read(fd: int, size: int, offset: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


class FileResponse(StreamingResponse):
    """The file at ``path``, streamed ``chunk_size`` bytes at a time.

    ``media_type`` defaults to the one its name suggests. ``Content-Length``, ``ETag`` and
    ``Last-Modified`` are set from the file when the response is sent. If the file cannot be
    opened then (gone, a directory, no permission) the client gets a 404 and the log a warning;
    if it shrinks while being sent, the response is cut short and the error logged like any
    handler error. Return it from a handler for one file; :class:`~trio_apistar.Static`
    serves a whole directory, with conditional and range requests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        path = os.fspath(path)
        super().__init__((), status_code, headers, media_type or media_type_of(path))
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        self.path = path
        self.chunk_size = chunk_size
        # Set by StaticFiles, which decided on status and headers from an earlier stat: that
        # stat, the byte range [start, end) to send, and whether to send a body at all (HEAD).
        self.planned_stat: os.stat_result | None = None
        self.byte_range: tuple[int, int] | None = None
        self.send_body = True

    def _set_header(self, name: str, value: str | None) -> None:
        for key in [k for k in self.headers if k.lower() == name]:
            del self.headers[key]
        if value is not None:
            self.headers[name] = value

    def _describe_whole(self, result: os.stat_result) -> None:
        """Headers for the whole of the file as opened (its plan, if any, no longer holds)."""
        if self.status_code == 206:
            self.status_code = 200
        self.byte_range = None
        self._set_header("content-range", None)
        self._set_header("content-length", str(result.st_size))
        self._set_header("etag", etag_of(result))
        self._set_header("last-modified", http_date(result.st_mtime))

    async def send(self, send: Send) -> None:
        """Open the file, send the start with its headers, then its bytes chunk by chunk."""
        if not self.send_body and self.planned_stat is not None:
            await self._send_start(send)  # HEAD: the headers were made from a stat already
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            fd, result = await trio.to_thread.run_sync(_open_regular, self.path)
        except (OSError, ValueError) as exc:
            logger.warning("Cannot send file %s: %s", self.path, exc)
            await JSONResponse({"detail": "Not found"}, 404).send(send)
            return
        try:
            if self.planned_stat is None or not _same_file(self.planned_stat, result):
                self._describe_whole(result)
            start, end = self.byte_range or (0, result.st_size)
            await self._send_start(send)
            if self.send_body:
                await self._send_bytes(send, fd, start, end)
            else:
                await send({"type": "http.response.body", "body": b""})
        finally:
            os.close(fd)

    async def _send_start(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers(),
            }
        )

    async def _send_bytes(self, send: Send, fd: int, start: int, end: int) -> None:
        offset = start
        if offset >= end:
            await send({"type": "http.response.body", "body": b""})
            return
        while offset < end:
            size = min(self.chunk_size, end - offset)
            chunk = await trio.to_thread.run_sync(_read, fd, size, offset)
            if not chunk:
                raise OSError(f"{self.path} shrank while it was being sent")
            offset += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": offset < end})
