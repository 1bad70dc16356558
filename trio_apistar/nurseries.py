"""The nurseries of an app: two that handlers may ask for, each hosted in a task of its own,
and the framework's own.

* ``trio.Nursery``: the connection's. Its tasks are cancelled when the client leaves and may
  outlive the handler (background work after an HTTP response). A task that learns the client
  left (``WebSocketDisconnect``) ends them quietly; any other error is the connection's error.
* ``AppNursery``: the application's, opened by the ASGI lifespan and cancelled at shutdown.
  A task in it that fails is logged and its siblings are cancelled, as in any nursery; the app
  keeps serving with a fresh nursery, so one failed background job does not leave every later
  request without one.
* ``Helpers``: the framework's, also opened by the lifespan: where the helper tasks of single
  connections run when they start part-way through a handler (an HTTP disconnect watcher, a
  WebSocket reader), so that a connection need not open a nursery of its own just in case.
"""

import logging
from collections.abc import Callable
from typing import NewType

import trio

from .exceptions import WebSocketDisconnect

__all__ = ["AppNursery", "AppTasks", "ConnectionTasks", "Helpers"]

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
    async def open(
        cls, parent: trio.Nursery, ended: Callable[[], bool] | None = None
    ) -> "ConnectionTasks":
        """Start the host task in ``parent`` and return once its nursery is open.

        ``ended`` tells whether the connection's own WebSocket is over: a task's
        ``WebSocketDisconnect`` is then the client leaving, not an error.
        """
        tasks = cls()
        await parent.start(tasks._host, ended)
        return tasks

    async def _host(
        self,
        ended: Callable[[], bool] | None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with self.scope:
            try:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    task_status.started()
                    await self._done.wait()
            except* WebSocketDisconnect:
                # A task that talked to the client learnt it left: no error, as for handlers.
                # One about another socket (a broadcast to a client that left) is an error.
                if ended is None or not ended():
                    raise

    def finish(self) -> None:
        """The handler is done: let the tasks run to completion, then end."""
        self._done.set()


class AppTasks:
    """The application nursery handed out as ``AppNursery``, supervised by a host task.

    Each nursery is one *generation*, run in a task of the host's own nursery, and a spare one
    is kept open: when a task fails, the spare takes over at that very moment, while the
    failed generation is still cancelling its other tasks, so a request never gets a nursery
    that is going away. Only a second failure before the next spare is open (one scheduling
    round) leaves a moment without one; asking for ``AppNursery`` then raises.
    """

    def __init__(self) -> None:
        self.nursery: trio.Nursery | None = None
        #: What failed tasks raised, oldest first (logged as they happen).
        self.errors: list[Exception] = []
        self._spare: trio.Nursery | None = None
        self._replaced = trio.Event()
        self._stopping = trio.Event()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the nurseries until :meth:`stop`; start it in the lifespan's nursery."""
        async with trio.open_nursery() as generations:
            self.nursery = await generations.start(self._generation)
            task_status.started()
            while not self._stopping.is_set():
                if self._spare is None:
                    self._spare = await generations.start(self._generation)
                if self.nursery is None:  # it failed before its spare was ready
                    self.nursery, self._spare = self._spare, None
                    continue
                await self._replaced.wait()
                self._replaced = trio.Event()
        self.nursery = None

    async def _generation(
        self, task_status: trio.TaskStatus[trio.Nursery] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(nursery)
                try:
                    await self._stopping.wait()
                    nursery.cancel_scope.cancel()
                finally:
                    # Stopping, or a task failed (which cancelled this wait): hand over.
                    if self.nursery is nursery:
                        self.nursery, self._spare = self._spare, None
                    self._replaced.set()
        except Exception as exc:
            self.errors.append(exc)
            logger.error(
                "A task in the AppNursery failed (its sibling tasks were cancelled)",
                exc_info=exc,
            )

    def stop(self) -> None:
        """Shutdown: cancel every task in every nursery and end the host."""
        self._stopping.set()


class Helpers:
    """The nursery connections' helper tasks run in, open while the app's lifespan runs.

    ``nursery`` is ``None`` before :meth:`run` and after :meth:`stop`: connections then open
    a nursery of their own. A helper ends with its connection (the connection stops it), and
    must not raise: an error here would end every connection's helpers and the lifespan.
    """

    def __init__(self) -> None:
        self.nursery: trio.Nursery | None = None
        self._host: trio.CancelScope | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the nursery open until :meth:`stop`; start it in the lifespan's nursery."""
        self._host = trio.CancelScope()
        with self._host:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                task_status.started()
                try:
                    await trio.sleep_forever()
                finally:
                    self.nursery = None

    def stop(self) -> None:
        """The lifespan ends: cancel the helpers still running; later connections host their
        own."""
        self.nursery = None
        if self._host is not None:
            self._host.cancel()
