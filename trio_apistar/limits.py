"""The app's watch over its open WebSockets: sends that make no progress, idle sockets.

One task per app, started by the lifespan, wakes every quarter of the shortest timeout (at most
once a second) and looks at every open WebSocket:

* a writer (``_outbound.py``) busy with the same message for ``websocket_send_timeout``: the
  client is not reading. It is given up on: its handler sees ``WebSocketDisconnect(1008,
  "send timeout")``, the session ends, the server closes the socket under the stuck write;
* no message from the client for ``websocket_idle_timeout``: closed with 1001 "idle timeout"
  (the handler sees ``WebSocketDisconnect(1001)``), like at shutdown. Only what the client sends
  counts: a handler that only sends (to a client that left without the server telling it, or
  whose goodbye waits behind messages the handler never reads) must not keep the connection
  for ever. A client that only listens sends a heartbeat now and then.

A timeout therefore fires between its value and a quarter more. Sockets of an app served
without the ASGI lifespan are not watched (there is no app nursery to watch them from).
"""

import math

import trio

from .websocket import WebSocket, WebSocketState, status

__all__ = ["watch_limits"]

#: The longest the watch sleeps between looks.
_MAX_PERIOD = 1.0


class _Seen:
    """What the watch last saw of one socket, and since when."""

    __slots__ = ("active_at", "activity", "stalled_since", "written")

    def __init__(self, activity: int, written: int, now: float) -> None:
        self.activity = activity
        self.active_at = now
        self.written = written
        self.stalled_since = now


async def watch_limits(
    sockets: set[WebSocket],
    send_timeout: float | None,
    idle_timeout: float | None,
    nursery: trio.Nursery,
) -> None:
    """Enforce the send and idle timeouts (seconds, ``None``: none) on the open ``sockets``
    until cancelled; idle closes run in ``nursery``."""
    timeouts = [t for t in (send_timeout, idle_timeout) if t is not None]
    if not timeouts:
        await trio.sleep_forever()
    period = min(_MAX_PERIOD, min(timeouts) / 4)
    while True:
        await trio.sleep(period)
        # In a function of its own: a loop variable here would keep the last socket (and all
        # it refers to) alive while this sleeps. (What the watch saw of a socket is kept on
        # the socket, so it goes with it.)
        _look_at_all(sockets, trio.current_time(), send_timeout, idle_timeout, nursery)


def _look_at_all(
    sockets: set[WebSocket],
    now: float,
    send_timeout: float | None,
    idle_timeout: float | None,
    nursery: trio.Nursery,
) -> None:
    for ws in list(sockets):
        _look(ws, now, send_timeout, idle_timeout, nursery)


def _arrived(ws: WebSocket) -> int:
    """Messages that arrived from the client so far: taken by the app, or waiting in the
    server's queue (a handler that does not read still sees its client's messages counted)."""
    server = ws._server
    waiting = server.statistics().current_buffer_used if server is not None else 0
    return ws._received + waiting


def _look(
    ws: WebSocket,
    now: float,
    send_timeout: float | None,
    idle_timeout: float | None,
    nursery: trio.Nursery,
) -> None:
    writer = ws._writer
    written = writer.written if writer is not None else 0
    activity = _arrived(ws)
    last: _Seen | None = ws._seen
    if last is None:
        ws._seen = _Seen(activity, written, now)
        return
    # A stalled writer is given up on in any state: the close frame of a socket we closed can
    # stall too, and the session waits for it.
    if writer is not None and writer.busy and not writer.abandoned:
        if written != last.written:
            last.written, last.stalled_since = written, now
        elif send_timeout is not None and now - last.stalled_since >= send_timeout:
            ws._give_up(status.WS_1008_POLICY_VIOLATION, "send timeout")
            return
    else:
        last.written, last.stalled_since = written, now
    if ws.state is not WebSocketState.CONNECTED:
        return
    if activity != last.activity:
        last.activity, last.active_at = activity, now
    elif idle_timeout is not None and now - last.active_at >= idle_timeout:
        last.active_at = math.inf  # one close is enough
        nursery.start_soon(ws._going_away, status.WS_1001_LEAVING, "idle timeout")
