"""The process's fan-out: which local subscriptions listen to which topic.

Backends hand every message of a topic to :meth:`Hub.deliver` once; it is decoded once and the
same event is put in every local subscription's buffer without blocking. A topic is a channel
with its kind: ``m:<channel>`` for messages, ``p:<channel>`` for presence changes.
"""

import logging
from collections.abc import Callable
from typing import Any

from ..exceptions import SubscriberTooSlow
from ._codec import decode
from ._subscription import Event, PresenceEvent, Subscription

__all__ = ["MESSAGES", "PRESENCE", "Hub", "channel_of"]

logger = logging.getLogger("trio_apistar.broadcast")

MESSAGES = "m:"
PRESENCE = "p:"


def channel_of(topic: str) -> str:
    """The channel name of a topic."""
    return topic[2:]


class Hub:
    """Local subscriptions by topic, and counters of what was delivered and dropped."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscription[Any]]] = {}
        self.delivered = 0
        self.dropped = 0  # subscriptions failed for falling behind
        self.undecodable = 0
        #: Called with a topic when its first local subscription arrives / its last one leaves.
        self.on_first: Callable[[str], None] = lambda topic: None
        self.on_last: Callable[[str], None] = lambda topic: None

    def add(
        self, topic: str, subscription: Subscription[Event] | Subscription[PresenceEvent]
    ) -> None:
        subscribers = self.topics.get(topic)
        if subscribers is None:
            subscribers = self.topics[topic] = set()
            self.on_first(topic)
        subscribers.add(subscription)

    def remove(self, topic: str, subscription: Subscription[Any]) -> None:
        """Forget ``subscription`` (again is fine); the topic goes with its last one."""
        subscribers = self.topics.get(topic)
        if subscribers is None or subscription not in subscribers:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self.topics[topic]
            self.on_last(topic)

    def deliver(self, topic: str, id: str, payload: bytes) -> None:
        """Decode ``payload`` once and buffer it for every local subscriber of ``topic``."""
        subscribers = self.topics.get(topic)
        if not subscribers:
            return
        try:
            event: Event | PresenceEvent = self.event(topic, id, payload)
        except ValueError:
            # Someone else publishes on our Redis channels: not ours to deliver.
            self.undecodable += 1
            logger.warning("Dropped a message on %r that is not a broadcast payload", topic)
            return
        for subscription in list(subscribers):
            if subscription._put(event):
                self.delivered += 1
            else:
                self.dropped += 1
                subscription._fail(
                    SubscriberTooSlow(
                        f"The subscriber to {subscription.channel!r} fell behind by more than "
                        f"{subscription.statistics().capacity} events and was dropped",
                        subscription.channel,
                        subscription.last_id,
                    )
                )
                self.remove(topic, subscription)

    @staticmethod
    def event(topic: str, id: str, payload: bytes) -> Event | PresenceEvent:
        """The event a payload stands for on ``topic``; ``ValueError`` if it is not ours."""
        channel = channel_of(topic)
        if topic.startswith(PRESENCE):
            change = decode(payload)
            if not isinstance(change, dict) or change.get("kind") not in ("join", "leave"):
                raise ValueError("not a presence change")
            return PresenceEvent(channel, change["kind"], str(change["member"]), change.get("info"))
        return Event(channel, id, decode(payload))

    def fail_all(self, error: Callable[[str], BaseException]) -> None:
        """End every local subscription with ``error(channel)`` (the backend is gone)."""
        topics, self.topics = self.topics, {}
        for topic, subscribers in topics.items():
            for subscription in subscribers:
                subscription._fail(error(subscription.channel))
            self.on_last(topic)
