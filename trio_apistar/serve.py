"""``app.serve()``: run an app with Hypercorn's trio worker, in this process.

On SIGINT or SIGTERM every open WebSocket is closed at once with 1001 (going away), so clients see
a clean close and handlers see ``WebSocketDisconnect(1001)``; a client that does not take its
close frame within a second is given up on. Then Hypercorn stops accepting, lets connections
finish within ``graceful_timeout`` and runs the lifespan shutdown.
"""

import signal
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ._types import Receive, Scope, Send

__all__ = ["ServableApp", "make_config", "run", "serve"]


class ServableApp(Protocol):
    """What :func:`serve` needs of an app: ASGI 3, its WebSocket message limit, and a way to
    close its WebSockets."""

    @property
    def websocket_max_message_size(self) -> int: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def close_websockets(self, code: int = ...) -> None: ...


def make_config(host: str = "127.0.0.1", port: int = 8000, **options: Any) -> Config:
    """A Hypercorn ``Config`` bound to ``host:port``, no access log, with ``options`` applied.

    Raises ``TypeError`` for an option Hypercorn does not have.
    """
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    for name, value in options.items():
        if not hasattr(config, name):
            raise TypeError(f"Hypercorn has no config option {name!r}")
        setattr(config, name, value)
    return config


async def serve(
    app: ServableApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM or until ``shutdown_trigger`` returns.

    For ``nursery.start(serve, app, ...)``: reports the bound URLs (``['http://127.0.0.1:PORT']``,
    port 0 picks a free port) once listening. Hypercorn's own WebSocket message limit is the
    app's ``websocket_max_message_size`` unless ``options`` say otherwise: Hypercorn buffers a
    message up to its limit (16 MiB by default) before the app can refuse it.
    """
    options.setdefault("websocket_max_message_size", app.websocket_max_message_size)
    config = make_config(host, port, **options)

    async def going_away() -> None:
        if shutdown_trigger is not None:
            await shutdown_trigger()
        else:
            await _wait_for_signal()
        await app.close_websockets()

    await hypercorn_serve(
        app,  # type: ignore[arg-type]  # hypercorn's TypedDict scopes vs our mappings
        config,
        shutdown_trigger=going_away,
        task_status=task_status,
    )


async def _wait_for_signal() -> None:
    if threading.current_thread() is not threading.main_thread():
        await trio.sleep_forever()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def run(app: ServableApp, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Blocking: ``trio.run`` of :func:`serve`."""
    trio.run(partial(serve, app, host, port, **options))
