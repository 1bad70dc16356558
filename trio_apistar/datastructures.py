"""Immutable request data structures: ``URL``, ``Headers`` and ``QueryParams``, and the paths
of a request.

They are built lazily from the ASGI scope and never change once built, so components can share
one instance for the whole connection.

An app mounted under a prefix (``hypercorn --root-path /app``) gets ``root_path`` in its scope,
and ``path`` includes it (as Hypercorn, Starlette and asgiref read the ASGI spec): a request for
``/app/items`` is routed as ``/items`` (:func:`route_path`), and its URL is ``.../app/items``. A
server that leaves the prefix out of ``path`` is understood too.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from ._types import Scope

__all__ = ["URL", "Headers", "QueryParams", "origin_form", "route_path"]


def origin_form(scope: Scope) -> Scope:
    """``scope`` with an absolute-form request target (``GET http://host/path``) made
    origin-form: ``path`` and ``raw_path`` keep only the path, and the target's authority
    replaces the Host header (RFC 9112 3.2.2). Any other scope is returned as is."""
    path = scope["path"]
    if path.startswith("/") or "://" not in path:
        return scope
    target = urlsplit(path)
    scope = dict(scope)
    scope["path"] = target.path or "/"
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes) and b"://" in raw_path:
        scope["raw_path"] = urlsplit(raw_path).path or b"/"
    if target.netloc:
        host = target.netloc.rpartition("@")[2].encode("latin-1", "replace")
        headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"host"]
        scope["headers"] = [(b"host", host), *headers]
    return scope


def route_path(scope: Scope) -> str:
    """The path to route on: ``path`` without the ``root_path`` prefix (``/`` for the prefix
    itself). A path that does not start with the prefix (a server that stripped it already,
    or a request outside the mount) is routed as it is."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return "/"
    return rest if rest.startswith("/") else path


class URL(str):
    """The full request URL as a string, with its parts as attributes.

    ``URL.from_scope(scope)`` rebuilds it from an ASGI scope (scheme, Host header or server
    address, path with the root path in it once, and query string).
    """

    @classmethod
    def from_scope(cls, scope: Scope) -> "URL":
        """Build the URL a client used to reach this scope."""
        scheme = scope.get("scheme", "http")
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if host is None:
            server = scope.get("server")
            if server is None:
                host = "localhost"
            else:
                default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
                host_name, port = server[0], server[1]
                host = host_name if port == default_port or port is None else f"{host_name}:{port}"
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and not path.startswith(root):
            path = root + path  # a server that left the prefix out of ``path``
        query = scope.get("query_string", b"")
        url = f"{scheme}://{host}{path}"
        if query:
            url += "?" + query.decode("latin-1")
        return cls(url)

    @property
    def components(self) -> SplitResult:
        """The parsed parts, as :func:`urllib.parse.urlsplit` returns them."""
        return urlsplit(self)

    @property
    def scheme(self) -> str:
        """``http``, ``https``, ``ws`` or ``wss``."""
        return self.components.scheme

    @property
    def netloc(self) -> str:
        """Host and port, as the client wrote them."""
        return self.components.netloc

    @property
    def path(self) -> str:
        """The path, without the query string."""
        return self.components.path

    @property
    def query(self) -> str:
        """The raw query string, without the ``?``."""
        return self.components.query


class _MultiDict(Mapping[str, str]):
    """An immutable mapping that also keeps every value of a repeated key, in order."""

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._list: list[tuple[str, str]] = list(items)
        # Mapping access gives the last value, as query strings and headers are usually read.
        self._dict: dict[str, str] = {self._key(k): v for k, v in self._list}

    @staticmethod
    def _key(key: str) -> str:
        return key

    def getlist(self, key: str) -> list[str]:
        """Every value given for ``key``, in order (``[]`` if none)."""
        key = self._key(key)
        return [v for k, v in self._list if self._key(k) == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """All ``(key, value)`` pairs, repeats included, in order."""
        return list(self._list)

    def __getitem__(self, key: str) -> str:
        return self._dict[self._key(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._key(key) in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _MultiDict):
            return type(self) is type(other) and sorted(self._list) == sorted(other._list)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._list)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class QueryParams(_MultiDict):
    """The query string's parameters: ``params['page']`` is the last value, ``getlist`` all."""

    __slots__ = ()

    @classmethod
    def from_query_string(cls, query_string: bytes | str) -> "QueryParams":
        """Parse a raw query string (blank values are kept as ``''``)."""
        if isinstance(query_string, bytes):
            query_string = query_string.decode("latin-1")
        return cls(parse_qsl(query_string, keep_blank_values=True))


class Headers(_MultiDict):
    """Request or response headers: case-insensitive keys, repeated headers kept."""

    __slots__ = ()

    @staticmethod
    def _key(key: str) -> str:
        return key.lower()

    @classmethod
    def from_raw(cls, raw: Sequence[tuple[bytes, bytes]] | Iterable[Any]) -> "Headers":
        """Build from ASGI ``[(name, value), ...]`` byte pairs."""
        return cls((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """Back to ASGI byte pairs."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._list]
