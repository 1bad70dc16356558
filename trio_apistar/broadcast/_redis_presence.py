"""Presence on Redis: members with an expiry that their process keeps pushing forward.

Each channel has a sorted set (member to expiry, in the server's clock) and a hash (member to
info). Every ``presence_ttl / 3`` seconds the process refreshes its own members and reaps,
in one script per channel, the members whose process stopped refreshing them, announcing
each of those once.
"""

import logging
from typing import Any

import coredis
import trio

from ._hub import PRESENCE, Hub, channel_of
from ._redis_scripts import JOIN, LEAVE, MEMBERS, OUTAGE, REFRESH, describe, key

__all__ = ["Presence"]

logger = logging.getLogger("trio_apistar.broadcast")


class Presence:
    """This process's members on Redis, and the task that keeps them alive."""

    def __init__(self, client: "coredis.Redis[bytes]", ttl: float, hub: Hub) -> None:
        self._client = client
        self._ttl = ttl
        self._ttl_ms = max(1, round(ttl * 1000))
        self._hub = hub
        self._join = client.register_script(JOIN)
        self._leave = client.register_script(LEAVE)
        self._refresh = client.register_script(REFRESH)
        self._members = client.register_script(MEMBERS)
        self._local: dict[str, dict[str, bytes]] = {}  # channel -> member -> info

    @staticmethod
    def _keys(channel: str) -> list[str]:
        return [key("z", channel), key("i", channel)]

    async def join(self, channel: str, member: str, info: bytes) -> None:
        """Add ``member`` and announce it; raises what coredis raises for an outage."""
        await self._join(self._keys(channel), [key("p", channel), self._ttl_ms, member, info])
        self._local.setdefault(channel, {})[member] = info

    async def leave(self, channel: str, member: str) -> None:
        """Forget ``member`` here, then remove and announce it; raises for an outage."""
        members = self._local.get(channel)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._local[channel]
        await self._leave(self._keys(channel), [key("p", channel), member])

    async def members(self, channel: str) -> dict[str, bytes]:
        """Live members of ``channel`` (reaping the expired ones first)."""
        flat: list[bytes] = await self._members(self._keys(channel), [key("p", channel)])
        pairs = iter(flat)
        return {name.decode(): info for name, info in zip(pairs, pairs, strict=True)}

    async def run(self) -> None:
        """Refresh, reap and leave until cancelled; an outage only delays it."""
        while True:
            await trio.sleep(self._ttl / 3)
            try:
                await self._refresh_all()
            except OUTAGE as exc:
                # Our members expire by themselves if this lasts; the next round re-adds them.
                logger.debug("Presence refresh failed: %s", describe(exc))

    async def _refresh_all(self) -> None:
        watched = {channel_of(t) for t in self._hub.topics if t.startswith(PRESENCE)}
        channels = set(self._local) | watched
        if not channels:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for channel in channels:
                mine: list[Any] = [
                    value for pair in self._local.get(channel, {}).items() for value in pair
                ]
                self._refresh(
                    self._keys(channel), [key("p", channel), self._ttl_ms, *mine], client=pipe
                )
