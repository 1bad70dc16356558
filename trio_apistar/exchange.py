"""One HTTP exchange: route, body, hooks, handler, response, errors.

``run_http`` is the whole life of one HTTP request:

* route it (404/405/426 made here run the ``on_response`` hooks without an ``on_request`` of
  their own, as in API Star);
* a route whose hooks and handler are all plain functions that need neither the body nor a
  nursery runs inline: nothing there could notice a disconnect, so no task is started for it;
* otherwise read the body (bounded: 413 past ``max_body_size``, 408 past ``body_timeout``; see
  ``_body.py`` for how the connection survives a refusal), then run hooks and handler in
  a nursery where a watcher task cancels them if the client leaves before the response is
  complete. Tasks started on the connection nursery run to completion after the response;
* an ``HTTPException`` renders as JSON ``{"detail": ...}``, and so does a ``BroadcastError``
  with its ``status_code`` (503 while Redis is away); anything else is a logged 500 with no
  internals in the body, after the ``on_error`` hooks.
"""

import logging
from typing import Any

import trio

from ._body import (
    ClientGone,
    ambiguous_framing,
    deadline_after,
    declares_body,
    drain_body,
    read_body,
)
from ._types import ASGIReceive, ASGIScope, ASGISend, Message, Receive, Scope, Send
from .context import AppContext, unwrap
from .datastructures import route_path
from .exceptions import BroadcastError, HTTPException
from .http import Body, HTMLResponse, JSONResponse, Response, StreamingResponse
from .nurseries import ConnectionTasks
from .planning import RoutePlan
from .routing import Route

__all__ = ["run_http"]

logger = logging.getLogger("trio_apistar")


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


def _ambiguous() -> Response:
    """A request with both Content-Length and Transfer-Encoding (``_body.ambiguous_framing``)."""
    return JSONResponse(
        {"detail": "A request may not have both Content-Length and Transfer-Encoding"},
        400,
        {"connection": "close"},
    )


def _server_error() -> Response:
    return JSONResponse({"detail": "Internal server error"}, 500)


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


async def run_http(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one HTTP request with the app ``ctx``."""
    if ambiguous_framing(scope):
        await _http_error(ctx, _ambiguous(), scope, receive, send, None, False)
        return
    try:
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        route, params = ctx.router.match(path, scope["method"])
    except HTTPException as exc:
        await _http_error(ctx, _error_response(exc), scope, receive, send)
        return
    plan = ctx.routes[route]
    if plan.kind != "http":
        response = JSONResponse(
            {"detail": "This URL takes WebSocket connections only"},
            426,
            {"upgrade": "websocket"},
        )
        await _http_error(ctx, response, scope, receive, send, route)
        return
    state = ctx.state(scope, receive, send, route, params, plan)
    if ASGISend in plan.uses:
        # The handler may answer through the raw send: then the framework must not.
        exchange = state[_Exchange] = _Exchange(send)
        state[ASGISend] = exchange.send
    if plan.inline:
        error = await _respond(ctx, plan, state, send)
        if error is not None:
            ctx.maybe_reraise(state, error)
        return
    if Body in plan.uses:
        settings = ctx.settings
        try:
            deadline = deadline_after(settings.body_timeout)
            state[Body] = await read_body(scope, receive, settings.max_body_size, deadline)
        except HTTPException as exc:  # 413, 408: what is left of the body is dealt with
            await _http_error(ctx, _error_response(exc), scope, receive, send, route, False)
            return
        except ClientGone:
            return
    await _in_nursery(ctx, plan, state, receive, send)


async def _http_error(
    ctx: AppContext,
    response: Response,
    scope: Scope,
    receive: Receive,
    send: Send,
    route: Route | None = None,
    unread_body: bool = True,
) -> None:
    """Send an error response made before any handler ran, through the on_response hooks.

    A request body nobody read is read and dropped first (bounded), or the response says
    ``Connection: close``: the server would close the connection after it anyway.
    """
    if unread_body and declares_body(scope):
        try:
            if not await drain_body(receive, deadline_after(ctx.settings.body_timeout)):
                response.headers["connection"] = "close"
        except ClientGone:
            return
    plan = ctx.no_route
    if not plan.on_response:
        await response.send(send)
        return
    state = ctx.state(scope, receive, send, route, {}, plan)
    state[Body] = b""
    if ASGISend in plan.uses:
        exchange = state[_Exchange] = _Exchange(send)
        state[ASGISend] = exchange.send
    if trio.Nursery in plan.uses or ASGIReceive in plan.uses:
        await _in_nursery(ctx, plan, state, receive, send, response)
        return
    error = await _respond(ctx, plan, state, send, response)
    if error is not None:
        ctx.maybe_reraise(state, error)


async def _in_nursery(
    ctx: AppContext,
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
                nursery.start_soon(_watch_disconnect, receive, exchange, to_cancel, watcher)
            with handler_scope:
                error = await _respond(ctx, plan, state, exchange.send, preset)
            watcher.cancel()
            if tasks is not None:
                tasks.finish()
    except Exception as exc:
        # A connection task failed (the handler's own errors are handled in _respond).
        error = unwrap(exc)
        await ctx.report(error, plan, state)
        if not exchange.started and not handler_scope.cancel_called:
            await _server_error().send(send)
    if error is not None:
        ctx.maybe_reraise(state, error)


async def _respond(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    send: Send,
    preset: Response | None = None,
) -> Exception | None:
    """Run hooks and handler (or take the ``preset`` response), send the response; return
    the unhandled error, if any."""
    instances = ctx.instances()
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
    except BroadcastError as exc:
        # Redis away, history gone: the service's state, not a bug (no traceback).
        logger.info("%s %s: %s", state[ASGIScope].get("method"), state[ASGIScope]["path"], exc)
        response = JSONResponse({"detail": exc.detail}, exc.status_code)
    except Exception as exc:
        error = exc
        response = await ctx.report(exc, plan, state, instances) or _server_error()
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
            response = await ctx.report(exc, plan, state, instances) or _server_error()
    if ASGISend in plan.uses and state[_Exchange].started:
        return error  # the handler answered through ASGISend itself
    try:
        await response.send(send)
    except Exception as exc:
        # A header value that is not latin-1 (set after the response was made), a streaming
        # body that failed part-way: logged and reported like any handler error.
        await ctx.report(exc, plan, state, instances)
        if not isinstance(response, StreamingResponse):
            await _server_error().send(send)  # its headers failed: nothing went out
        return error or exc
    return error


async def _watch_disconnect(
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
