"""A subscription opened in a WebSocket handler ends when that client leaves."""

from ._subscription import Subscription

__all__ = ["watch_client"]


def watch_client(subscription: Subscription[object]) -> None:  # type: ignore[type-var]
    """Fail ``subscription`` with ``WebSocketDisconnect`` when the current client leaves."""
