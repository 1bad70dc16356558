"""One HTTP exchange: route, body, hooks, handler, response, errors.

``run_http`` is the whole life of one HTTP request:

* route it (404/405/426 made here run the ``on_response`` hooks without an ``on_request`` of
  their own, as in API Star);
* a route whose hooks and handler cannot suspend (plain functions, or ``async def`` ones that
  await nothing) and need neither the body nor a nursery runs inline: nothing there could
  notice a disconnect, so nothing watches for one;
* otherwise read the body (bounded: 413 past ``max_body_size``, 408 past ``body_timeout``;
  ``_body.py`` says how the connection survives a refusal), then run hooks and handler in
  a cancel scope that a watcher cancels if the client leaves before the response is complete.
  The watcher starts when the handler first yields to Trio (``_disconnect.py``); a handler
  that asks for the connection's ``trio.Nursery``, or an app without a lifespan, gets a nursery
  of its own with the watcher started at once. Tasks started on the connection nursery run to
  completion after the response;
* an ``HTTPException`` renders as JSON ``{"detail": ...}``, and so does a ``BroadcastError``
  with its ``status_code`` (503 while Redis is away); anything else is a logged 500 with no
  internals in the body, after the ``on_error`` hooks (``_responding.py``).
"""

from collections.abc import Coroutine
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
from ._disconnect import Exchange, Watch, watched
from ._responding import deliver, error_response, outcome, ready, respond, server_error
from ._types import ASGIReceive, ASGISend, Receive, Scope, Send
from .context import AppContext, unwrap
from .datastructures import route_path
from .exceptions import HTTPException
from .http import Body, JSONResponse, Response, StreamingResponse
from .nurseries import ConnectionTasks
from .planning import RoutePlan
from .routing import Route

__all__ = ["run_http"]


def _ambiguous() -> Response:
    """A request with both Content-Length and Transfer-Encoding (``_body.ambiguous_framing``)."""
    return JSONResponse(
        {"detail": "A request may not have both Content-Length and Transfer-Encoding"},
        400,
        {"connection": "close"},
    )


async def run_http(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one HTTP request with the app ``ctx``."""
    if ambiguous_framing(scope):
        await _http_error(ctx, _ambiguous(), scope, receive, send, None, False)
        return
    try:
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        route, params = ctx.router.match(path, scope["method"])
    except HTTPException as exc:
        await _http_error(ctx, error_response(exc), scope, receive, send)
        return
    plan = ctx.routes[route]
    if plan.kind != "http":
        refusal = JSONResponse(
            {"detail": "This URL takes WebSocket connections only"},
            426,
            {"upgrade": "websocket"},
        )
        await _http_error(ctx, refusal, scope, receive, send, route)
        return
    state = ctx.state(scope, receive, send, route, params, plan)
    if ASGISend in plan.uses:
        # The handler may answer through the raw send: then the framework must not.
        exchange = state[Exchange] = Exchange(send)
        state[ASGISend] = exchange.send
    if plan.inline:
        error = await respond(ctx, plan, state, send, stream=_stream_watched)
        if error is not None:
            ctx.maybe_reraise(state, error)
        return
    if Body in plan.uses:
        settings = ctx.settings
        try:
            deadline = deadline_after(settings.body_timeout)
            state[Body] = await read_body(scope, receive, settings.max_body_size, deadline)
        except HTTPException as exc:  # 413, 408: what is left of the body is dealt with
            await _http_error(ctx, error_response(exc), scope, receive, send, route, False)
            return
        except ClientGone:
            return
    await _guarded(ctx, plan, state, receive, send)


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
        exchange = state[Exchange] = Exchange(send)
        state[ASGISend] = exchange.send
    if trio.Nursery in plan.uses:
        await _in_nursery(ctx, plan, state, receive, send, response)
        return
    error = await respond(ctx, plan, state, send, response)
    if error is not None:
        ctx.maybe_reraise(state, error)


async def _guarded(
    ctx: AppContext, plan: RoutePlan, state: dict[Any, Any], receive: Receive, send: Send
) -> None:
    """Respond so that the client leaving before the response is complete cancels the work."""
    if trio.Nursery in plan.uses:
        await _in_nursery(ctx, plan, state, receive, send)
        return
    if ASGIReceive in plan.uses:
        # The handler reads the client's messages itself: it sees the disconnect.
        error = await respond(ctx, plan, state, send)
    else:
        instances = ctx.instances()
        work = outcome(ctx, plan, state, instances, None)
        error = await _watched(ctx, plan, state, receive, send, instances, work)
    if error is not None:
        ctx.maybe_reraise(state, error)


async def _stream_watched(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    instances: list[Any],
    response: StreamingResponse,
    error: Exception | None,
) -> Exception | None:
    """An inline route's ``StreamingResponse``: its body may block, so it is watched too."""
    work = ready(response, error)
    return await _watched(ctx, plan, state, state[ASGIReceive], state[ASGISend], instances, work)


async def _watched(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    receive: Receive,
    send: Send,
    instances: list[Any],
    work: Coroutine[Any, Any, tuple[Response, Exception | None]],
) -> Exception | None:
    """Await ``work`` (an ``outcome``: hooks and handler) and send the response under a watch
    whose watcher starts when they first yield; return the unhandled error, if any."""
    nursery = ctx.helpers.nursery
    if nursery is None:
        # No lifespan runs, so no app-wide nursery: this exchange hosts its own watcher.
        async with trio.open_nursery() as nursery:
            return await _watch(ctx, plan, state, receive, send, instances, work, nursery)
    return await _watch(ctx, plan, state, receive, send, instances, work, None)


async def _watch(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    receive: Receive,
    send: Send,
    instances: list[Any],
    work: Coroutine[Any, Any, tuple[Response, Exception | None]],
    nursery: trio.Nursery | None,
) -> Exception | None:
    """:func:`_watched`, the watcher to start in ``nursery``, else in the app's helpers."""
    exchange: Exchange = state.get(Exchange) or Exchange(send)
    watch = Watch(receive, exchange, ctx.helpers, nursery)
    response: Response | None = None
    error: Exception | None = None
    try:
        with watch.scope:
            response, error = await watched(work, watch)
            if isinstance(response, StreamingResponse):
                # Its body may take its time: the client leaving stops it too.
                streaming, response = response, None
                delivery = deliver(ctx, plan, state, instances, streaming, error, exchange.send)
                error = await watched(delivery, watch)
    finally:
        watch.stop()
    if response is not None:
        # Complete, and its sending bounded by the server: nothing left to cancel.
        error = await deliver(ctx, plan, state, instances, response, error, send)
    return error


async def _in_nursery(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    receive: Receive,
    send: Send,
    preset: Response | None = None,
) -> None:
    """Hooks, handler and the connection's tasks in a nursery, watched from the start."""
    exchange: Exchange = state.get(Exchange) or Exchange(send)
    error: BaseException | None = None
    watch: Watch | None = None
    try:
        async with trio.open_nursery() as nursery:
            tasks = await ConnectionTasks.open(nursery)
            state[trio.Nursery] = tasks.nursery
            watch = Watch(receive, exchange, ctx.helpers, nursery, also=(tasks.scope,))
            if ASGIReceive not in plan.uses:
                watch.start()
            with watch.scope:
                error = await respond(ctx, plan, state, exchange.send, preset)
            watch.stop()
            tasks.finish()
    except Exception as exc:
        # A connection task failed (the handler's own errors are handled in respond()).
        error = unwrap(exc)
        await ctx.report(error, plan, state)
        if not exchange.started and not (watch is not None and watch.scope.cancel_called):
            await server_error().send(send)
    if error is not None:
        ctx.maybe_reraise(state, error)
