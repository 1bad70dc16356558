"""``memory://``: one process, no server. Publishing delivers at once, in the publisher's task."""

import secrets
from collections import deque
from collections.abc import Sequence

import trio

from ..exceptions import HistoryGap
from ._backend import Backend
from ._codec import presence_change
from ._hub import PRESENCE, Hub, channel_of

__all__ = ["MemoryBackend"]


class MemoryBackend(Backend):
    """Channels, history ring buffers and presence in this process's memory.

    Ids are ``<epoch>-<n>``: ``n`` counts the topic's messages, ``epoch`` is new for every run,
    so an id from before a restart is recognised as unknown instead of being misread.
    """

    def __init__(self, hub: Hub, history: int, presence_ttl: float) -> None:
        super().__init__(hub, history, presence_ttl)
        self._epoch = secrets.token_hex(4)
        self._counts: dict[str, int] = {}
        self._kept: dict[str, deque[tuple[int, bytes]]] = {}
        self._presence: dict[str, dict[str, bytes]] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    @property
    def connected(self) -> bool:
        return True

    async def publish(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        ids = []
        for topic, payload in items:
            # One message per turn of the scheduler: subscribers read between two, as they
            # do between two messages from Redis, so a batch does not overflow their buffers.
            await trio.lowlevel.checkpoint()
            n = self._counts[topic] = self._counts.get(topic, 0) + 1
            if self.keep:
                kept = self._kept.get(topic)
                if kept is None:
                    kept = self._kept[topic] = deque(maxlen=self.keep)
                kept.append((n, payload))
            id = f"{self._epoch}-{n}"
            ids.append(id)
            self.hub.deliver(topic, id, payload)
        return ids

    async def listen(self, topic: str) -> None:
        await trio.lowlevel.checkpoint()

    def unlisten(self, topic: str) -> None:
        pass

    def _number(self, topic: str, since: str) -> int:
        epoch, _, n = since.partition("-")
        count = self._counts.get(topic, 0)
        if epoch != self._epoch or not n.isdigit() or not 0 < int(n) <= count:
            raise HistoryGap(
                f"{since!r} is not an id of channel {channel_of(topic)!r} in this process's "
                "history (it may be from before a restart)",
                channel_of(topic),
                since,
            )
        return int(n)

    async def history(self, topic: str, since: str) -> list[tuple[str, bytes]]:
        await trio.lowlevel.checkpoint()
        after = self._number(topic, since)
        count = self._counts.get(topic, 0)
        if after == count:
            return []
        kept = self._kept.get(topic) or deque()
        if not kept or kept[0][0] > after + 1:
            raise HistoryGap(
                f"The messages of {channel_of(topic)!r} after {since!r} are no longer kept "
                f"(history={self.keep})",
                channel_of(topic),
                since,
            )
        return [(f"{self._epoch}-{n}", payload) for n, payload in kept if n > after]

    def order(self, id: str) -> int:
        return int(id.rpartition("-")[2])

    def _announce(self, channel: str, kind: str, member: str, info: bytes) -> None:
        self.hub.deliver(PRESENCE + channel, "0", presence_change(kind, member, info))

    async def join(self, channel: str, member: str, info: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self._presence.setdefault(channel, {})[member] = info
        self._announce(channel, "join", member, info)

    async def leave(self, channel: str, member: str) -> None:
        await trio.lowlevel.checkpoint()
        members = self._presence.get(channel, {})
        info = members.pop(member, None)
        if not members:
            self._presence.pop(channel, None)
        if info is not None:
            self._announce(channel, "leave", member, info)

    async def members(self, channel: str) -> dict[str, bytes]:
        await trio.lowlevel.checkpoint()
        return dict(self._presence.get(channel, {}))
