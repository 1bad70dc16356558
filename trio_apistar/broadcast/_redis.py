"""``redis://``: channels, history and presence shared through one Redis database.

Per process: one client for commands (coredis multiplexes concurrent commands on one
connection, so concurrent publishes are pipelined), one pub/sub connection with one reader
task, and one presence task. A channel is subscribed once per process, however many local
subscribers it has, and unsubscribed when the last one leaves.

The pub/sub reader hands each message to the hub at once, so coredis' own (unbounded) queue
stays empty. coredis is told never to retry or resubscribe by itself: a lost connection ends
the reader, every subscription is told with ``BroadcastUnavailable`` at once, and the reader
reconnects with backoff. Redis keys and channels are under ``trio_apistar:``.
"""

import logging
import random
from collections.abc import Sequence
from typing import Any

import coredis
import coredis.exceptions
import trio
from coredis.retry import NoRetryPolicy

from ..exceptions import BroadcastUnavailable, HistoryGap
from ._backend import Backend
from ._hub import Hub, channel_of
from ._redis_presence import Presence
from ._redis_scripts import NAMESPACE, OUTAGE, PUBLISH, describe, key

__all__ = ["RedisBackend"]

logger = logging.getLogger("trio_apistar.broadcast")

#: Reconnection backoff: first delay, ceiling (seconds).
_BACKOFF = (0.1, 2.0)

#: Seconds a subscribe waits for the server's acknowledgement (a live server answers in ms).
_SUBSCRIBE_TIMEOUT = 5.0


class RedisBackend(Backend):
    """The Broadcast's Redis side: see the module docstring."""

    def __init__(self, hub: Hub, history: int, presence_ttl: float, url: str) -> None:
        super().__init__(hub, history, presence_ttl)
        self.url = url
        self._client: coredis.Redis[bytes] | None = None
        self._publish: Any = None
        self._connected = False
        self._live: set[str] = set()  # topics the pub/sub connection has acknowledged
        self._ready: dict[str, trio.Event] = {}  # waiters for a topic's acknowledgement
        self._dirty = trio.Event()  # the wanted topics changed
        self._disconnects = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._presence: Presence | None = None
        hub.on_first = hub.on_last = self._changed

    # -- lifetime ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        work = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            await nursery.start(self._serve, work)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                work.cancel()

    async def _serve(
        self,
        work: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Our tasks inside the client's lifetime; stopped by ``work``, then the client.

        Shielded so that cancelling ``run`` stops the pub/sub reader first and closes the
        client's connections after: torn down at once, coredis' clean-up writes to closed
        connections. Each step is bounded by coredis' own timeouts.
        """
        client = coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            retry_policy=NoRetryPolicy(),  # a retried publish could be delivered twice
            connect_timeout=2,
            stream_timeout=5,
        )
        with trio.CancelScope(shield=True):
            async with client:
                self._client = client
                self._publish = client.register_script(PUBLISH)
                self._presence = Presence(client, self.presence_ttl, self.hub)
                try:
                    with work:
                        async with trio.open_nursery() as nursery:
                            await nursery.start(self._subscriber)
                            nursery.start_soon(self._presence.run)
                            task_status.started()
                finally:
                    self._connected = False
                    self._client = self._presence = None

    @property
    def connected(self) -> bool:
        return self._connected

    def statistics(self) -> dict[str, Any]:
        return {
            "disconnects": self._disconnects,
            "reconnects": self._reconnects,
            "last_error": self._last_error,
        }

    def _unavailable(self, what: str, channel: str | None = None) -> BroadcastUnavailable:
        reason = f": {self._last_error}" if self._last_error else ""
        return BroadcastUnavailable(f"{what}: Redis at {self.url} is unreachable{reason}", channel)

    # -- pub/sub -----------------------------------------------------------------------------

    async def _subscriber(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep one pub/sub connection, reconnecting with backoff; never ends by itself."""
        assert self._client is not None
        delay, started, ever_connected = _BACKOFF[0], False, False
        while True:
            try:
                async with self._client.pubsub(
                    ignore_subscribe_messages=True,
                    retry_policy=NoRetryPolicy(),
                    subscription_timeout=_SUBSCRIBE_TIMEOUT,
                    max_idle_seconds=5,  # PING a quiet connection to notice a dead one
                ) as pubsub:
                    await pubsub.connection.create_request(b"PING")  # connected for real
                    self._connected, delay = True, _BACKOFF[0]
                    if ever_connected:
                        self._reconnects += 1
                        logger.warning("Reconnected to Redis at %s", self.url)
                    ever_connected = True
                    if not started:
                        task_status.started()
                        started = True
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._reconcile, pubsub)
                        await self._read(pubsub)
            except Exception as exc:
                self._last_error = describe(exc)
                log = logger.warning if self._connected or not ever_connected else logger.debug
                log("Redis pub/sub connection to %s lost: %s", self.url, self._last_error)
            if self._connected:
                self._disconnects += 1
            self._lost()
            if not started:
                task_status.started()  # serve anyway: publish/subscribe say it is down
                started = True
            await trio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, _BACKOFF[1])

    def _lost(self) -> None:
        """Tell every local subscriber at once; wake subscribes waiting for a reply."""
        self._connected = False
        self._live.clear()
        self.hub.fail_all(
            lambda channel: self._unavailable("Lost the connection to Redis", channel)
        )
        ready, self._ready = self._ready, {}
        for event in ready.values():
            event.set()

    async def _read(self, pubsub: Any) -> None:
        """Move each message to the hub as it arrives; return if the stream ends quietly."""
        prefix = len(NAMESPACE) + 1
        deliver = self.hub.deliver
        while True:
            message = await pubsub.get_message()
            if message is None or message["type"] != "message":
                continue  # subscribe/unsubscribe acknowledgements
            data: bytes = message["data"]
            id, _, payload = data.partition(b" ")
            deliver(message["channel"][prefix:].decode(), id.decode(), payload)

    def _changed(self, topic: str) -> None:
        self._dirty.set()
        if topic not in self.hub.topics and (event := self._ready.pop(topic, None)):
            event.set()  # its subscriber was dropped while it waited: let it see why

    async def _reconcile(self, pubsub: Any) -> None:
        """Subscribe to the topics local subscribers want, and only those."""
        self._dirty.set()  # a new connection subscribes to everything wanted
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            wanted = set(self.hub.topics)
            gone = self._live - wanted
            if gone:
                self._live -= gone
                await pubsub.unsubscribe(*(f"{NAMESPACE}:{topic}" for topic in gone))
            new = wanted - self._live
            if new:
                await pubsub.subscribe(*(f"{NAMESPACE}:{topic}" for topic in new))
                self._live |= new
                for topic in new:
                    if (event := self._ready.pop(topic, None)) is not None:
                        event.set()

    async def listen(self, topic: str) -> None:
        if not self._connected:
            raise self._unavailable("Cannot subscribe", channel_of(topic))
        if topic in self._live and topic not in self._ready:
            await trio.lowlevel.checkpoint()
            return
        event = self._ready.setdefault(topic, trio.Event())
        self._dirty.set()
        with trio.move_on_after(_SUBSCRIBE_TIMEOUT + 1):
            await event.wait()
        if topic not in self._live and topic in self.hub.topics:
            raise self._unavailable("Cannot subscribe", channel_of(topic))

    def unlisten(self, topic: str) -> None:
        self._dirty.set()  # _reconcile compares with what the hub still wants

    async def publish(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        client = self._client
        if client is None:
            raise self._unavailable("Cannot publish")
        calls = [
            (
                [key("h" if self.keep else "n", channel_of(topic))],
                [f"{NAMESPACE}:{topic}", payload, self.keep],
            )
            for topic, payload in items
        ]
        try:
            if len(calls) == 1:
                return [_text(await self._publish(*calls[0]))]
            async with client.pipeline(transaction=False) as pipe:
                results = [self._publish(keys, args, client=pipe) for keys, args in calls]
            return [_text(await result) for result in results]
        except OUTAGE as exc:
            self._last_error = describe(exc)
            raise self._unavailable("Cannot publish") from exc

    # -- history -----------------------------------------------------------------------------

    async def history(self, topic: str, since: str) -> list[tuple[str, bytes]]:
        client = self._client
        channel = channel_of(topic)
        if client is None:
            raise self._unavailable("Cannot read history", channel)
        try:
            self.order(since)
        except ValueError:
            raise HistoryGap(
                f"{since!r} is not an id of channel {channel!r}", channel, since
            ) from None
        try:
            if not self.keep:
                last = await client.get(key("n", channel))
                if last is not None and last.decode() == since:
                    return []
                raise HistoryGap(
                    f"Channel {channel!r} keeps no history: what came after {since!r} is lost",
                    channel,
                    since,
                )
            entries = await client.xrange(key("h", channel), since, "+")
        except OUTAGE as exc:
            raise self._unavailable("Cannot read history", channel) from exc
        except coredis.exceptions.ResponseError:  # not a stream id after all
            entries = ()
        if not entries or _text(entries[0].identifier) != since:
            raise HistoryGap(
                f"The messages of {channel!r} after {since!r} are no longer kept "
                f"(history={self.keep})",
                channel,
                since,
            )
        return [
            (_text(entry.identifier), _bytes(entry.field_values[b"d"])) for entry in entries[1:]
        ]

    def order(self, id: str) -> tuple[int, int]:
        """Stream ids ``ms-seq`` (history) or counters ``n``; ``ValueError`` otherwise."""
        ms, dash, seq = id.partition("-")
        if self.keep and dash and ms.isdigit() and seq.isdigit():
            return int(ms), int(seq)
        if not self.keep and not dash and ms.isdigit():
            return int(ms), 0
        raise ValueError(id)

    # -- presence ----------------------------------------------------------------------------

    def _presence_or_fail(self, channel: str) -> Presence:
        if self._presence is None:
            raise self._unavailable("Cannot use presence", channel)
        return self._presence

    async def join(self, channel: str, member: str, info: bytes) -> None:
        try:
            await self._presence_or_fail(channel).join(channel, member, info)
        except OUTAGE as exc:
            self._last_error = describe(exc)
            raise self._unavailable("Cannot join", channel) from exc

    async def leave(self, channel: str, member: str) -> None:
        if self._presence is None:
            await trio.lowlevel.checkpoint()
            return
        try:
            await self._presence.leave(channel, member)
        except OUTAGE as exc:
            logger.debug("Leave of %s from %r left to expiry: %s", member, channel, describe(exc))

    async def members(self, channel: str) -> dict[str, bytes]:
        try:
            return await self._presence_or_fail(channel).members(channel)
        except OUTAGE as exc:
            self._last_error = describe(exc)
            raise self._unavailable("Cannot list members", channel) from exc


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
