"""The app's lifetime: the ASGI lifespan, ``AppNursery``, startup, shutdown.

``run_lifespan`` opens the app nursery (``AppNursery``), the one connections' helper tasks run
in (``Helpers``: HTTP disconnect watchers, WebSocket readers) and the one WebSocket writers and
the limits watch run in (``_outbound.py``, ``limits.py``), starts the app's ``Broadcast`` (if
it has one), runs the ``on_startup`` functions, freezes what startup built (``gc_freeze``, once
per process) and reports startup; at shutdown it closes every open WebSocket with 1001 (going
away, each given at most a second to take its close frame), runs the ``on_shutdown`` functions,
then stops the ``Broadcast`` and cancels the nurseries. A startup function that fails is a
``lifespan.startup.failed`` (logged); a shutdown function that fails is logged and the others
still run.
"""

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._types import Message, Receive, Scope, Send
from .context import RAISE_EXTENSION, AppContext
from .limits import watch_limits
from .nurseries import AppNursery, AppTasks
from .websocket import status

__all__ = ["close_websockets", "run_lifespan"]

logger = logging.getLogger("trio_apistar")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def run_lifespan(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the ASGI lifespan protocol for the app ``ctx``, from startup to shutdown."""
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    failed: Message | None = None
    services = trio.CancelScope()  # e.g. the Broadcast: not AppNursery tasks, which may fail
    async with trio.open_nursery() as lifespan:
        tasks = AppTasks()
        await lifespan.start(tasks.run)
        await lifespan.start(ctx.helpers.run)
        ctx.app_tasks = tasks
        # WebSocket writers and the limits watch: the app's, not AppNursery's (whose tasks
        # are cancelled when one fails), and never a session's (_outbound.py says why).
        async with trio.open_nursery() as outbound:
            ctx.outbound = outbound
            settings = ctx.settings
            outbound.start_soon(
                watch_limits,
                ctx.sockets,
                settings.websocket_send_timeout,
                settings.websocket_idle_timeout,
                outbound,
            )
            try:
                failed = await _startup_and_shutdown(ctx, tasks, receive, send, lifespan, services)
            finally:
                ctx.outbound = None
                ctx.app_tasks = None
                ctx.helpers.stop()
                tasks.stop()
                services.cancel()
                outbound.cancel_scope.cancel()
    if tasks.errors and RAISE_EXTENSION in (scope.get("extensions") or {}):
        raise tasks.errors[0]  # a test client wants it, rather than a log line
    await send(failed or {"type": "lifespan.shutdown.complete"})


async def _run_in(
    scope: trio.CancelScope,
    run: Callable[..., Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await run(task_status=task_status)


async def _startup_and_shutdown(
    ctx: AppContext,
    tasks: AppTasks,
    receive: Receive,
    send: Send,
    lifespan: trio.Nursery,
    services: trio.CancelScope,
) -> Message | None:
    """Startup, wait for shutdown, then shutdown; return the failure message, if any."""
    state: dict[Any, Any] = {key: ctx.app for key in ctx.app_keys}
    state.update(ctx.provided)
    state[AppNursery] = tasks.nursery
    try:
        for run in ctx.services:
            await lifespan.start(_run_in, services, run)
        for plan in ctx.on_startup:
            await plan.run(state)
    except Exception as exc:
        logger.error("Application startup failed", exc_info=exc)
        return {"type": "lifespan.startup.failed", "message": _describe(exc)}
    if ctx.settings.gc_freeze:
        _freeze_what_startup_built()
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await close_websockets(ctx, status.WS_1001_LEAVING)
    failed: Message | None = None
    state[AppNursery] = tasks.nursery  # a fresh one if a task failed meanwhile
    for plan in ctx.on_shutdown:
        try:
            await plan.run(state)
        except Exception as exc:
            logger.error("Application shutdown hook failed", exc_info=exc)
            failed = failed or {"type": "lifespan.shutdown.failed", "message": _describe(exc)}
    return failed


def _freeze_what_startup_built() -> None:
    """Collect once, then move every object left into the permanent generation, once per
    process (not again if anything froze objects before: a second app, or the user).

    What startup built (modules, classes, route plans, pydantic validators: tens of thousands
    of objects) lives as long as the process, yet every full collection walked it again; a
    WebSocket handshake behind Hypercorn cost 1.4 % fewer instructions once it was frozen
    (benchmarks/README.md). Frozen objects are still freed by reference counting; only those
    that later end up in unreachable cycles are never reclaimed.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


async def close_websockets(ctx: AppContext, code: int = status.WS_1001_LEAVING) -> None:
    """Close every open WebSocket of the app with ``code`` (1001, going away, at shutdown).

    Their handlers see ``WebSocketDisconnect(code)``, as if the client had left.
    """
    # All at once: a client that does not read must not hold up the others' close frames.
    async with trio.open_nursery() as nursery:
        for ws in list(ctx.sockets):
            nursery.start_soon(ws._going_away, code)
