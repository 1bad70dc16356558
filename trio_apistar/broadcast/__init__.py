"""Broadcast and presence: one message to many sockets, in one process or across many.

```python
from trio_apistar import ASyncApp, Broadcast, Route, WebSocket

async def room(ws: WebSocket, broadcast: Broadcast) -> None:
    await ws.connect()
    async with broadcast.subscribe("room") as subscription:
        async for event in subscription:
            await ws.send(event.data)

app = ASyncApp([Route("/ws", "GET", room)], broadcast=Broadcast("memory://"))
```

``memory://`` serves one process; ``redis://host:port/db`` (``pip install trio_apistar[redis]``)
shares channels, history and presence between every process on that Redis database.
"""

from ._broadcast import Broadcast as Broadcast
from ._broadcast import BroadcastStatistics as BroadcastStatistics
from ._broadcast import Membership as Membership
from ._subscription import Event as Event
from ._subscription import PresenceEvent as PresenceEvent
from ._subscription import Subscription as Subscription
from ._subscription import SubscriptionStatistics as SubscriptionStatistics

__all__ = [
    "Broadcast",
    "BroadcastStatistics",
    "Event",
    "Membership",
    "PresenceEvent",
    "Subscription",
    "SubscriptionStatistics",
]
