"""``serve_in_thread()``: an app object served by Hypercorn's trio worker in a thread.

``run_hypercorn()`` needs an import path, since the server is another process; this serves the very
object a test built (the pytest plugin's ``app`` fixture), over real sockets. The server runs its
own ``trio.run`` in a daemon thread, so tests of any kind (Trio, sync, a browser) can reach it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import trio

from .._types import ASGIApp, Message, Receive, Scope, Send
from ._errors import ServerStartError, _unwrap
from ._server import AppServer

#: What the server thread reports once: it listens (binds, its loop's token, the stop event)...
_Started = tuple[list[str], trio.lowlevel.TrioToken, trio.Event]


@contextmanager
def serve_in_thread(
    app: ASGIApp, *, host: str = "127.0.0.1", timeout: float = 20.0, **options: Any
) -> Iterator[AppServer]:
    """Serve ``app`` with Hypercorn's trio worker on ``host`` (a free port) in a thread.

    ``options`` are Hypercorn ``Config`` attributes (``TypeError`` for one it does not have).
    Yields an ``AppServer`` once the app's lifespan startup is done and the port listens; raises
    ``ServerStartError`` if startup fails or takes over ``timeout`` seconds. On exit the server
    shuts down gracefully as on SIGTERM (an ``ASyncApp`` closes its WebSockets with 1001, the
    lifespan shutdown runs); ``TimeoutError`` if that takes over ``timeout`` seconds. An error
    the server raised while running is raised on exit.
    """
    from hypercorn.trio import serve

    from ..serve import make_config  # Hypercorn is imported only when a server runs

    config = make_config(host, 0, **options)
    started: queue.Queue[_Started | None] = queue.Queue(maxsize=1)
    errors: list[Exception] = []
    startup_failed: list[str] = []

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        # Hypercorn reports that it listens even when the lifespan startup failed (the failure
        # ends the server a moment later): note it on its way to the server.
        async def watched_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                startup_failed.append(str(message.get("message", "")))
            await send(message)

        await app(scope, receive, watched_send if scope["type"] == "lifespan" else send)

    async def main() -> None:
        stop = trio.Event()

        async def shutdown_trigger() -> None:
            await stop.wait()
            close_websockets = getattr(app, "close_websockets", None)
            if close_websockets is not None:  # an ASyncApp: say goodbye with 1001 first
                await close_websockets()

        async with trio.open_nursery() as nursery:
            with trio.fail_after(timeout):
                binds = await nursery.start(
                    partial(serve, watched, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
                )
            if not startup_failed:
                started.put((binds, trio.lowlevel.current_trio_token(), stop))

    def run() -> None:
        try:
            trio.run(main)
        except Exception as exc:  # raised by the thread that owns this one, in serve_in_thread
            errors.append(exc)
        finally:
            if started.empty():
                started.put(None)

    thread = threading.Thread(target=run, name=f"trio_apistar server {app!r}", daemon=True)
    thread.start()
    try:
        report = started.get(timeout=timeout + 5)  # main() itself gives up after timeout
    except queue.Empty:
        report = None
    if report is None:
        thread.join(5)
        cause = _unwrap(errors[0]) if errors else None
        if startup_failed:
            raise ServerStartError(f"{app!r}: lifespan startup failed: {startup_failed[0]}")
        raise ServerStartError(f"{app!r} did not start serving: {cause}") from cause
    binds, token, stop = report
    port = int(binds[0].rsplit(":", 1)[1])
    try:
        yield AppServer(host, port)
    finally:
        try:
            trio.from_thread.run_sync(stop.set, trio_token=token)
        except trio.RunFinishedError:
            pass  # it stopped on its own (an error, raised below)
        thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the server of {app!r} did not shut down within {timeout}s")
    if errors:
        raise _unwrap(errors[0])
