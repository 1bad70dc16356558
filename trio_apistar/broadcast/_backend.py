"""What a broadcast backend does; the ``Broadcast`` front does the rest (checks, fan-out)."""

import abc
from collections.abc import Sequence
from typing import Any

import trio

from ._hub import Hub

__all__ = ["Backend"]


class Backend(abc.ABC):
    """Moves payloads between processes (or within one) and keeps history and presence.

    ``run`` holds the background work for the Broadcast's lifetime; everything else is called
    while it runs. Topics are ``m:<channel>`` (messages) and ``p:<channel>`` (presence).
    """

    def __init__(self, hub: Hub, history: int, presence_ttl: float) -> None:
        self.hub = hub
        self.keep = history
        self.presence_ttl = presence_ttl

    @abc.abstractmethod
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and serve until cancelled; ``task_status.started()`` once usable."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether messages flow now (a lost Redis connection makes this False)."""

    @abc.abstractmethod
    async def publish(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        """Send each ``(topic, payload)`` in order; return their ids.

        Raises ``BroadcastUnavailable`` when the backend cannot be reached.
        """

    @abc.abstractmethod
    async def listen(self, topic: str) -> None:
        """Return once messages of ``topic`` reach this process's hub.

        Called for the first local subscription; raises ``BroadcastUnavailable``.
        """

    @abc.abstractmethod
    def unlisten(self, topic: str) -> None:
        """The last local subscription of ``topic`` left: stop receiving it (without waiting)."""

    @abc.abstractmethod
    async def history(self, topic: str, since: str) -> list[tuple[str, bytes]]:
        """``(id, payload)`` of every message after ``since``, oldest first.

        Raises ``HistoryGap`` when that is not exactly known.
        """

    @abc.abstractmethod
    def order(self, id: str) -> Any:
        """A sort key for the ids of one topic (to drop live events that history gave)."""

    @abc.abstractmethod
    async def join(self, channel: str, member: str, info: bytes) -> None:
        """Add ``member`` to the channel's presence and announce it."""

    @abc.abstractmethod
    async def leave(self, channel: str, member: str) -> None:
        """Remove ``member`` and announce it; an outage is not an error (it expires)."""

    @abc.abstractmethod
    async def members(self, channel: str) -> dict[str, bytes]:
        """Every live member of the channel, in every process: member id to info payload."""

    def statistics(self) -> dict[str, Any]:
        """Backend-specific counters, merged into ``BroadcastStatistics``."""
        return {}
