"""A trio instrument that counts tasks, for tests of which tasks the framework starts."""

import trio

__all__ = ["TaskCounter"]


class TaskCounter(trio.abc.Instrument):
    """Every task spawned, and every task that exited, while installed."""

    def __init__(self) -> None:
        self.spawned: list[trio.lowlevel.Task] = []
        self.exited: list[trio.lowlevel.Task] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned.append(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.exited.append(task)
