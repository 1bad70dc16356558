"""What every lifetime of an app shares: its plans, hooks, limits and open sockets.

``ASyncApp`` builds one ``AppContext`` and hands it to the modules that run each lifetime:
``lifespan.py`` (the app), ``exchange.py`` (one HTTP request) and ``session.py`` (one
WebSocket). It also holds the steps every connection takes alike: the injection state it
starts from, the hook instances for it, and the report of an unhandled error (log line with
the traceback, ``on_error`` hooks).
"""

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import trio

from ._types import ASGIReceive, ASGIScope, ASGISend, Receive, Scope, Send
from .http import PathParams, Response
from .injector import Plan
from .nurseries import AppNursery, AppTasks, Helpers
from .planning import RoutePlan
from .routing import Route, Router
from .websocket import WebSocket

__all__ = [
    "RAISE_EXTENSION",
    "AppContext",
    "AppStatistics",
    "Settings",
    "is_cancellation",
    "unwrap",
]

logger = logging.getLogger("trio_apistar")

#: Put in ``scope["extensions"]`` by a test client that wants handler errors re-raised.
RAISE_EXTENSION = "trio_apistar.raise_server_exceptions"


@dataclass
class Settings:
    """The limits an app enforces on its clients (docs/deployment.md, "Limits and timeouts")."""

    max_body_size: int = 1024 * 1024
    websocket_max_message_size: int = 1024 * 1024
    websocket_queue_size: int = 4
    #: Seconds a send to a client may make no progress before the client is given up on.
    websocket_send_timeout: float | None = 20.0
    #: Seconds without a message either way after which a WebSocket is closed (1001).
    websocket_idle_timeout: float | None = 300.0
    #: WebSocket sessions at once; more handshakes are refused with 503.
    max_websockets: int | None = None
    #: Seconds the whole request body may take to arrive (408 past it).
    body_timeout: float | None = 60.0
    #: After startup, leave what exists then out of later garbage collections (``gc.freeze``).
    gc_freeze: bool = True


@dataclass(frozen=True)
class AppStatistics:
    """What :meth:`~trio_apistar.ASyncApp.statistics` reports."""

    #: WebSocket sessions running now (accepted or still in their handshake).
    websockets: int
    #: Handshakes refused (503) because ``max_websockets`` sessions were running.
    refused_websockets: int


def unwrap(exc: BaseException) -> BaseException:
    """A group holding one exception (nested or not) is that exception."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def is_cancellation(exc: BaseException) -> bool:
    """True for ``trio.Cancelled``, or a group of nothing else."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return False


class AppContext:
    """The built app, as its lifetimes see it.

    ``app_keys`` are the injection keys under which the app itself is offered (``ASyncApp``
    and the app's own class); ``provided`` maps further keys to objects the app was given.
    """

    def __init__(
        self,
        app: Any,
        app_keys: frozenset[Hashable],
        router: Router,
        routes: dict[Route, RoutePlan],
        no_route: RoutePlan,
        event_hooks: list[Any],
        settings: Settings,
        on_startup: list[Plan],
        on_shutdown: list[Plan],
        provided: dict[Hashable, Any] | None = None,
        services: list[Callable[..., Awaitable[None]]] | None = None,
    ) -> None:
        self.app = app
        #: Objects the app was given that every lifetime may ask for by type (``Broadcast``).
        self.provided = dict(provided or {})
        #: ``run(task_status=...)`` functions of what lives as long as the app (the
        #: Broadcast's): started before ``on_startup``, cancelled after ``on_shutdown``.
        self.services = list(services or ())
        self.app_keys = app_keys
        self.router = router
        self.routes = routes
        self.no_route = no_route
        self.event_hooks = event_hooks
        self.settings = settings
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self._hook_classes = [isinstance(hook, type) for hook in event_hooks]
        self._any_hook_class = any(self._hook_classes)
        #: The app nursery's host while the lifespan runs.
        self.app_tasks: AppTasks | None = None
        #: Every WebSocket whose session runs (closed with 1001 at shutdown).
        self.sockets: set[WebSocket] = set()
        #: Where connections' helper tasks run (HTTP disconnect watchers, WebSocket readers);
        #: its nursery is open while the lifespan runs.
        self.helpers = Helpers()
        #: Where WebSocket writers run while the lifespan runs (``_outbound.py``): a nursery of
        #: the app, so that a session never waits on a write its client blocks.
        self.outbound: trio.Nursery | None = None
        self.refused_websockets = 0

    def statistics(self) -> AppStatistics:
        """Counters for monitoring and tests."""
        return AppStatistics(
            websockets=len(self.sockets), refused_websockets=self.refused_websockets
        )

    def state(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route | None,
        params: dict[str, Any],
        plan: RoutePlan,
    ) -> dict[Any, Any]:
        """The injection state a connection starts from."""
        state: dict[Any, Any] = {
            ASGIScope: scope,
            ASGIReceive: receive,
            ASGISend: send,
            Route: route,
            PathParams: params,
        }
        for key in self.app_keys:
            state[key] = self.app
        state.update(self.provided)
        for name, key in plan.path_keys:
            state[key] = params[name]
        if AppNursery in plan.uses:
            state[AppNursery] = self.require_app_nursery()
        return state

    def require_app_nursery(self) -> trio.Nursery:
        """The app nursery; ``RuntimeError`` outside the ASGI lifespan."""
        nursery = self.app_tasks.nursery if self.app_tasks is not None else None
        if nursery is None:
            raise RuntimeError(
                "AppNursery is only available while the ASGI lifespan runs: serve the app with "
                "a server that supports lifespan (hypercorn does) or use TestClient"
            )
        return nursery

    def instances(self) -> list[Any]:
        """The event hooks for one connection: hook classes are instantiated per connection."""
        if not self._any_hook_class:
            return self.event_hooks
        return [
            hook() if is_class else hook
            for hook, is_class in zip(self.event_hooks, self._hook_classes, strict=True)
        ]

    async def report(
        self,
        error: BaseException,
        plan: RoutePlan,
        state: dict[Any, Any],
        instances: list[Any] | None = None,
    ) -> Response | None:
        """Log an unhandled error with its traceback and run the ``on_error`` hooks.

        Returns the response an ``on_error`` hook returned, if any.
        """
        scope = state[ASGIScope]
        logger.error(
            "Unhandled error in %s %s",
            scope.get("method", "WEBSOCKET"),
            scope["path"],
            exc_info=error,
        )
        state[Exception] = error
        if instances is None:
            instances = self.instances()
        replacement: Response | None = None
        for hook in plan.on_error:
            try:
                result = await hook.plan.run(state, instances[hook.index])
            except Exception:
                logger.exception("Error in an on_error hook")
                continue
            if isinstance(result, Response):
                replacement = result
        return replacement

    @staticmethod
    def maybe_reraise(state: dict[Any, Any], error: BaseException) -> None:
        """Re-raise ``error`` for a test client that asked for it (``RAISE_EXTENSION``)."""
        if RAISE_EXTENSION in (state[ASGIScope].get("extensions") or {}):
            raise error
