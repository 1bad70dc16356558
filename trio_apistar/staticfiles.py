"""``Static``: a route that serves the files of a directory, and ``StaticFiles``, its handler.

``Static('/static', directory='static')`` answers ``GET`` and ``HEAD`` on ``/static/{+path}``
(route name ``'static'``, so ``app.reverse_url('static', path='app.js')`` is
``'/static/app.js'``), with:

* ``Content-Type`` from the file name; ``ETag`` and ``Last-Modified``, and ``304 Not Modified``
  for ``If-None-Match`` / ``If-Modified-Since`` (``If-None-Match`` wins when both are sent);
* single byte ranges (``Range: bytes=0-99``, ``bytes=100-``, ``bytes=-100``) as ``206`` with
  ``Content-Range``, honouring ``If-Range``; ``416`` for a range past the end; several ranges
  get the whole file (``200``), which HTTP allows;
* a directory's ``index.html`` for ``/static/docs/``, and a redirect from ``/static/docs``;
* no way out of the directory: ``..`` and ``.`` segments (however encoded: the server decodes
  ``%2e%2e`` before routing), empty segments (``//``, absolute paths), backslashes, NUL
  bytes, and names that resolve (through symlinks) outside the directory all get ``404``.
  Hidden files (a segment starting with ``.``: ``.env``, ``.git/``) get ``404`` too unless
  ``dotfiles=True``.

Every file system call runs in a worker thread; files are streamed by :class:`FileResponse`.
"""

import os
import re
import stat
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import trio

from .datastructures import Headers
from .exceptions import ConfigurationError, NotFound
from .fileresponse import CHUNK_SIZE, FileResponse, etag_of, http_date, media_type_of
from .http import JSONResponse, Method, Response
from .routing import Route

__all__ = ["Static", "StaticFiles"]

#: What the lookup thread found: a file (its real path and stat), a directory that wants its
#: trailing slash, or nothing.
_Found = tuple[str, os.stat_result] | str | None
_REDIRECT = "redirect"
_UNSATISFIABLE = "unsatisfiable"
_RANGE = re.compile(r"([0-9]{0,19})-([0-9]{0,19})")


class StaticFiles:
    """Serves the files under ``directory``: its :meth:`serve` is a route handler.

    ``index`` is the file served for a directory (``None``: directories are 404);
    ``dotfiles=True`` serves hidden files; ``cache_control`` is sent as ``Cache-Control`` with
    every file (e.g. ``'public, max-age=3600'``); ``chunk_size`` is how many bytes are read
    and sent at a time. ``directory`` is made absolute now, so a later ``chdir`` does not move
    it; symlinks in it are followed (a deploy's ``current -> releases/42`` works), as long as
    what they point to is inside it. Raises ``ConfigurationError`` if ``directory`` is not a
    directory.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        dotfiles: bool = False,
        cache_control: str | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(self.directory):
            raise ConfigurationError(f"Static files directory {self.directory!r} does not exist")
        if index is not None and ("/" in index or "\\" in index or index in ("", ".", "..")):
            raise ConfigurationError(f"index must be a file name, not {index!r}")
        if chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be positive, not {chunk_size}")
        self.index = index
        self.dotfiles = dotfiles
        self.cache_control = cache_control
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"StaticFiles({self.directory!r})"

    async def serve(self, path: str, method: Method, headers: Headers) -> Response:
        """Answer a ``GET`` or ``HEAD`` for ``path``, relative to the directory.

        Raises ``NotFound`` for anything that is not a file inside the directory (or a
        directory with an index file); returns the file, a ``304``, a ``206``, a ``416`` or a
        redirect to the directory's URL with a trailing slash.
        """
        segments, wants_directory = self._segments(path)
        found = await trio.to_thread.run_sync(self._lookup, segments, wants_directory)
        if found is None:
            raise NotFound()
        if not isinstance(found, tuple):
            # Relative, so it holds under any prefix (Include, root_path): 'docs' -> 'docs/'.
            last = quote(segments[-1], safe="")
            return Response(b"", 307, {"location": f"./{last}/"})
        real_path, result = found
        etag = etag_of(result)
        validators = {"etag": etag, "last-modified": http_date(result.st_mtime)}
        if self.cache_control is not None:
            validators["cache-control"] = self.cache_control
        if _not_modified(headers, etag, result.st_mtime):
            return Response(b"", 304, validators)
        size = result.st_size
        byte_range = _byte_range(headers, size, etag, result.st_mtime)
        if byte_range == _UNSATISFIABLE:
            return JSONResponse(
                {"detail": "Requested range not satisfiable"},
                416,
                {"content-range": f"bytes */{size}", "accept-ranges": "bytes"},
            )
        response_headers = {**validators, "accept-ranges": "bytes"}
        status_code = 200
        start, end = 0, size
        if isinstance(byte_range, tuple):
            start, end = byte_range
            status_code = 206
            response_headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        response_headers["content-length"] = str(end - start)
        # The name asked for says what it is (a symlink 'app.js' -> 'build-3f2a' is JavaScript);
        # for a directory, its index file's name.
        name = real_path if wants_directory else segments[-1]
        response = FileResponse(
            real_path,
            status_code,
            response_headers,
            media_type_of(name),
            chunk_size=self.chunk_size,
        )
        response.planned_stat = result
        response.byte_range = (start, end) if status_code == 206 else None
        response.send_body = method != "HEAD"
        return response

    def _segments(self, path: str) -> tuple[list[str], bool]:
        """The path's segments and whether it names a directory (a trailing slash).

        Raises ``NotFound`` for any segment that could leave the directory or is hidden.
        """
        wants_directory = path == "" or path.endswith("/")
        segments = path.split("/")
        if wants_directory:
            segments.pop()
        for segment in segments:
            if (
                segment in ("", ".", "..")  # '' is '//' or an absolute path
                or "\\" in segment
                or "\x00" in segment
                or (segment.startswith(".") and not self.dotfiles)
                or os.path.isabs(segment)
                or os.path.splitdrive(segment)[0]
            ):
                raise NotFound()
        return segments, wants_directory

    def _lookup(self, segments: list[str], wants_directory: bool) -> _Found:
        """Find the file (in a worker thread: every call here may touch the disk)."""
        root = os.path.realpath(self.directory)
        try:
            real = _inside(root, os.path.join(root, *segments))
            if real is None:
                return None
            result = os.stat(real)
            if stat.S_ISDIR(result.st_mode):
                if self.index is None:
                    return None
                index = _inside(root, os.path.join(real, self.index))
                if index is None:
                    return None
                index_result = os.stat(index)
                if not stat.S_ISREG(index_result.st_mode):
                    return None
                if not wants_directory:
                    return _REDIRECT
                return index, index_result
        except (OSError, ValueError):  # gone, too long a name, not encodable, no permission
            return None
        if wants_directory or not stat.S_ISREG(result.st_mode):
            return None
        return real, result


def _inside(root: str, path: str) -> str | None:
    """``path`` with every symlink resolved, if that is inside ``root``; else ``None``."""
    real = os.path.realpath(path)
    return real if os.path.commonpath([root, real]) == root else None


def _http_date_seconds(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _etags(value: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()]


def _not_modified(headers: Headers, etag: str, mtime: float) -> bool:
    """RFC 9110 13.1.2-3: If-None-Match (weak comparison), else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    since = _http_date_seconds(if_modified_since)
    # HTTP dates have whole seconds: a file modified within the second is not newer.
    return since is not None and int(mtime) <= since


def _byte_range(
    headers: Headers, size: int, etag: str, mtime: float
) -> tuple[int, int] | str | None:
    """RFC 9110 14: ``(start, end)`` of the one range to send, ``"unsatisfiable"``, or
    ``None`` for the whole file (no Range, one we do not understand, several ranges, or an
    ``If-Range`` that no longer matches). An empty file has no ranges to satisfy: it is sent
    whole."""
    value = headers.get("range")
    if value is None or size == 0:
        return None
    if_range = headers.get("if-range")
    if if_range is not None:
        if if_range.startswith(('"', "W/")):
            if if_range.strip() != etag:  # a strong comparison: W/ tags never match
                return None
        elif _http_date_seconds(if_range) != int(mtime):
            return None
    unit, _, ranges = value.partition("=")
    # ASCII digits only, and few enough for int() (which refuses thousands of them).
    found = _RANGE.fullmatch(ranges.strip())
    if unit.strip().lower() != "bytes" or found is None:
        return None  # several ranges, or one we do not understand
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # bytes=-N: the last N bytes
        suffix = int(last)
        return _UNSATISFIABLE if suffix == 0 else (max(size - suffix, 0), size)
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range: ignored, as RFC 9110 14.1.1 allows
    if start >= size:
        return _UNSATISFIABLE
    return start, min(int(last) + 1, size) if last else size


class Static(Route):
    """A route serving ``directory`` under ``url``: ``GET``/``HEAD`` on ``url + '/{+path}'``.

    ``name`` is the route name for ``reverse_url(name, path=...)``; the other options are
    :class:`StaticFiles`'. ``Static('/', directory=...)`` serves a whole site from the root:
    it matches every path no other route takes, so list it last. Raises
    ``ConfigurationError`` if ``directory`` is not a directory.
    """

    vets_paths = True  # every way out of the directory is a 404 (StaticFiles._segments)

    def __init__(
        self,
        url: str,
        directory: str | os.PathLike[str],
        *,
        name: str = "static",
        index: str | None = "index.html",
        dotfiles: bool = False,
        cache_control: str | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.files = StaticFiles(
            directory,
            index=index,
            dotfiles=dotfiles,
            cache_control=cache_control,
            chunk_size=chunk_size,
        )
        super().__init__(url.rstrip("/") + "/{+path}", "GET", self.files.serve, name=name)
