"""What one HTTP route does with its request: hooks, handler, and the response they make.

* ``outcome`` runs the ``on_request`` hooks, the handler and the ``on_response`` hooks (or takes
  a response made before any handler, running only the ``on_response`` hooks), turning what
  the handler returned into a response and errors into theirs: an ``HTTPException`` renders
  as JSON ``{"detail": ...}``, and so does a ``BroadcastError`` with its ``status_code`` (503
  while Redis is away); anything else is a logged 500 with no internals in the body, after
  the ``on_error`` hooks;
* ``deliver`` sends that response, unless the handler answered through the raw ASGI send (a
  large or streamed body from a writer task of the app: ``send_response``);
* ``respond`` is both (a ``StreamingResponse`` may go to a ``stream`` function instead, which
  sends it under a watch).

Under what watch they run, so that the client leaving cancels them, is the exchange's business
(``exchange.py``).
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._disconnect import Exchange
from ._outbound import Abandoned, Writer
from ._types import ASGIScope, ASGISend, Send
from .context import AppContext
from .exceptions import BroadcastError, HTTPException
from .http import HTMLResponse, JSONResponse, Response, StreamingResponse
from .planning import RoutePlan

__all__ = [
    "Stream",
    "deliver",
    "error_response",
    "outcome",
    "ready",
    "respond",
    "send_response",
    "server_error",
    "to_response",
]

logger = logging.getLogger("trio_apistar")


def to_response(result: Any) -> Response:
    """What a handler returned, as a response: ``None`` is a 204, ``str`` HTML, ``bytes``
    binary, anything else JSON."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(b"", status_code=204)
    if isinstance(result, str):
        return HTMLResponse(result)
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    return JSONResponse(result)


def error_response(exc: HTTPException) -> Response:
    """An ``HTTPException`` as its JSON response, ``{"detail": ...}``."""
    return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)


def server_error() -> Response:
    """The 500 for an unhandled error: nothing of the error in it."""
    return JSONResponse({"detail": "Internal server error"}, 500)


#: ``stream(ctx, plan, state, instances, response, error)``: sends a ``StreamingResponse`` (under
#: a watch) and returns the unhandled error, if any.
Stream = Callable[
    [AppContext, RoutePlan, dict[Any, Any], list[Any], StreamingResponse, Exception | None],
    Awaitable[Exception | None],
]


async def respond(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    send: Send,
    preset: Response | None = None,
    stream: Stream | None = None,
) -> Exception | None:
    """Run hooks and handler (or take the ``preset`` response), send the response; return
    the unhandled error, if any. A ``StreamingResponse`` goes to ``stream``, if given."""
    instances = ctx.instances()
    response, error = await outcome(ctx, plan, state, instances, preset)
    if stream is not None and isinstance(response, StreamingResponse):
        return await stream(ctx, plan, state, instances, response, error)
    return await deliver(ctx, plan, state, instances, response, error, send)


async def outcome(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    instances: list[Any],
    preset: Response | None,
) -> tuple[Response, Exception | None]:
    """Run hooks and handler (or take the ``preset`` response): the response to send, and
    the unhandled error, if any."""
    error: Exception | None = None
    try:
        if preset is not None:
            response = preset
        else:
            for hook in plan.on_request:
                await hook.plan.run(state, instances[hook.index])
            handler = plan.handler
            result = handler.run_sync(state) if handler.is_sync else await handler.start(state)
            response = to_response(result)
    except HTTPException as exc:
        response = error_response(exc)
    except BroadcastError as exc:
        # Redis away, history gone: the service's state, not a bug (no traceback).
        logger.info("%s %s: %s", state[ASGIScope].get("method"), state[ASGIScope]["path"], exc)
        response = JSONResponse({"detail": exc.detail}, exc.status_code)
    except Exception as exc:
        error = exc
        response = await ctx.report(exc, plan, state, instances) or server_error()
    if error is None:
        state[Response] = response
        try:
            for hook in plan.on_response:
                replaced = await hook.plan.run(state, instances[hook.index])
                if isinstance(replaced, Response):
                    response = state[Response] = replaced
        except HTTPException as exc:
            response = error_response(exc)
        except Exception as exc:
            error = exc
            response = await ctx.report(exc, plan, state, instances) or server_error()
    return response, error


async def ready(response: Response, error: Exception | None) -> tuple[Response, Exception | None]:
    """An :func:`outcome` already known, to await where one is awaited."""
    return response, error


#: Bodies up to this size are written inline: Linux's initial socket send buffer takes them
#: whole whether or not the client reads.
_INLINE_BODY = 16 * 1024


async def send_response(ctx: AppContext, response: Response, send: Send) -> None:
    """Send ``response``; a large or streamed one from a writer task of the app.

    Hypercorn's socket writes cannot be interrupted, and it closes a connection only once the
    app has returned: a task writing a body its client does not read could never finish, nor
    could shutdown. From a writer (``_outbound.py``) the exchange can be cancelled (the client
    left, the server shuts down) and return, and the server then closes the connection under
    the stuck write. A body that fits the socket's initial send buffer is written inline.
    """
    outbound = ctx.outbound
    if outbound is None or (
        not isinstance(response, StreamingResponse) and len(response.body) <= _INLINE_BODY
    ):
        await response.send(send)
        return
    writer = Writer(send, 1)
    writer.start(outbound)
    try:
        try:
            await response.send(writer.put)
        except Abandoned:
            await trio.lowlevel.checkpoint()  # the writer failed: the server said why
        await writer.wait_flushed()
    except BaseException:
        writer.abandon()  # cancelled (client gone, shutdown) or failed: leave it behind
        raise
    finally:
        writer.finish()


async def deliver(
    ctx: AppContext,
    plan: RoutePlan,
    state: dict[Any, Any],
    instances: list[Any],
    response: Response,
    error: Exception | None,
    send: Send,
) -> Exception | None:
    """Send ``response`` (unless the handler answered itself); return the unhandled error."""
    if ASGISend in plan.uses and state[Exchange].started:
        return error  # the handler answered through ASGISend itself
    try:
        await send_response(ctx, response, send)
    except Exception as exc:
        # A header value that is not latin-1 (set after the response was made), a streaming
        # body that failed part-way: logged and reported like any handler error.
        await ctx.report(exc, plan, state, instances)
        if not isinstance(response, StreamingResponse):
            await server_error().send(send)  # its headers failed: nothing went out
        return error or exc
    return error
