"""WebSocket close codes and connection states, shared by ``WebSocket`` and its inbound path.

States::

    CONNECTING --accept()--> CONNECTED --close()-----------> CLOSED        (we closed it)
        |                        \\--client leaves / 1001--> DISCONNECTED  (they left)
        \\--close() / refused----------------------------->  REFUSED       (no handshake)
"""

import enum
from dataclasses import dataclass

__all__ = ["WebSocketState", "WebSocketStatistics", "status"]


class status:
    """RFC 6455 (section 7.4.1) and IANA close codes."""

    WS_1000_OK = 1000
    WS_1001_LEAVING = 1001
    WS_1002_PROT_ERROR = 1002
    WS_1003_UNSUPPORTED_TYPE = 1003
    WS_1004_RESERVED = 1004
    WS_1005_NO_STATUS = 1005
    WS_1006_CLOSED_ABNORMAL = 1006
    WS_1007_INVALID_DATA = 1007
    WS_1008_POLICY_VIOLATION = 1008
    WS_1009_TOO_BIG = 1009
    WS_1010_MANDATORY_EXT = 1010
    WS_1011_INTERNAL_ERROR = 1011
    WS_1012_SERVICE_RESTART = 1012
    WS_1013_TRY_AGAIN_LATER = 1013
    WS_1014_BAD_GATEWAY = 1014
    WS_1015_TLS_HANDSHAKE = 1015


class WebSocketState(enum.Enum):
    """Where a :class:`~trio_apistar.WebSocket` is in its life."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"


@dataclass(frozen=True)
class WebSocketStatistics:
    """What :meth:`~trio_apistar.WebSocket.statistics` reports."""

    state: WebSocketState
    messages_buffered: int
    max_buffered: int
    tasks_waiting_receive: int
    close_code: int | None
