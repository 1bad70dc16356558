"""``redis://``: channels, history and presence shared through one Redis database."""

from collections.abc import Sequence
from typing import Any

import coredis
import trio

from ._backend import Backend
from ._hub import Hub

__all__ = ["RedisBackend"]


class RedisBackend(Backend):
    """One publishing client and one subscriber connection (with its reader) per process."""

    def __init__(self, hub: Hub, history: int, presence_ttl: float, url: str) -> None:
        super().__init__(hub, history, presence_ttl)
        self.url = url
        self._client_class = coredis.Redis

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        return False

    async def publish(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        raise NotImplementedError

    async def listen(self, topic: str) -> None:
        raise NotImplementedError

    def unlisten(self, topic: str) -> None:
        raise NotImplementedError

    async def history(self, topic: str, since: str) -> list[tuple[str, bytes]]:
        raise NotImplementedError

    def order(self, id: str) -> Any:
        raise NotImplementedError

    async def join(self, channel: str, member: str, info: bytes) -> None:
        raise NotImplementedError

    def leave(self, channel: str, member: str) -> None:
        raise NotImplementedError

    async def members(self, channel: str) -> dict[str, bytes]:
        raise NotImplementedError
