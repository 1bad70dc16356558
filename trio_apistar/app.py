"""``ASyncApp``: build the app once, then dispatch each ASGI call to the lifetime it starts.

Building plans every route and hook (``planning.py``): anything unresolvable is a
``ConfigurationError`` here, not at the first request. Each ASGI call is then one lifetime,
in a module of its own:

* ``lifespan``: the app (``AppNursery``, startup, 1001 to every WebSocket at shutdown),
  ``lifespan.py``;
* ``http``: one request, ``exchange.py``;
* ``websocket``: one connection, ``session.py``.

Lifetimes nest: the app contains connections, and a connection (its own nursery,
``trio.Nursery`` to handlers) contains its handler and hooks (docs/concurrency.md).
"""

import resource
from collections.abc import Callable, Hashable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import trio

from ._types import ASGIReceive, ASGIScope, ASGISend, Receive, Scope, Send
from .broadcast import Broadcast
from .components import BUILTIN_COMPONENTS
from .context import AppContext, AppStatistics, Settings
from .datastructures import origin_form
from .exceptions import ConfigurationError
from .exchange import run_http
from .http import PathParams
from .injector import Component, Injector
from .lifespan import close_websockets, run_lifespan
from .nurseries import AppNursery
from .planning import Planner
from .routing import Include, Route, Router
from .session import run_websocket
from .websocket import status

__all__ = ["ASyncApp"]

#: The root path of the request being served in this task (``reverse_url`` prefixes it).
_ROOT_PATH: ContextVar[str] = ContextVar("trio_apistar_root_path", default="")

_BASE_KEYS: frozenset[Hashable] = frozenset(
    {ASGIScope, ASGIReceive, ASGISend, Route, PathParams, trio.Nursery, AppNursery}
)


def _positive(name: str, value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, not {value!r}")
    return value


def _max_websockets(value: int | Literal["auto"] | None) -> int | None:
    if value == "auto":
        # Each WebSocket holds a file descriptor for long: keep half of them for HTTP, files
        # and backends, so that a flood of sockets cannot starve the rest.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return None if soft == resource.RLIM_INFINITY else max(1, soft // 2)
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"max_websockets must be a positive int, 'auto' or None, not {value!r}")
    return value


class ASyncApp:
    """An ASGI 3 application: routes, components, event hooks and lifespan functions.

    ``event_hooks`` holds hook classes (instantiated per request, so they can keep state between
    their methods) or instances (shared). Each may define ``on_request``, ``on_response`` and
    ``on_error``, sync or async, injected like handlers; a hook that asks for something a kind of
    connection does not have (``WebSocket`` on HTTP, ``http.Response`` on a WebSocket) is not
    run for that kind. ``broadcast``: a ``Broadcast`` that runs while the app serves (started
    before the ``on_startup`` functions, stopped after the ``on_shutdown`` ones); handlers,
    hooks, components and lifespan functions get it by annotating ``broadcast: Broadcast``.
    Raises ``ConfigurationError`` for anything that cannot be resolved.

    The limits on clients (docs/deployment.md, "Limits and timeouts"): ``max_body_size`` and
    ``body_timeout`` (413, 408), ``websocket_max_message_size`` (1009), ``websocket_queue_size``
    (messages held each way before backpressure), ``websocket_send_timeout`` (a client that
    takes nothing we send for that long is given up on), ``websocket_idle_timeout`` (a client
    that sends nothing for that long is closed with 1001) and ``max_websockets`` (503 past it;
    ``"auto"`` is half the process's file-descriptor limit). ``None`` lifts a timeout or limit;
    anything not positive is a ``ValueError``.

    ``gc_freeze``: once startup is complete, collect garbage once and freeze what is left
    (``gc.freeze()``, once per process), so that later collections skip the modules, classes,
    plans and validators built at startup (docs/deployment.md, "Garbage collection").
    """

    def __init__(
        self,
        routes: Sequence[Route | Include],
        components: Iterable[Component] | None = None,
        event_hooks: Iterable[Any] | None = None,
        *,
        on_startup: Iterable[Callable[..., Any]] = (),
        on_shutdown: Iterable[Callable[..., Any]] = (),
        max_body_size: int = 1024 * 1024,
        websocket_max_message_size: int = 1024 * 1024,
        websocket_queue_size: int = 4,
        websocket_send_timeout: float | None = 20.0,
        websocket_idle_timeout: float | None = 300.0,
        max_websockets: int | Literal["auto"] | None = "auto",
        body_timeout: float | None = 60.0,
        broadcast: Broadcast | None = None,
        gc_freeze: bool = True,
    ) -> None:
        if broadcast is not None and not isinstance(broadcast, Broadcast):
            raise ConfigurationError(
                f"broadcast= takes a Broadcast, not {type(broadcast).__name__}"
            )
        self.broadcast = broadcast
        provided: dict[Hashable, Any] = {} if broadcast is None else {Broadcast: broadcast}
        self.router = Router(routes)
        self.injector = Injector([*(components or ()), *BUILTIN_COMPONENTS])
        self.event_hooks = list(event_hooks or ())
        self.settings = Settings(
            max_body_size=max_body_size,
            websocket_max_message_size=websocket_max_message_size,
            websocket_queue_size=websocket_queue_size,
            websocket_send_timeout=_positive("websocket_send_timeout", websocket_send_timeout),
            websocket_idle_timeout=_positive("websocket_idle_timeout", websocket_idle_timeout),
            max_websockets=_max_websockets(max_websockets),
            body_timeout=_positive("body_timeout", body_timeout),
            gc_freeze=gc_freeze,
        )
        app_keys = frozenset({type(self), ASyncApp})
        lifespan_keys = app_keys | {AppNursery} | provided.keys()
        planner = Planner(
            self.router,
            self.injector,
            self.event_hooks,
            _BASE_KEYS | app_keys | provided.keys(),
            needs_task=frozenset({trio.Nursery, ASGIReceive}),
        )
        self._context = AppContext(
            self,
            app_keys,
            self.router,
            planner.routes,
            planner.no_route,
            self.event_hooks,
            self.settings,
            on_startup=[self.injector.plan(f, lifespan_keys) for f in on_startup],
            on_shutdown=[self.injector.plan(f, lifespan_keys) for f in on_shutdown],
            provided=provided,
            services=[] if broadcast is None else [broadcast.run],
        )

    @property
    def max_body_size(self) -> int:
        """The largest request body accepted, in bytes (413 past it)."""
        return self.settings.max_body_size

    @property
    def websocket_max_message_size(self) -> int:
        """The largest WebSocket message accepted, in bytes (close 1009 past it)."""
        return self.settings.websocket_max_message_size

    @property
    def websocket_queue_size(self) -> int:
        """How many messages a WebSocket holds each way before backpressure."""
        return self.settings.websocket_queue_size

    def statistics(self) -> AppStatistics:
        """Counters for monitoring and tests (open WebSockets, ...)."""
        return self._context.statistics()

    def router_params(self, route: Route) -> list[str]:
        """The path parameter names of ``route``."""
        for compiled in self.router.routes:
            if compiled.route is route:
                return list(compiled.converters)
        return []

    def reverse_url(self, name: str, /, **params: Any) -> str:
        """The URL path of the route named ``name`` (``'namespace:name'`` inside an
        ``Include``) with ``params`` filled in.

        While a request is served under a root path (``hypercorn --root-path /app``), the path
        starts with it. Raises ``NotFound`` for an unknown name and ``ValueError`` for missing,
        extra or unmatchable params.
        """
        return _ROOT_PATH.get() + self.router.reverse_url(name, **params)

    def openapi(self, *, title: str = "API", version: str = "0.1.0", **info: Any) -> dict[str, Any]:
        """An OpenAPI 3.1 document describing the HTTP routes (see docs/types.md).

        ``info`` may hold ``description`` and ``servers`` (a list of ``{"url": ...}``).
        """
        from .openapi import openapi

        return openapi(self.router, self._context.routes, title=title, version=version, **info)

    def asyncapi(
        self, *, title: str = "API", version: str = "0.1.0", **info: Any
    ) -> dict[str, Any]:
        """An AsyncAPI 3.0 document describing the WebSocket routes (see docs/types.md).

        ``info`` may hold ``description`` and ``servers`` (AsyncAPI's map of server objects).
        """
        from .asyncapi import asyncapi

        return asyncapi(self.router, self._context.routes, title=title, version=version, **info)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point; raises ``RuntimeError`` for an unknown scope type."""
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if not scope["path"].startswith("/"):
                scope = origin_form(scope)  # ``GET http://host/path``
            run = run_http if kind == "http" else run_websocket
            root = scope.get("root_path")
            if not root:
                await run(self._context, scope, receive, send)
                return
            token = _ROOT_PATH.set(root)
            try:
                await run(self._context, scope, receive, send)
            finally:
                _ROOT_PATH.reset(token)
        elif kind == "lifespan":
            await run_lifespan(self._context, scope, receive, send)
        else:
            raise RuntimeError(f"Unknown ASGI scope type {kind!r}")

    async def close_websockets(self, code: int = status.WS_1001_LEAVING) -> None:
        """Close every open WebSocket with ``code`` (1001, going away, at shutdown).

        Their handlers see ``WebSocketDisconnect(code)``, as if the client had left.
        """
        await close_websockets(self._context, code)

    def serve(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve the app with Hypercorn's trio worker until SIGINT/SIGTERM (blocking).

        ``options`` are Hypercorn ``Config`` attributes (``graceful_timeout=5``, ...).
        """
        from .serve import run  # Hypercorn is imported only when the app serves itself

        run(self, host, port, **options)
