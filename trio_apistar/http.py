"""HTTP: the annotations handlers ask for, ``Request``, and the ``Response`` family.

Annotate a handler parameter with one of these to receive it::

    Method, Scheme, Host, Port, Path, QueryString  parts of the request line (str / int)
    URL, Headers, QueryParams                     immutable structures (see datastructures)
    Header, QueryParam, Cookie                    one value, looked up by the parameter's name
                                                  (``user_agent: Header`` reads User-Agent)
    Cookies                                       the request's cookies, as a dict
    Body                                          the raw request body (bytes)
    RequestData                                   the body parsed as JSON or a form
    PathParams                                    every path parameter, as a dict
    Request                                       all of the above in one object

A handler may return a ``Response`` (sent as is), a ``dict`` or ``list`` (sent as JSON), a
``str`` (HTML, as API Star does), ``bytes`` (``application/octet-stream``) or ``None`` (204).
A pydantic model, dataclass or ``TypedDict`` is sent as JSON by the handler's return annotation
(see docs/types.md); one inside a dict or list by its own type.
"""

import re
from collections.abc import AsyncIterable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, NewType

from ._json import dumps
from ._json import loads as loads_json
from ._types import Scope, Send
from .datastructures import URL, Headers, QueryParams

__all__ = [
    "URL",
    "Body",
    "Cookie",
    "Cookies",
    "HTMLResponse",
    "Header",
    "Headers",
    "Host",
    "JSONResponse",
    "Method",
    "Path",
    "PathParams",
    "PlainTextResponse",
    "Port",
    "QueryParam",
    "QueryParams",
    "QueryString",
    "Request",
    "RequestData",
    "Response",
    "Scheme",
    "StreamingResponse",
]

Method = NewType("Method", str)
Scheme = NewType("Scheme", str)
Host = NewType("Host", str)
Port = NewType("Port", int)
Path = NewType("Path", str)
QueryString = NewType("QueryString", str)
QueryParam = NewType("QueryParam", str)
Header = NewType("Header", str)
Cookie = NewType("Cookie", str)
Cookies = NewType("Cookies", dict[str, str])
Body = NewType("Body", bytes)
PathParams = NewType("PathParams", dict[str, Any])

if TYPE_CHECKING:
    # Parsed JSON can be any JSON value; let type checkers treat it as such.
    RequestData = Any
else:
    RequestData = NewType("RequestData", object)


class Request:
    """The whole HTTP request: method, url, headers, query params, path params and body."""

    __slots__ = ("body", "headers", "method", "path_params", "query_params", "scope", "url")

    def __init__(
        self,
        scope: Scope,
        method: str,
        url: URL,
        headers: Headers,
        query_params: QueryParams,
        path_params: dict[str, Any],
        body: bytes,
    ) -> None:
        self.scope = scope
        self.method = method
        self.url = url
        self.headers = headers
        self.query_params = query_params
        self.path_params = path_params
        self.body = body

    @property
    def client(self) -> tuple[str, int] | None:
        """``(host, port)`` of the client, when the server knows it."""
        client = self.scope.get("client")
        return None if client is None else (client[0], client[1])

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` (with a message fit for the client)
        if it is not JSON, is nested too deeply or holds ``NaN`` or ``Infinity``."""
        return loads_json(self.body)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class Response:
    """An HTTP response: bytes (or text, encoded as UTF-8), a status code and headers.

    ``headers`` is a plain dict, so ``on_response`` hooks can add to it. ``content-type`` and
    ``content-length`` are filled in when sent unless already present. Raises ``ValueError`` for
    a header HTTP cannot carry (a name that is not ASCII, a value that is not latin-1).
    """

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: Any = b"",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        #: ``Set-Cookie`` values, each sent as a header of its own (see :meth:`set_cookie`).
        self.cookies: list[str] = []
        for name, value in self.headers.items():
            try:
                name.encode("ascii"), value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(
                    f"Header {name!r}: {value!r} does not fit HTTP (ASCII names, latin-1 values)"
                ) from None
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | timedelta | None = None,
        expires: datetime | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (one per cookie; call it again for more), RFC 6265.

        ``expires`` is a ``datetime`` (naive means UTC) or an HTTP date string; ``samesite`` is
        ``'lax'``, ``'strict'``, ``'none'`` (which browsers accept only with ``secure=True``)
        or ``None``. Raises ``ValueError`` for a name or value a cookie cannot carry (encode the
        value first, e.g. with ``urllib.parse.quote``) and for such attributes.
        """
        if not _COOKIE_NAME.fullmatch(key):
            raise ValueError(f"{key!r} is not a cookie name")
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(
                f"Cookie {key!r}: {value!r} has characters a cookie cannot carry "
                "(spaces, quotes, commas, semicolons, backslashes, non-ASCII): encode it first"
            )
        parts = [f"{key}={value}"]
        if path is not None:
            parts.append(f"Path={_attribute(path)}")
        if domain is not None:
            parts.append(f"Domain={_attribute(domain)}")
        if max_age is not None:
            seconds = int(max_age.total_seconds()) if isinstance(max_age, timedelta) else max_age
            if isinstance(seconds, bool) or not isinstance(seconds, int):
                raise ValueError(f"max_age must be whole seconds, not {max_age!r}")
            parts.append(f"Max-Age={seconds}")
        if expires is not None:
            if isinstance(expires, datetime):
                moment = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
                expires = format_datetime(moment.astimezone(UTC), usegmt=True)
            parts.append(f"Expires={_attribute(expires)}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            same = samesite.lower()
            if same not in ("strict", "lax", "none"):
                raise ValueError(f"samesite must be 'strict', 'lax', 'none' or None: {samesite!r}")
            if same == "none" and not secure:
                raise ValueError("samesite='none' needs secure=True (browsers drop it otherwise)")
            parts.append(f"SameSite={same.capitalize()}")
        self.cookies.append("; ".join(parts))

    def delete_cookie(
        self,
        key: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Tell the client to forget cookie ``key`` (an expired ``Set-Cookie``).

        Pass the attributes it was set with: a ``__Secure-``/``__Host-`` cookie needs
        ``secure=True``, and ``path``/``domain`` must match for the browser to drop it.
        """
        self.set_cookie(
            key,
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes."""
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        raise TypeError(
            f"{type(self).__name__} content must be bytes or str, not {type(content).__name__}"
        )

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI byte pairs, with content-type and content-length added."""
        if not self.headers and not self.cookies and type(self).media_type is self.media_type:
            # The common case: no headers of the handler's own, the class's media type.
            cls = type(self)
            content_type = _CONTENT_TYPES.get(cls)
            if content_type is None:
                content_type = _CONTENT_TYPES[cls] = _content_type(cls.media_type, cls.charset)
            raw = [content_type] if content_type else []
            if not isinstance(self, StreamingResponse) and self.status_code not in _NO_BODY:
                raw.append((b"content-length", str(len(self.body)).encode()))
            return raw
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        names = {name for name, _ in raw}
        if b"content-type" not in names:
            content_type = _content_type(self.media_type, self.charset)
            if content_type:
                raw.append(content_type)
        if (
            b"content-length" not in names
            and not isinstance(self, StreamingResponse)
            and self.status_code not in _NO_BODY
        ):
            raw.append((b"content-length", str(len(self.body)).encode()))
        raw.extend((b"set-cookie", cookie.encode("latin-1")) for cookie in self.cookies)
        return raw

    async def send(self, send: Send) -> None:
        """Send this response through an ASGI ``send`` callable."""
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers(),
            }
        )
        await send({"type": "http.response.body", "body": self.body})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


_NO_BODY = frozenset({204, 304})
#: RFC 6265 4.1.1: a token for the name; cookie-octets for the value.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*")


def _attribute(value: str) -> str:
    if ";" in value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError(f"{value!r} cannot be a cookie attribute")
    return value


_CONTENT_TYPES: dict[type[Response], tuple[bytes, bytes] | tuple[()]] = {}


def _content_type(media_type: str | None, charset: str) -> tuple[bytes, bytes] | tuple[()]:
    if media_type is None:
        return ()
    if media_type.startswith("text/"):
        media_type += f"; charset={charset}"
    return (b"content-type", media_type.encode("latin-1"))


class JSONResponse(Response):
    """A response whose content is any JSON-serialisable value (compact UTF-8 JSON)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` as compact JSON."""
        return dumps(content).encode("utf-8")


class HTMLResponse(Response):
    """A ``text/html`` response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A ``text/plain`` response."""

    media_type = "text/plain"


class StreamingResponse(Response):
    """A response whose body comes from an (async) iterable of ``bytes`` or ``str`` chunks.

    Each chunk is sent as soon as it is produced. If the client leaves, the iteration is cancelled
    with the rest of the handler.
    """

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(b"", status_code, headers, media_type)
        self.content = content

    async def send(self, send: Send) -> None:
        """Send the start, then each chunk, then the end of the body."""
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers(),
            }
        )
        if isinstance(self.content, AsyncIterable):
            async for chunk in self.content:
                await send(
                    {"type": "http.response.body", "body": self._bytes(chunk), "more_body": True}
                )
        else:
            for chunk in self.content:
                await send(
                    {"type": "http.response.body", "body": self._bytes(chunk), "more_body": True}
                )
        await send({"type": "http.response.body", "body": b""})

    def _bytes(self, chunk: bytes | str) -> bytes:
        return chunk.encode(self.charset) if isinstance(chunk, str) else chunk
