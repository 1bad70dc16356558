"""A subscription opened in a WebSocket handler ends when that client leaves.

The session puts its WebSocket in a context variable; a subscription opened by the handler's
task, or by a task of its connection nursery, registers with that WebSocket like a
``cancel_on_disconnect()`` block does. When the client leaves, the subscription fails with
``WebSocketDisconnect`` (so ``async for event in subscription`` ends like ``receive()``
would) and its channel is released. A task of the app's nursery started from a handler
inherits the variable but is not part of the connection, so it is left alone.
"""

from typing import Any

import trio

from ..exceptions import WebSocketDisconnect
from ..websocket import WebSocket, current_session, status
from ._subscription import Subscription

__all__ = ["watch_client"]


class _ClientWatch:
    """Fails a subscription when the WebSocket's client leaves (its ``cancel()`` is called)."""

    __slots__ = ("subscription", "ws")

    def __init__(self, ws: WebSocket, subscription: Subscription[Any]) -> None:
        self.ws = ws
        self.subscription = subscription

    def cancel(self) -> None:
        ws = self.ws
        code = ws.close_code or status.WS_1005_NO_STATUS
        self.subscription._fail(WebSocketDisconnect(code, ws.close_reason))


def _in_session(session_task: trio.lowlevel.Task) -> bool:
    """Whether the current task is the session's or one of its descendants."""
    task: trio.lowlevel.Task | None = trio.lowlevel.current_task()
    while task is not None:
        if task is session_task:
            return True
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return False


def watch_client(subscription: Subscription[Any]) -> None:
    """Fail ``subscription`` with ``WebSocketDisconnect`` when the current client leaves."""
    current = current_session.get()
    if current is None or not _in_session(current[1]):
        return
    ws = current[0]
    watch = _ClientWatch(ws, subscription)
    ws._cancel_on_disconnect(watch)
    scopes = ws._disconnect_scopes
    assert scopes is not None
    subscription._on_close.append(lambda: scopes.discard(watch))
