"""The two nurseries handlers may ask for, each hosted in a task of its own.

* ``trio.Nursery``: the connection's. Its tasks are cancelled when the client leaves and may
  outlive the handler (background work after an HTTP response). A task that learns the client
  left (``WebSocketDisconnect``) ends them quietly; any other error is the connection's error.
* ``AppNursery``: the application's, opened by the ASGI lifespan and cancelled at shutdown.
  A task in it that fails is logged and its siblings are cancelled, as in any nursery; the app
  keeps serving with a fresh nursery, so one failed background job does not leave every later
  request without one.
"""

import logging
from typing import NewType

import trio

from .exceptions import WebSocketDisconnect

__all__ = ["AppNursery", "AppTasks", "ConnectionTasks"]

logger = logging.getLogger("trio_apistar")

#: A nursery that lives as long as the application (opened by the ASGI lifespan protocol).
AppNursery = NewType("AppNursery", trio.Nursery)


class ConnectionTasks:
    """The connection nursery handed to handlers as ``trio.Nursery``.

    It lives in a host task so that its children can be cancelled (client gone) without
    cancelling the handler, and can outlive the handler without holding the handler's frame.
    """

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.nursery: trio.Nursery
        self._done = trio.Event()

    @classmethod
    async def open(cls, parent: trio.Nursery) -> "ConnectionTasks":
        """Start the host task in ``parent`` and return once its nursery is open."""
        tasks = cls()
        await parent.start(tasks._host)
        return tasks

    async def _host(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.scope:
            try:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    task_status.started()
                    await self._done.wait()
            except* WebSocketDisconnect:
                pass  # a task that talked to the client learnt it left: no error, as for handlers

    def finish(self) -> None:
        """The handler is done: let the tasks run to completion, then end."""
        self._done.set()


class AppTasks:
    """The application nursery handed out as ``AppNursery``, supervised by a host task."""

    def __init__(self) -> None:
        self.nursery: trio.Nursery | None = None
        #: What failed tasks raised, oldest first (logged as they happen).
        self.errors: list[Exception] = []
        self._stopping = trio.Event()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the nursery until :meth:`stop`; start it in the lifespan's nursery."""
        started = False
        while not self._stopping.is_set():
            try:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    if not started:
                        started = True
                        task_status.started()
                    await self._stopping.wait()
                    nursery.cancel_scope.cancel()
            except Exception as exc:
                self.errors.append(exc)
                logger.error(
                    "A task in the AppNursery failed (its sibling tasks were cancelled)",
                    exc_info=exc,
                )
            finally:
                self.nursery = None

    def stop(self) -> None:
        """Shutdown: cancel every task in the nursery and end the host."""
        self._stopping.set()
