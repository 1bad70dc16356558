"""``ASyncApp``: the ASGI 3 entry point, lifespan, per-connection nurseries and event hooks.

Lifetimes nest: the app (``AppNursery``, opened by the ASGI lifespan) contains connections, and a
connection (its own nursery, ``trio.Nursery`` to handlers) contains its handler and hooks.

* HTTP: a reader task watches for the client leaving while the handler runs and cancels it if
  the client goes before the response is complete. Tasks started on the connection nursery run
  to completion after the response. A route whose hooks and handler are all plain functions
  that need neither the body nor a nursery runs inline: nothing there could notice a
  disconnect, so no task is started for it.
* WebSocket: the ``WebSocket`` reads the server's channel, or its own reader task's (see
  ``websocket.py``), from accept on. The handler returning closes
  the socket (1000), an unhandled error closes it with 1011; tasks on the connection nursery end
  with the socket. The client leaving is not a cancellation of the handler: it surfaces as
  ``WebSocketDisconnect`` from ``receive``/``send`` and cancels ``cancel_on_disconnect`` blocks
  and connection-nursery tasks.
"""

import json
import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import trio

from ._types import ASGIReceive, ASGIScope, ASGISend, Message, Receive, Scope, Send
from .components import BUILTIN_COMPONENTS
from .exceptions import (
    HTTPException,
    PayloadTooLarge,
    WebSocketDisconnect,
    WebSocketInvalidData,
    WebSocketProtocolError,
)
from .http import Body, HTMLResponse, JSONResponse, PathParams, Response, StreamingResponse
from .injector import Component, Injector
from .nurseries import AppNursery, AppTasks, ConnectionTasks
from .planning import Planner, RoutePlan
from .routing import Include, Route, Router
from .websocket import WebSocket, status

__all__ = ["ASyncApp"]

logger = logging.getLogger("trio_apistar")


#: Put in ``scope["extensions"]`` by a test client that wants handler errors re-raised.
RAISE_EXTENSION = "trio_apistar.raise_server_exceptions"

_BASE_KEYS: frozenset[Hashable] = frozenset(
    {ASGIScope, ASGIReceive, ASGISend, Route, PathParams, trio.Nursery, AppNursery}
)


class _ClientGone(Exception):
    """The HTTP client left while we read its body."""


def _unwrap(exc: BaseException) -> BaseException:
    """A group holding one exception (nested or not) is that exception."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return False


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(b"", status_code=204)
    if isinstance(result, str):
        return HTMLResponse(result)
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    return JSONResponse(result)


def _error_response(exc: HTTPException) -> Response:
    return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)


def _reason(detail: Any) -> str:
    return detail if isinstance(detail, str) else json.dumps(detail)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _server_error() -> Response:
    return JSONResponse({"detail": "Internal server error"}, 500)


class ASyncApp:
    """An ASGI 3 application: routes, components, event hooks and lifespan functions.

    ``event_hooks`` holds hook classes (instantiated per request, so they can keep state between
    their methods) or instances (shared). Each may define ``on_request``, ``on_response`` and
    ``on_error``, sync or async, injected like handlers; a hook that asks for something a kind of
    connection does not have (``WebSocket`` on HTTP, ``http.Response`` on a WebSocket) is not
    run for that kind. Raises ``ConfigurationError`` for anything that cannot be resolved.
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
    ) -> None:
        self.router = Router(routes)
        self.injector = Injector([*(components or ()), *BUILTIN_COMPONENTS])
        self.max_body_size = max_body_size
        self.websocket_max_message_size = websocket_max_message_size
        self.websocket_queue_size = websocket_queue_size
        self.event_hooks = list(event_hooks or ())
        self._hook_classes = [isinstance(hook, type) for hook in self.event_hooks]
        self._any_hook_class = any(self._hook_classes)
        self._app_tasks: AppTasks | None = None
        self._sockets: set[WebSocket] = set()
        self._base = _BASE_KEYS | {type(self), ASyncApp}
        lifespan_keys = frozenset({type(self), ASyncApp, AppNursery})
        self._on_startup = [self.injector.plan(f, lifespan_keys) for f in on_startup]
        self._on_shutdown = [self.injector.plan(f, lifespan_keys) for f in on_shutdown]
        planner = Planner(
            self.router,
            self.injector,
            self.event_hooks,
            self._base,
            needs_task=frozenset({trio.Nursery, ASGIReceive}),
        )
        self._routes = planner.routes
        self._no_route = planner.no_route

    # -- building --------------------------------------------------------------------------

    def router_params(self, route: Route) -> list[str]:
        """The path parameter names of ``route``."""
        for compiled in self.router.routes:
            if compiled.route is route:
                return list(compiled.converters)
        return []

    def reverse_url(self, name: str, /, **params: Any) -> str:
        """The URL of the route named ``name`` (``'namespace:name'`` inside an ``Include``)."""
        return self.router.reverse_url(name, **params)

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            raise RuntimeError(f"Unknown ASGI scope type {kind!r}")

    def _state(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        params: dict[str, Any],
        plan: RoutePlan,
    ) -> dict[Any, Any]:
        state: dict[Any, Any] = {
            ASGIScope: scope,
            ASGIReceive: receive,
            ASGISend: send,
            ASyncApp: self,
            type(self): self,
            Route: route,
            PathParams: params,
        }
        for name, key in plan.path_keys:
            state[key] = params[name]
        if AppNursery in plan.uses:
            state[AppNursery] = self._require_app_nursery()
        return state

    def _require_app_nursery(self) -> trio.Nursery:
        nursery = self._app_tasks.nursery if self._app_tasks is not None else None
        if nursery is None:
            raise RuntimeError(
                "AppNursery is only available while the ASGI lifespan runs: serve the app with "
                "a server that supports lifespan (hypercorn does) or use TestClient"
            )
        return nursery

    def _instances(self) -> list[Any]:
        if not self._any_hook_class:
            return self.event_hooks
        return [
            hook() if is_class else hook
            for hook, is_class in zip(self.event_hooks, self._hook_classes, strict=True)
        ]

    # -- HTTP ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            route, params = self.router.match(scope["path"], scope["method"])
        except HTTPException as exc:
            await self._http_error(_error_response(exc), scope, receive, send)
            return
        plan = self._routes[route]
        if plan.kind != "http":
            response = JSONResponse(
                {"detail": "This URL takes WebSocket connections only"},
                426,
                {"upgrade": "websocket"},
            )
            await self._http_error(response, scope, receive, send, route)
            return
        state = self._state(scope, receive, send, route, params, plan)
        if ASGISend in plan.uses:
            # The handler may answer through the raw send: then the framework must not.
            exchange = state[_Exchange] = _Exchange(send)
            state[ASGISend] = exchange.send
        if plan.inline:
            error = await self._respond(plan, state, send)
            if error is not None:
                self._maybe_reraise(state, error)
            return
        if Body in plan.uses:
            try:
                state[Body] = await self._read_body(scope, receive)
            except HTTPException as exc:
                await self._http_error(_error_response(exc), scope, receive, send, route)
                return
            except _ClientGone:
                return
        await self._http_in_nursery(plan, state, receive, send)

    async def _http_error(
        self,
        response: Response,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route | None = None,
    ) -> None:
        """Send an error response made before any handler ran, through the on_response hooks."""
        plan = self._no_route
        if not plan.on_response:
            await response.send(send)
            return
        state = self._state(scope, receive, send, route, {}, plan)  # type: ignore[arg-type]
        state[Body] = b""
        if ASGISend in plan.uses:
            exchange = state[_Exchange] = _Exchange(send)
            state[ASGISend] = exchange.send
        if trio.Nursery in plan.uses or ASGIReceive in plan.uses:
            await self._http_in_nursery(plan, state, receive, send, response)
            return
        error = await self._respond(plan, state, send, response)
        if error is not None:
            self._maybe_reraise(state, error)

    async def _http_in_nursery(
        self,
        plan: RoutePlan,
        state: dict[Any, Any],
        receive: Receive,
        send: Send,
        preset: Response | None = None,
    ) -> None:
        exchange: _Exchange = state.get(_Exchange) or _Exchange(send)
        handler_scope = trio.CancelScope()
        tasks: ConnectionTasks | None = None
        error: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                to_cancel = [handler_scope]
                if trio.Nursery in plan.uses:
                    tasks = await ConnectionTasks.open(nursery)
                    state[trio.Nursery] = tasks.nursery
                    to_cancel.append(tasks.scope)
                watcher = trio.CancelScope()
                if ASGIReceive not in plan.uses:
                    nursery.start_soon(
                        _watch_http_disconnect, receive, exchange, to_cancel, watcher
                    )
                with handler_scope:
                    error = await self._respond(plan, state, exchange.send, preset)
                watcher.cancel()
                if tasks is not None:
                    tasks.finish()
        except Exception as exc:
            # A connection task failed (the handler's own errors are handled in _respond).
            error = _unwrap(exc)
            await self._report(error, plan, state)
            if not exchange.started and not handler_scope.cancel_called:
                await _server_error().send(send)
        if error is not None:
            self._maybe_reraise(state, error)

    async def _respond(
        self, plan: RoutePlan, state: dict[Any, Any], send: Send, preset: Response | None = None
    ) -> Exception | None:
        """Run hooks and handler (or take the ``preset`` response), send the response; return
        the unhandled error, if any."""
        instances = self._instances()
        error: Exception | None = None
        try:
            if preset is not None:
                response = preset
            else:
                for hook in plan.on_request:
                    await hook.plan.run(state, instances[hook.index])
                handler = plan.handler
                result = handler.run_sync(state) if handler.is_sync else await handler.run(state)
                response = _to_response(result)
        except HTTPException as exc:
            response = _error_response(exc)
        except Exception as exc:
            error = exc
            response = await self._report(exc, plan, state, instances) or _server_error()
        if error is None:
            state[Response] = response
            try:
                for hook in plan.on_response:
                    replaced = await hook.plan.run(state, instances[hook.index])
                    if isinstance(replaced, Response):
                        response = state[Response] = replaced
            except HTTPException as exc:
                response = _error_response(exc)
            except Exception as exc:
                error = exc
                response = await self._report(exc, plan, state, instances) or _server_error()
        if ASGISend in plan.uses and state[_Exchange].started:
            return error  # the handler answered through ASGISend itself
        try:
            await response.send(send)
        except Exception as exc:
            # A header value that is not latin-1 (set after the response was made), a streaming
            # body that failed part-way: logged and reported like any handler error.
            await self._report(exc, plan, state, instances)
            if not isinstance(response, StreamingResponse):
                await _server_error().send(send)  # its headers failed: nothing went out
            return error or exc
        return error

    async def _report(
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
            instances = self._instances()
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

    def _maybe_reraise(self, state: dict[Any, Any], error: BaseException) -> None:
        if RAISE_EXTENSION in (state[ASGIScope].get("extensions") or {}):
            raise error

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_size
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    continue
                if declared > limit:
                    raise PayloadTooLarge(f"The request body is over {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body is over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        ws = WebSocket(
            scope,
            receive,
            send,
            max_queue=self.websocket_queue_size,
            max_message_size=self.websocket_max_message_size,
        )
        try:
            route, params = self.router.match(scope["path"], "GET")
            plan = self._routes[route]
            if plan.kind != "websocket":
                raise HTTPException("No WebSocket endpoint at this URL", 404)
        except HTTPException as exc:
            status_code = 404 if exc.status_code == 405 else exc.status_code
            await ws.deny(status_code, json.dumps({"detail": exc.detail}))
            return
        state = self._state(scope, receive, send, route, params, plan)
        state[WebSocket] = ws
        if Body in plan.uses:
            state[Body] = b""  # the handshake's (``http.Request`` on a WebSocket)
        self._sockets.add(ws)
        instances = self._instances()
        error: Exception | None = None
        try:
            try:
                # The handler runs in this frame, not one more: an idle socket parks here and
                # every suspended frame is memory per socket.
                async with trio.open_nursery() as nursery:
                    ws._nursery = nursery
                    if trio.Nursery in plan.uses:
                        tasks = await ConnectionTasks.open(nursery, ended=lambda: ws._gone)
                        state[trio.Nursery] = tasks.nursery
                        ws._cancel_on_disconnect(tasks.scope)
                    try:
                        for hook in plan.on_request:
                            await hook.plan.run(state, instances[hook.index])
                        try:
                            await plan.handler.start(state)
                        except WebSocketDisconnect:
                            pass
                        for hook in plan.on_response:
                            await hook.plan.run(state, instances[hook.index])
                    except WebSocketDisconnect:
                        pass
                    except Exception as exc:
                        error = exc
                    nursery.cancel_scope.cancel()
            except Exception as exc:
                error = _unwrap(exc)  # type: ignore[assignment]
            await self._end_websocket(ws, plan, state, instances, error)
        except BaseException as exc:
            if _is_cancellation(exc) and ws.connected:
                # The server is cancelling us (shutdown): the client is owed a close frame.
                with trio.CancelScope(shield=True):
                    await ws._going_away(status.WS_1001_LEAVING)
            raise
        finally:
            self._sockets.discard(ws)

    async def _end_websocket(
        self,
        ws: WebSocket,
        plan: RoutePlan,
        state: dict[Any, Any],
        instances: list[Any],
        error: Exception | None,
    ) -> None:
        """The handler is done: close (or refuse) as its outcome says; report its error."""
        if error is None:
            await ws._finish()
            return
        if isinstance(error, WebSocketProtocolError | HTTPException):
            # A refusal the app chose (an auth hook's Forbidden, a missing query parameter's
            # ValidationError): the HTTP status before accept, a close code after.
            if ws.connecting:
                headers = getattr(error, "headers", None)  # an HTTPException's, e.g. a 401's
                await ws.deny(error.status_code, json.dumps({"detail": error.detail}), headers)
            elif isinstance(error, HTTPException):
                await ws._finish(status.WS_1008_POLICY_VIOLATION, _reason(error.detail))
            else:
                await ws._finish(error.close_code, error.detail)
            return
        if isinstance(error, WebSocketInvalidData):
            logger.info("Closing WebSocket %s: %s", ws.path, error.detail)
            await ws._finish(error.close_code, error.detail)
            return
        await self._report(error, plan, state, instances)
        if ws.connecting:
            await ws.deny(500, json.dumps({"detail": "Internal server error"}))
        else:
            await ws._finish(status.WS_1011_INTERNAL_ERROR)
        self._maybe_reraise(state, error)

    async def close_websockets(self, code: int = status.WS_1001_LEAVING) -> None:
        """Close every open WebSocket with ``code`` (1001, going away, at shutdown).

        Their handlers see ``WebSocketDisconnect(code)``, as if the client had left.
        """
        # All at once: a client that does not read must not hold up the others' close frames.
        async with trio.open_nursery() as nursery:
            for ws in list(self._sockets):
                nursery.start_soon(ws._going_away, code)

    # -- lifespan --------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        failed: Message | None = None
        async with trio.open_nursery() as lifespan:
            tasks = AppTasks()
            await lifespan.start(tasks.run)
            self._app_tasks = tasks
            try:
                failed = await self._run_lifespan(tasks, receive, send)
            finally:
                self._app_tasks = None
                tasks.stop()
        if tasks.errors and RAISE_EXTENSION in (scope.get("extensions") or {}):
            raise tasks.errors[0]  # a test client wants it, rather than a log line
        await send(failed or {"type": "lifespan.shutdown.complete"})

    async def _run_lifespan(self, tasks: AppTasks, receive: Receive, send: Send) -> Message | None:
        """Startup, wait for shutdown, then shutdown; return the failure message, if any."""
        state: dict[Any, Any] = {ASyncApp: self, type(self): self, AppNursery: tasks.nursery}
        try:
            for plan in self._on_startup:
                await plan.run(state)
        except Exception as exc:
            logger.error("Application startup failed", exc_info=exc)
            return {"type": "lifespan.startup.failed", "message": _describe(exc)}
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self.close_websockets(status.WS_1001_LEAVING)
        failed: Message | None = None
        state[AppNursery] = tasks.nursery  # a fresh one if a task failed meanwhile
        for plan in self._on_shutdown:
            try:
                await plan.run(state)
            except Exception as exc:
                logger.error("Application shutdown hook failed", exc_info=exc)
                failed = failed or {"type": "lifespan.shutdown.failed", "message": _describe(exc)}
        return failed

    # -- serving ---------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve the app with Hypercorn's trio worker until SIGINT/SIGTERM (blocking).

        ``options`` are Hypercorn ``Config`` attributes (``graceful_timeout=5``, ...).
        """
        from .serve import run

        run(self, host, port, **options)


class _Exchange:
    """Tracks how far the HTTP response has gone, for the disconnect watcher."""

    __slots__ = ("_send", "complete", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False

    async def send(self, message: Message) -> None:
        self.started = True
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            # From here on the server may report the end of the exchange as a disconnect.
            self.complete = True
        await self._send(message)


async def _watch_http_disconnect(
    receive: Receive,
    exchange: _Exchange,
    to_cancel: list[trio.CancelScope],
    watcher: trio.CancelScope,
) -> None:
    """Cancel the handler (and connection tasks) if the client leaves before the response."""
    with watcher:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                if not exchange.complete:
                    for scope in to_cancel:
                        scope.cancel()
                return
