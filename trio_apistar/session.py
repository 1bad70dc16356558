"""One WebSocket session: route the handshake, run hooks and handler, close as they end.

``run_websocket`` is the whole life of one WebSocket connection:

* an unknown path is refused (404, before any handler), as is a route that serves HTTP;
* ``on_request`` hooks, the handler, ``on_response`` hooks run in this task, the one the server
  called us in: an idle socket parks here and every suspended frame is memory per socket;
* the ``WebSocket`` reads the server's channel, or its own reader task's (``_inbound.py``),
  from accept on. The session opens a nursery of its own only if the handler or a hook asks
  for ``trio.Nursery``, the server's ``receive`` is no trio channel (a reader runs from accept
  on) or no lifespan runs; otherwise a reader, if one is needed later, runs in the app's
  ``Helpers`` nursery and is stopped when the session ends. The client leaving is not a
  cancellation of the handler: it surfaces as ``WebSocketDisconnect`` from ``receive``/``send``
  and cancels ``cancel_on_disconnect`` blocks and connection-nursery tasks;
* what the handler returns is sent (``str`` as text, ``bytes`` as binary, a dict or list as
  JSON; ``None`` is nothing, anything else a ``TypeError``), before the ``on_response`` hooks;
* the handler returning closes the socket (1000) or refuses a handshake never answered, with a
  warning naming the handler (a deliberate refusal is quiet); an ``HTTPException`` refuses the
  handshake with its status (after accept: 1008); invalid data closes with its code (1007,
  1003); any other error is logged and closes with 1011. Refusal bodies are JSON
  ``{"detail": ...}``, encoded as HTTP bodies are;
* the server cancelling us (shutdown) still owes the client a close frame: 1001, shielded and
  time-bounded;
* past ``max_websockets`` open sessions a handshake is refused with 503 (and counted);
* once accepted, messages go to the server through a writer task of the app (``_outbound.py``),
  so that a client that stops reading can always be left behind: the session seals the socket
  (a close the server has seen) and drains the server's queue as its very last steps, and the
  server then closes the connection under any write still stuck.
"""

import logging
import math
from typing import Any

import trio

from ._json import dumps
from ._types import Receive, Scope, Send
from .context import AppContext, is_cancellation, unwrap
from .datastructures import route_path
from .exceptions import (
    BroadcastError,
    HTTPException,
    WebSocketDisconnect,
    WebSocketInvalidData,
    WebSocketProtocolError,
)
from .http import Body
from .nurseries import ConnectionTasks
from .planning import RoutePlan
from .websocket import WebSocket, WebSocketState, current_session, status

__all__ = ["run_websocket"]

logger = logging.getLogger("trio_apistar")

#: Seconds a client gets to take its close frame when the server cancels the session.
_CLOSE_BOUND = 1.0

_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED

_TOO_MANY = dumps({"detail": "Too many WebSocket connections: try again later"})


#: How long a session waits for the client to answer the close frame it sent (then it ends).
_CLOSE_REPLY_TIMEOUT = 1.0


class _NoNursery:
    """``async with`` standing for a nursery not opened: gives ``None``."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_NO_NURSERY = _NoNursery()


def _reason(detail: Any) -> str:
    return detail if isinstance(detail, str) else dumps(detail)


def _name(func: Any) -> str:
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}.{name}" if module else name


async def _send_result(ws: WebSocket, result: object, plan: RoutePlan) -> None:
    # bytearray/memoryview are refused: a buffer the handler may still change is no result.
    """Send what the handler returned: ``str`` as text, ``bytes`` as binary, a dict or list as
    JSON. Raises ``TypeError`` for anything else (logged, close 1011: never dropped)."""
    if isinstance(result, str | bytes):
        await ws.send(result)
    elif isinstance(result, dict | list):
        await ws.send_json(result)
    else:
        raise TypeError(
            f"WebSocket handler {_name(plan.handler.func)} returned {type(result).__name__} "
            f"{result!r:.80}: a handler may return str (sent as text), bytes (binary), a dict "
            "or list (JSON) or None (nothing)"
        )


def _close_reason(detail: str) -> str:
    """``detail``, cut to the 123 bytes a close frame has room for."""
    encoded = detail.encode()
    if len(encoded) <= 123:
        return detail
    return encoded[:120].decode(errors="ignore") + "..."


async def run_websocket(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket connection with the app ``ctx``."""
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    settings = ctx.settings
    ws = WebSocket(
        scope,
        receive,
        send,
        max_queue=settings.websocket_queue_size,
        max_message_size=settings.websocket_max_message_size,
    )
    try:
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        route, params = ctx.router.match(path, "GET")
        plan = ctx.routes[route]
        if plan.kind != "websocket":
            raise HTTPException("No WebSocket endpoint at this URL", 404)
    except HTTPException as exc:
        status_code = 404 if exc.status_code == 405 else exc.status_code
        await ws.deny(status_code, dumps({"detail": exc.detail}))
        return
    if settings.max_websockets is not None and len(ctx.sockets) >= settings.max_websockets:
        ctx.refused_websockets += 1
        await ws.deny(503, _TOO_MANY, {"retry-after": "1"})
        return
    state = ctx.state(scope, receive, send, route, params, plan)
    state[WebSocket] = ws
    if Body in plan.uses:
        state[Body] = b""  # the handshake's (``http.Request`` on a WebSocket)
    ws._outbound = ctx.outbound
    ctx.sockets.add(ws)
    instances = ctx.instances()
    error: Exception | None = None
    session = current_session.set((ws, trio.lowlevel.current_task()))
    # A nursery of the connection's own only where one is needed: its tasks, a reader from
    # accept on (a server whose receive is no trio channel), or no lifespan (so no Helpers
    # nursery for a reader that may start later).
    own = trio.Nursery in plan.uses or ctx.helpers.nursery is None or ws._server is None
    try:
        try:
            # The handler runs in this frame, not one more: an idle socket parks here and
            # every suspended frame is memory per socket.
            async with trio.open_nursery() if own else _NO_NURSERY as nursery:
                if nursery is None:
                    ws._helpers = ctx.helpers
                else:
                    ws._nursery = nursery
                    if trio.Nursery in plan.uses:
                        tasks = await ConnectionTasks.open(nursery, ended=lambda: ws._gone)
                        state[trio.Nursery] = tasks.nursery
                        ws._cancel_on_disconnect(tasks.scope)
                try:
                    for hook in plan.on_request:
                        await hook.plan.run(state, instances[hook.index])
                    try:
                        result = await plan.handler.start(state)
                        if result is not None:
                            await _send_result(ws, result, plan)
                    except WebSocketDisconnect:
                        pass
                    for hook in plan.on_response:
                        await hook.plan.run(state, instances[hook.index])
                except WebSocketDisconnect:
                    pass
                except Exception as exc:
                    error = exc
                if nursery is not None:
                    nursery.cancel_scope.cancel()
        except Exception as exc:
            error = unwrap(exc)  # type: ignore[assignment]
        finally:
            ws._stop_reading()
        error = error or ws._failure
        # The common end (the client left, nothing failed) owes nothing: no coroutine to await.
        if error is not None or ws._state is _CONNECTING or ws._state is _CONNECTED:
            await _end(ctx, ws, plan, state, instances, error)
        if ws._owes_server():
            # Bounded all the same: the limits watch gives up on a writer making no progress.
            await ws._seal(math.inf)
        if ws._state is WebSocketState.CLOSED:
            # Hypercorn drops the TCP connection as soon as the app returns: a client's close
            # crossing ours could make it send a close reply on a socket it is shutting down.
            with trio.move_on_after(_CLOSE_REPLY_TIMEOUT):
                await ws._await_close_reply()
    except BaseException as exc:
        if is_cancellation(exc):
            # The server is cancelling us (shutdown): the client is owed a close frame, within
            # a second whatever it does.
            with trio.CancelScope(shield=True):
                await ws._going_away(status.WS_1001_LEAVING)
                await ws._seal(_CLOSE_BOUND)
        raise
    finally:
        current_session.reset(session)
        ctx.sockets.discard(ws)
    # Last, with no checkpoint before we return: the server's own disconnect must find room
    # in its queue, or it would wait on it for ever (docs/deployment.md).
    ws._release()


async def _end(
    ctx: AppContext,
    ws: WebSocket,
    plan: RoutePlan,
    state: dict[Any, Any],
    instances: list[Any],
    error: Exception | None,
) -> None:
    """The handler is done: close (or refuse) as its outcome says; report its error."""
    if error is not None:
        # A handler with a nursery of its own raises its one error inside a group.
        error = unwrap(error)  # type: ignore[assignment]
        if isinstance(error, WebSocketDisconnect) and ws._gone:
            error = None  # this client left while the handler's own tasks served it
    if error is None:
        if ws.connecting:
            logger.warning(
                "WebSocket handler %s returned and the handshake was never answered: refused "
                "with 403. Call `await ws.accept()` (or `await ws.connect()`) to accept it, or "
                "`await ws.close()` to refuse it (a forgotten `await`, or a plain `def` handler?)",
                _name(plan.handler.func),
            )
        await ws._finish()
        return
    if isinstance(error, WebSocketProtocolError | HTTPException):
        # A refusal the app chose (an auth hook's Forbidden, a missing query parameter's
        # ValidationError): the HTTP status before accept, a close code after.
        if ws.connecting:
            headers = getattr(error, "headers", None)  # an HTTPException's, e.g. a 401's
            await ws.deny(error.status_code, dumps({"detail": error.detail}), headers)
        elif isinstance(error, HTTPException):
            await ws._finish(status.WS_1008_POLICY_VIOLATION, _reason(error.detail))
        else:
            await ws._finish(error.close_code, error.detail)
        return
    if isinstance(error, WebSocketInvalidData):
        logger.info("Closing WebSocket %s: %s", ws.path, error.detail)
        await ws._finish(error.close_code, error.detail)
        return
    if isinstance(error, BroadcastError):
        # The service's state (a subscriber too slow, Redis away, history gone), not a bug:
        # no traceback; the close code tells the client what to do (1013: try again later).
        logger.info("Closing WebSocket %s: %s", ws.path, error.detail)
        if ws.connecting:
            detail = dumps({"detail": error.detail})
            await ws.deny(error.status_code, detail)
        else:
            await ws._finish(error.close_code, _close_reason(error.detail))
        return
    await ctx.report(error, plan, state, instances)
    if ws.connecting:
        await ws.deny(500, dumps({"detail": "Internal server error"}))
    else:
        await ws._finish(status.WS_1011_INTERNAL_ERROR)
    ctx.maybe_reraise(state, error)
