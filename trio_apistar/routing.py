"""Routing: ``Route``, ``Include`` and the compiled ``Router``.

A URL template names its path parameters in braces: ``/users/{user_id}``. The parameter's type
comes from the handler's annotation of the same name: ``int`` and ``float`` match numbers only,
``str`` (or no annotation) matches one path segment, and ``{+name}`` (or ``{name:path}``) matches
the rest of the path, slashes included. A parameter holding a NUL character, or a ``{+name}``
holding a ``..`` segment, is refused with ``BadRequest`` (400), unless the route vets its
paths itself (``Route.vets_paths``, as ``Static`` does).

Static paths are found with one dict lookup; templated ones by their compiled patterns, in the
order they were declared. Pure Python: the router knows nothing of how handlers get their
arguments.
"""

import difflib
import inspect
import re
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, ClassVar, NamedTuple
from urllib.parse import quote

from . import validation
from .exceptions import BadRequest, ConfigurationError, MethodNotAllowed, NotFound
from .injector import signature

__all__ = ["METHODS", "Include", "Route", "Router"]

_PARAM = re.compile(r"{(\+?)([A-Za-z_][A-Za-z0-9_]*)(?::(path|int|float|str))?}")

#: Anything in braces, to find templates ``_PARAM`` does not accept (``{item id}``, ``{x:num}``).
_BRACES = re.compile(r"{[^{}]*}")

#: The IANA HTTP method registry (RFC 9110, PATCH, WebDAV, ...), less HTTP/2's PRI preface.
METHODS = frozenset(
    """ACL BASELINE-CONTROL BIND CHECKIN CHECKOUT CONNECT COPY DELETE GET HEAD LABEL LINK LOCK
    MERGE MKACTIVITY MKCALENDAR MKCOL MKREDIRECTREF MKWORKSPACE MOVE OPTIONS ORDERPATCH PATCH POST
    PROPFIND PROPPATCH PUT QUERY REBIND REPORT SEARCH TRACE UNBIND UNCHECKOUT UNLINK UNLOCK UPDATE
    UPDATEREDIRECTREF VERSION-CONTROL""".split()
)
#: Offered first when a method looks misspelt.
_COMMON_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _segment(value: str) -> str:
    # Servers decode %00: a NUL would reach file and database APIs that stop at it.
    if "\x00" in value:
        raise BadRequest("Path parameters may not contain a NUL character")
    return value


def _path(value: str) -> str:
    # So that a route serving files below a folder can never be walked out of it.
    _segment(value)
    if ".." in value.split("/"):
        raise BadRequest("Path parameters may not contain '..' segments")
    return value


_CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[^/]+", _segment),
    "int": (r"-?[0-9]+", int),
    "float": (r"-?[0-9]+(?:\.[0-9]+)?", float),
    "path": (r".*", _path),
}


class Route:
    """Map ``method`` requests to ``url`` onto ``handler``.

    ``name`` (default: the handler's ``__name__``) is what :meth:`ASyncApp.reverse_url` takes.
    A WebSocket handler is routed with ``'GET'`` like any other, as in
    ``Route('/ws', 'GET', chat)``. ``method`` is case-insensitive. ``receives`` and ``sends``
    name the types of the messages a WebSocket route receives and sends (a type, or a list of
    types), for ``app.asyncapi()``; ``include_in_schema=False`` leaves the route out of
    ``app.openapi()``/``app.asyncapi()``.

    Raises ``TypeError`` for a ``url``, ``method`` or ``name`` that is not a string or a
    ``handler`` that is not callable, and ``ConfigurationError`` for a URL that does not start
    with ``/``, a malformed path template (``{item_id`` without its ``}``, ``{item id}``, an
    unknown ``{name:converter}``) or a method that is not an HTTP method (``'GTE'``).
    """

    #: True for a route that vets its own ``{+path}`` values (``Static`` answers 404 for every
    #: way out of its directory). For any other, the router refuses a path parameter holding a
    #: NUL character or a ``..`` segment with 400 before the handler runs.
    vets_paths: ClassVar[bool] = False

    def __init__(
        self,
        url: str,
        method: str,
        handler: Callable[..., Any],
        name: str | None = None,
        *,
        receives: Any = None,
        sends: Any = None,
        include_in_schema: bool = True,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"Route URL must be a str such as '/items', not {url!r}")
        if not callable(handler):
            raise TypeError(
                f"Route {url!r}: the handler must be a function (or another callable), not "
                f"{type(handler).__name__} {handler!r}; pass the function itself"
            )
        if not isinstance(method, str):
            raise TypeError(
                f"Route {url!r}: the method must be a str such as 'GET', not {method!r} "
                "(one Route per method)"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Route {url!r}: name must be a str, not {name!r}")
        self.url = url
        self.method = method.upper()
        self.handler = handler
        self.name = name if name is not None else _name_of(handler)
        where = f"Route({url!r}, {method!r}, {self.name})"
        if not url.startswith("/"):
            raise ConfigurationError(f"{where}: the URL must start with '/'")
        _check_template(url, where)
        if self.method not in METHODS:
            raise ConfigurationError(f"{where}: {_explain_method(self.method)}")
        self.receives = _types_of(receives)
        self.sends = _types_of(sends)
        self.include_in_schema = include_in_schema

    def __repr__(self) -> str:
        return f"Route({self.url!r}, {self.method!r}, {self.name})"


def _types_of(declared: Any) -> tuple[Any, ...]:
    if declared is None:
        return ()
    if isinstance(declared, list | tuple):
        return tuple(declared)
    return (declared,)


def _name_of(handler: Callable[..., Any]) -> str:
    name = getattr(handler, "__name__", None)
    return name if isinstance(name, str) else type(handler).__name__


def _check_template(url: str, where: str) -> None:
    """Raise ``ConfigurationError`` for braces in ``url`` that are not a path parameter."""
    for group in _BRACES.finditer(url):
        if _PARAM.fullmatch(group.group()) is None:
            inner = group.group()[1:-1]
            name, colon, kind = inner.partition(":")
            if colon and re.fullmatch(r"\+?[A-Za-z_][A-Za-z0-9_]*", name):
                why = f"unknown converter {kind!r} (use path, int, float or str)"
            else:
                why = "a path parameter is a Python identifier, e.g. {item_id}"
            raise ConfigurationError(f"{where}: malformed path parameter {group.group()!r}: {why}")
    rest = _BRACES.sub("", url)
    if "{" in rest or "}" in rest:
        raise ConfigurationError(
            f"{where}: unbalanced braces in the URL (each path parameter is written "
            "{name}, e.g. '/items/{item_id}')"
        )


def _explain_method(method: str) -> str:
    """Why ``method`` is refused, with the method probably meant."""
    if not method or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", method):
        return f"{method!r} is not an HTTP method (one method per Route, e.g. 'GET')"
    meant = difflib.get_close_matches(method, _COMMON_METHODS, n=1, cutoff=0.5)
    meant = meant or difflib.get_close_matches(method, sorted(METHODS), n=1, cutoff=0.6)
    if meant:
        return f"unknown HTTP method {method!r}; did you mean {meant[0]!r}?"
    return f"unknown HTTP method {method!r}; use one of {', '.join(_COMMON_METHODS)}"


class Include:
    """A group of routes under a common URL prefix and name namespace (``'users:detail'``)."""

    def __init__(self, url: str, name: str, routes: Sequence["Route | Include"]) -> None:
        if not isinstance(url, str) or not isinstance(name, str):
            raise TypeError(f"Include takes a str URL and a str name, not {url!r} and {name!r}")
        if not url.startswith("/"):
            raise ConfigurationError(f"Include URL {url!r} must start with '/'")
        _check_template(url, f"Include({url!r}, {name!r})")
        self.url = url.rstrip("/")
        self.name = name
        self.routes = _route_list(routes, f"Include({url!r}, {name!r})")

    def __repr__(self) -> str:
        return f"Include({self.url!r}, {self.name!r}, {len(self.routes)} routes)"


class CompiledRoute(NamedTuple):
    """A route with its full URL, full name, pattern and path-parameter converters."""

    route: Route
    url: str
    name: str
    regex: re.Pattern[str] | None
    converters: dict[str, Callable[[str], Any]]


class Match(NamedTuple):
    """What :meth:`Router.match` found."""

    route: Route
    path_params: dict[str, Any]


def _route_list(routes: Sequence["Route | Include"], where: str) -> list["Route | Include"]:
    if isinstance(routes, str | bytes | Route | Include) or not isinstance(routes, Sequence):
        raise TypeError(f"{where} takes a list of Route and Include objects, not {routes!r}")
    return list(routes)


def _flatten(
    routes: Sequence[Route | Include], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[Route, str, str]]:
    for item in routes:
        if isinstance(item, Include):
            yield from _flatten(item.routes, prefix + item.url, f"{namespace}{item.name}:")
        elif isinstance(item, Route):
            yield item, prefix + item.url, namespace + item.name
        elif callable(item):
            raise ConfigurationError(
                f"Expected a Route or Include, got {item!r}: wrap a handler in "
                "Route(url, method, handler)"
            )
        else:
            raise ConfigurationError(f"Expected a Route or Include, got {item!r}")


def _compile(route: Route, url: str, name: str) -> CompiledRoute:
    annotations = {p.name: p.annotation for p in signature(route.handler).parameters.values()}
    converters: dict[str, Callable[[str], Any]] = {}
    pattern = "^"
    position = 0
    for match in _PARAM.finditer(url):
        plus, param, explicit = match.groups()
        if param in converters:
            raise ConfigurationError(f"Path parameter {param!r} appears twice in {url!r}")
        if param not in annotations:
            raise ConfigurationError(
                f"Route {url!r}: handler {route.handler.__qualname__} has no parameter "
                f"{param!r} for the path parameter of that name"
            )
        kind = "path" if plus else explicit or _kind_of(annotations[param], url, param)
        regex, convert = _CONVERTERS[kind]
        if kind == "path" and route.vets_paths:
            convert = str
        pattern += re.escape(url[position : match.start()]) + f"(?P<{param}>{regex})"
        converters[param] = convert
        position = match.end()
    if not converters:
        return CompiledRoute(route, url, name, None, {})
    pattern += re.escape(url[position:]) + "$"
    return CompiledRoute(route, url, name, re.compile(pattern), converters)


def _kind_of(annotation: Any, url: str, param: str) -> str:
    if typing.get_origin(annotation) is Annotated:  # constraints are checked once matched
        annotation = typing.get_args(annotation)[0]
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation in (str, Any) or annotation is inspect.Parameter.empty:
        return "str"
    # NewType markers over str (e.g. http.Path) behave as strings.
    if getattr(annotation, "__supertype__", None) is str:
        return "str"
    # Any other plain value type (UUID, Decimal, date, an Enum, ...) matches one segment and is
    # validated from it before the handler runs.
    if validation.is_query_annotation(annotation) and not validation.is_list_annotation(annotation):
        return "str"
    raise ConfigurationError(
        f"Route {url!r}: path parameter {param!r} is annotated {annotation!r}; use int, float, "
        "str or another plain value type (UUID, Decimal, date, an Enum, ...)"
    )


class Router:
    """Finds the route for a path and method; builds URLs back from route names."""

    def __init__(self, routes: Sequence[Route | Include]) -> None:
        routes = _route_list(routes, "The app's routes")
        self.routes: list[CompiledRoute] = []
        self._static: dict[str, dict[str, CompiledRoute]] = {}
        self._dynamic: list[CompiledRoute] = []
        self._by_name: dict[str, CompiledRoute] = {}
        for route, url, name in _flatten(routes):
            compiled = _compile(route, url, name)
            if name in self._by_name:
                raise ConfigurationError(f"Two routes are named {name!r}; give one a name=")
            self._by_name[name] = compiled
            self.routes.append(compiled)
            if compiled.regex is None:
                methods = self._static.setdefault(url, {})
                if route.method in methods:
                    raise ConfigurationError(f"Two routes for {route.method} {url}")
                methods[route.method] = compiled
            else:
                if any(d.url == url and d.route.method == route.method for d in self._dynamic):
                    raise ConfigurationError(f"Two routes for {route.method} {url}")
                self._dynamic.append(compiled)

    def match(self, path: str, method: str) -> Match:
        """The route for ``method`` on ``path`` and its converted path parameters.

        ``HEAD`` falls back to a ``GET`` route. Raises ``NotFound`` if no route has this path and
        ``MethodNotAllowed`` if some have it but not for this method.
        """
        methods = self._static.get(path)
        if methods is not None:
            compiled = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
            if compiled is not None:
                return Match(compiled.route, {})
        allowed = set(methods or ())
        for compiled in self._dynamic:
            assert compiled.regex is not None
            found = compiled.regex.match(path)
            if found is None:
                continue
            route_method = compiled.route.method
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                try:
                    params = {
                        name: convert(value)
                        for (name, convert), value in zip(
                            compiled.converters.items(), found.groups(), strict=True
                        )
                    }
                except ValueError:
                    continue
                return Match(compiled.route, params)
            allowed.add(route_method)
        if allowed:
            raise MethodNotAllowed(headers={"allow": ", ".join(sorted(allowed))})
        raise NotFound()

    def reverse_url(self, name: str, /, **params: Any) -> str:
        """The URL of the route called ``name`` with ``params`` filled in.

        Values are percent-encoded (``/`` is kept in ``{+path}`` parameters). Raises
        ``NotFound`` for an unknown name and ``ValueError`` for missing or extra params, or
        values the route would not match (``'x'`` for an int, a ``/`` in a one-segment
        parameter).
        """
        compiled = self._by_name.get(name)
        if compiled is None:
            raise NotFound(f"No route named {name!r}")
        expected = set(compiled.converters)
        if set(params) != expected:
            raise ValueError(
                f"Route {name!r} takes parameters {sorted(expected)}, got {sorted(params)}"
            )

        def fill(match: re.Match[str], quoted: bool) -> str:
            plus, param, kind = match.groups()
            value = str(params[param])
            if not quoted:
                return value
            return quote(value, safe="/" if plus or kind == "path" else "")

        path = _PARAM.sub(lambda m: fill(m, quoted=False), compiled.url)
        # The URL must lead back to this route with these very values (an int where an int is
        # expected, no '/' inside a one-segment parameter).
        found = compiled.regex.fullmatch(path) if compiled.regex is not None else None
        if compiled.regex is not None and (
            found is None
            or any(found.group(name) != str(params[name]) for name in compiled.converters)
        ):
            raise ValueError(f"Route {name!r} does not match the parameters {params!r}")
        return _PARAM.sub(lambda m: fill(m, quoted=True), compiled.url)
