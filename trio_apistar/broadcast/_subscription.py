"""What subscribers hold: events, and a subscription's bounded buffer.

A subscription's buffer is filled without ever blocking the one who fills it (the process's
reader, or a publisher in the same process): when it is full the subscription is failed with
``SubscriberTooSlow`` and its buffer dropped at once, so a slow reader costs nobody else time
or memory. Whatever ends a subscription (overflow, the backend lost, the Broadcast stopping,
the WebSocket client leaving) is raised by the next ``receive()``, waking one that waits.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import trio

__all__ = ["Event", "PresenceEvent", "Subscription", "SubscriptionStatistics"]


@dataclass(frozen=True, slots=True)
class Event:
    """One published message, as every subscriber of its channel receives it.

    ``data`` is what was published: a ``str`` or ``bytes`` as it was, a JSON-able value as its
    JSON round trip. One ``Event`` is shared by all subscribers of a process: do not mutate
    ``data``. ``id`` orders the events of one channel; give it back as ``since=`` to catch up.
    """

    channel: str
    id: str
    data: Any


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A member joined or left a channel (``kind``), with the ``info`` it joined with.

    A ``leave`` is also announced when the member's process stopped refreshing it (it died).
    """

    channel: str
    kind: Literal["join", "leave"]
    member: str
    info: Any


E = TypeVar("E", Event, PresenceEvent)


@dataclass(frozen=True)
class SubscriptionStatistics:
    """What :meth:`Subscription.statistics` reports."""

    channel: str
    buffered: int
    capacity: int
    delivered: int
    last_id: str | None
    closed: bool


class Subscription(Generic[E]):
    """The events of one channel, from ``async with broadcast.subscribe(channel) as sub``.

    Iterate it (``async for event in sub``) or call :meth:`receive`. Iteration ends only by an
    exception: ``SubscriberTooSlow`` when this subscription fell more than ``buffer`` events
    behind, ``BroadcastUnavailable`` when the backend connection was lost, and, in a WebSocket
    handler, ``WebSocketDisconnect`` as soon as the client leaves.
    """

    __slots__ = (
        "_backlog",
        "_capacity",
        "_closed",
        "_delivered",
        "_error",
        "_floor",
        "_items",
        "_last_id",
        "_lot",
        "_on_close",
        "channel",
    )

    def __init__(self, channel: str, capacity: int) -> None:
        self.channel = channel
        self._capacity = capacity
        self._items: deque[E] = deque()
        # Events from history (since=): bounded by the history kept, served first.
        self._backlog: deque[E] = deque()
        self._error: BaseException | None = None
        self._lot = trio.lowlevel.ParkingLot()
        self._delivered = 0
        self._last_id: str | None = None
        self._closed = False
        self._on_close: list[Callable[[], None]] = []
        # After a catch-up from history: (sort key of ids, newest id given) to drop copies
        # of those events that arrive live later (they come on another connection).
        self._floor: tuple[Callable[[str], Any], Any] | None = None

    @property
    def last_id(self) -> str | None:
        """The id of the last event :meth:`receive` returned (``None`` before the first)."""
        return self._last_id

    def statistics(self) -> SubscriptionStatistics:
        """How full the buffer is and how much was delivered."""
        return SubscriptionStatistics(
            self.channel,
            len(self._items) + len(self._backlog),
            self._capacity,
            self._delivered,
            self._last_id,
            self._closed,
        )

    async def receive(self) -> E:
        """The next event, waiting for one.

        Raises ``SubscriberTooSlow``, ``BroadcastUnavailable``, or ``WebSocketDisconnect``
        (the client of the handler's WebSocket left) once the subscription has ended, and
        ``RuntimeError`` after the ``async with`` block closed it.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise RuntimeError(f"The subscription to {self.channel!r} is closed")
            queue = self._backlog or self._items
            if queue:
                event = queue.popleft()
                self._delivered += 1
                self._last_id = getattr(event, "id", None) or self._last_id
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event
            await self._lot.park()

    def __aiter__(self) -> "Subscription[E]":
        return self

    async def __anext__(self) -> E:
        return await self.receive()

    # -- used by the Broadcast ------------------------------------------------------------

    def _put(self, event: E) -> bool:
        """Buffer ``event``; False (and nothing buffered) when the buffer is full."""
        if self._floor is not None:
            order, newest = self._floor
            if order(event.id) <= newest:  # type: ignore[attr-defined]
                return True  # given from history already
            self._floor = None  # live events come in order: no more copies after this one
        if len(self._items) >= self._capacity:
            return False
        self._items.append(event)
        self._lot.unpark()
        return True

    def _fail(self, error: BaseException) -> None:
        """End the subscription with ``error`` (the first one wins); free its buffer now."""
        if self._error is None and not self._closed:
            self._error = error
            self._items.clear()
            self._backlog.clear()
            self._lot.unpark_all()

    def _close(self) -> None:
        """The ``async with`` block ended: run the clean-ups registered with it, once."""
        if not self._closed:
            self._closed = True
            self._items.clear()
            self._backlog.clear()
            self._lot.unpark_all()
            callbacks, self._on_close = self._on_close, []
            for callback in reversed(callbacks):
                callback()

    @property
    def _failed(self) -> bool:
        return self._error is not None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "failed" if self._error else "open"
        return f"<Subscription {self.channel!r} {state} buffered={len(self._items)}>"
