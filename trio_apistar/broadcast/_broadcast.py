"""``Broadcast``: publish to channels, subscribe to them, and see who is there.

One ``Broadcast`` serves a whole process: its background work (the backend's connections and
reader, the presence refresher) runs in :meth:`Broadcast.run`, which ``ASyncApp`` starts in the
app's lifetime; tests and scripts use ``async with Broadcast(...)``.
"""

import json
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import trio

from ..exceptions import BroadcastUnavailable
from ._backend import Backend
from ._codec import Data, check_channel, decode, encode, encode_info
from ._hub import MESSAGES, PRESENCE, Hub
from ._subscription import Event, PresenceEvent, Subscription
from ._watch import watch_client

__all__ = ["Broadcast", "BroadcastStatistics", "Membership"]

#: Seconds a leave may take at the end of a join block (then the entry expires instead).
_LEAVE_TIMEOUT = 2.0


@dataclass(frozen=True)
class BroadcastStatistics:
    """What :meth:`Broadcast.statistics` reports (for health checks and metrics).

    ``connected`` is the health flag: False while the Redis connection is lost (or the
    Broadcast is not running). ``dropped`` counts subscriptions failed for falling behind.
    """

    backend: str
    running: bool
    connected: bool
    topics: int
    subscriptions: int
    published: int
    delivered: int
    dropped: int
    members: int
    disconnects: int = 0
    reconnects: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Membership:
    """This connection's presence in ``channel``, from ``async with broadcast.join(...)``.

    ``id`` is unique across processes; ``info`` is the JSON-able value it joined with.
    """

    channel: str
    id: str
    info: Any


class Broadcast:
    """Publish/subscribe across channels, in one process (``memory://``) or many (Redis).

    ``url``: ``memory://`` (the default: one process, no server) or ``redis://host:port/db``
    (``rediss://`` for TLS), shared by every process that uses the same Redis database.
    ``history``: how many recent messages to keep per channel for ``subscribe(since=...)``
    (0 keeps none; on Redis at least that many are kept). ``buffer``: how many events a
    subscription may hold unread before it is dropped with ``SubscriberTooSlow``.
    ``presence_ttl``: seconds after which the members of a process that stopped refreshing them
    (it died) are announced as gone. Raises ``ValueError`` for an unknown URL scheme or a value
    out of range, and ``ImportError`` naming the extra to install for ``redis://``.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        history: int = 0,
        buffer: int = 100,
        presence_ttl: float = 15.0,
    ) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("memory", "redis", "rediss"):
            raise ValueError(f"Broadcast URLs start with memory:// or redis://, not {url!r}")
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"history is a number of messages >= 0, not {history!r}")
        if not isinstance(buffer, int) or buffer < 1:
            raise ValueError(f"buffer is a number of events >= 1, not {buffer!r}")
        if not presence_ttl > 0:
            raise ValueError(f"presence_ttl is a number of seconds > 0, not {presence_ttl!r}")
        if scheme != "memory":
            from ._redis import RedisBackend  # noqa: F401  fail now if coredis is missing
        self.url = url
        self.history = history
        self.buffer = buffer
        self.presence_ttl = presence_ttl
        self._scheme = scheme
        self._backend: Backend | None = None
        self._hub = Hub()
        self._token = secrets.token_hex(6)  # this process's member ids
        self._members = 0
        self._joined: dict[str, Membership] = {}
        self._published = 0
        self._stack: trio.Nursery | None = None
        self._exit: Any = None

    # -- lifetime ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the background work until cancelled; ``task_status.started()`` when usable.

        For ``nursery.start(broadcast.run)``; ``ASyncApp(broadcast=...)`` does that at startup.
        Raises ``BroadcastUnavailable`` if the backend cannot be reached at start, and
        ``RuntimeError`` if it runs already. When it ends, every subscription ends with
        ``BroadcastUnavailable``.
        """
        if self._backend is not None:
            raise RuntimeError("This Broadcast is running already")
        self._hub = Hub()
        backend = self._make_backend()
        self._backend = backend
        try:
            await backend.run(task_status=task_status)
        finally:
            self._backend = None
            self._hub.fail_all(
                lambda channel: BroadcastUnavailable("The Broadcast stopped", channel)
            )

    def _make_backend(self) -> Backend:
        if self._scheme == "memory":
            from ._memory import MemoryBackend

            return MemoryBackend(self._hub, self.history, self.presence_ttl)
        from ._redis import RedisBackend

        return RedisBackend(self._hub, self.history, self.presence_ttl, self.url)

    async def __aenter__(self) -> "Broadcast":
        """Run in a nursery of its own until the ``async with`` block ends."""
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        try:
            await nursery.start(self.run)
        except BaseException as exc:
            await manager.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack, self._exit = nursery, manager
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        nursery, manager = self._stack, self._exit
        self._stack = self._exit = None
        assert nursery is not None and manager is not None
        nursery.cancel_scope.cancel()
        try:
            result: bool | None = await manager.__aexit__(*exc_info)
        except BaseExceptionGroup as group:
            # The block's own exception comes out as it went in, not inside a group.
            body = exc_info[1]
            if body is not None and group.split(lambda e: e is body)[1] is None:
                return False
            raise
        return result

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is serving."""
        return self._backend is not None

    @property
    def connected(self) -> bool:
        """The health flag: running, and (on Redis) connected to the server."""
        return self._backend is not None and self._backend.connected

    def _require(self, channel: str | None = None) -> Backend:
        if self._backend is None:
            raise BroadcastUnavailable(
                "The Broadcast is not running (ASyncApp(broadcast=...) runs it while the app "
                "serves; elsewhere use `async with broadcast:`)",
                channel,
            )
        return self._backend

    # -- messages ----------------------------------------------------------------------------

    async def publish(self, channel: str, data: Data) -> str:
        """Send ``data`` to every subscriber of ``channel``, in every process; return its id.

        ``data`` is ``str``, ``bytes`` or JSON-able, encoded once. Raises ``TypeError`` for
        other data, ``BroadcastUnavailable`` when the backend cannot be reached (the message
        was then not sent to anyone).
        """
        return (await self.publish_many([(channel, data)]))[0]

    async def publish_many(self, messages: Iterable[tuple[str, Data]]) -> list[str]:
        """Publish each ``(channel, data)`` in order, in one round trip; return their ids.

        Raises like :meth:`publish`, before anything is sent if any message is invalid.
        """
        items = [(MESSAGES + check_channel(channel), encode(data)) for channel, data in messages]
        backend = self._require()
        ids = await backend.publish(items)
        self._published += len(items)
        return ids

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, since: str | None = None, buffer: int | None = None
    ) -> AsyncIterator[Subscription[Event]]:
        """Receive what is published to ``channel`` from now on, while the block runs.

        ``since``: the id of the last event a previous subscription saw; the events published
        after it are delivered first, exactly and in order, then live ones. Raises
        ``HistoryGap`` when they are no longer all kept (or ``since`` is not one of this
        channel's ids), ``BroadcastUnavailable`` when the backend cannot be reached. In a
        WebSocket handler the subscription ends with ``WebSocketDisconnect`` when the client
        leaves. ``buffer`` overrides the Broadcast's for this subscription (``ValueError`` if
        it is not >= 1).
        """
        check_channel(channel)
        if buffer is None:
            buffer = self.buffer
        elif not isinstance(buffer, int) or buffer < 1:
            raise ValueError(f"buffer is a number of events >= 1, not {buffer!r}")
        # While history is read, live events it also holds arrive: room for them too.
        extra = 0 if since is None else self.history
        topic = MESSAGES + channel
        async with self._subscription(topic, channel, buffer + extra) as subscription:
            if since is not None:
                await self._catch_up(subscription, since)
                subscription._capacity = buffer
            yield subscription

    @asynccontextmanager
    async def _subscription(self, topic: str, channel: str, capacity: int) -> AsyncIterator[Any]:
        backend = self._require(channel)
        subscription: Subscription[Any] = Subscription(channel, capacity)
        hub = self._hub
        hub.add(topic, subscription)
        try:
            await backend.listen(topic)
            if subscription._error is not None:  # dropped or cut off while subscribing
                raise subscription._error
            watch_client(subscription)
            yield subscription
        finally:
            subscription._close()
            hub.remove(topic, subscription)

    async def _catch_up(self, subscription: Subscription[Event], since: str) -> None:
        backend = self._require(subscription.channel)
        missed = await backend.history(MESSAGES + subscription.channel, since)
        if not missed:
            return
        channel = subscription.channel
        backlog = [Event(channel, id, decode(payload)) for id, payload in missed]
        newest = backend.order(backlog[-1].id)
        # Live copies of these events may have arrived already, or arrive later.
        live = subscription._items
        while live and backend.order(live[0].id) <= newest:
            live.popleft()
        if not live:
            subscription._floor = (backend.order, newest)
        subscription._backlog.extend(backlog)

    # -- presence ----------------------------------------------------------------------------

    @asynccontextmanager
    async def join(self, channel: str, info: Any = None) -> AsyncIterator[Membership]:
        """Be a member of ``channel`` (with JSON-able ``info``, e.g. a nickname) in the block.

        Every process sees the member in :meth:`members` and gets a ``join`` and, at the end
        of the block (or when this process stops refreshing it), a ``leave`` presence event.
        Raises ``TypeError`` for info JSON cannot carry, ``BroadcastUnavailable``.
        """
        check_channel(channel)
        payload = encode_info(info)
        backend = self._require(channel)
        self._members += 1
        membership = Membership(channel, f"{self._token}.{self._members}", json.loads(payload))
        await backend.join(channel, membership.id, payload)
        self._joined[membership.id] = membership
        try:
            yield membership
        finally:
            del self._joined[membership.id]
            if self._backend is backend:
                # Also when cancelled (the server shutting down): others should hear of it
                # now, not when the entry expires. Bounded: a Redis round trip, no client.
                with trio.CancelScope(shield=True), trio.move_on_after(_LEAVE_TIMEOUT):
                    await backend.leave(channel, membership.id)

    async def members(self, channel: str) -> dict[str, Any]:
        """The members of ``channel`` in every process: member id to its ``info``.

        Members whose process stopped refreshing them are left out (and announced as gone).
        Raises ``BroadcastUnavailable``.
        """
        check_channel(channel)
        found = await self._require(channel).members(channel)
        return {member: json.loads(info) for member, info in found.items()}

    @asynccontextmanager
    async def subscribe_presence(self, channel: str) -> AsyncIterator[Subscription[PresenceEvent]]:
        """Receive ``PresenceEvent`` (join/leave) of ``channel`` while the block runs.

        Read :meth:`members` inside the block for the state to apply them to. Ends like
        :meth:`subscribe`'s subscriptions.
        """
        check_channel(channel)
        async with self._subscription(PRESENCE + channel, channel, self.buffer) as subscription:
            yield subscription

    # -- introspection -----------------------------------------------------------------------

    def statistics(self) -> BroadcastStatistics:
        """Counters and the health flag; cheap enough for every health check."""
        hub = self._hub
        extra = self._backend.statistics() if self._backend is not None else {}
        return BroadcastStatistics(
            backend=self._scheme,
            running=self.running,
            connected=self.connected,
            topics=len(hub.topics),
            subscriptions=sum(len(s) for s in hub.topics.values()),
            published=self._published,
            delivered=hub.delivered,
            dropped=hub.dropped,
            members=len(self._joined),
            **extra,
        )

    def __repr__(self) -> str:
        state = "connected" if self.connected else "running" if self.running else "stopped"
        return f"<Broadcast {self.url!r} {state}>"
