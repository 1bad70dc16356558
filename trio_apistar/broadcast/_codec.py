"""How published data travels: encoded once per publish, decoded once per process.

A payload is one kind byte and the body: ``s`` a ``str`` (UTF-8), ``b`` ``bytes`` as they are,
``j`` anything else as compact JSON. Subscribers get back a ``str`` for a ``str`` and ``bytes``
for ``bytes``; a JSON-able value comes back as its JSON round trip (a tuple becomes a list).
"""

import json
from typing import Any

__all__ = ["Data", "check_channel", "decode", "dumps", "encode", "encode_info", "presence_change"]

#: What ``publish`` accepts: ``str``, ``bytes``, or a JSON-able value.
Data = Any

#: Longer names are refused: a channel name is a key in every process and in Redis.
_MAX_CHANNEL_LENGTH = 1024


def dumps(value: Any) -> str:
    """Compact JSON; raises ``TypeError``/``ValueError`` for what JSON cannot carry."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode(data: Data) -> bytes:
    """The payload for ``data``; raises ``TypeError`` for data JSON cannot carry."""
    if isinstance(data, str):
        return b"s" + data.encode("utf-8", "surrogatepass")
    if isinstance(data, bytes | bytearray | memoryview):
        return b"b" + bytes(data)
    try:
        return b"j" + dumps(data).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"publish() takes str, bytes or JSON-able data: {exc}") from None


def decode(payload: bytes) -> Data:
    """The data a payload carries; raises ``ValueError`` for a payload we did not encode."""
    kind, body = payload[:1], payload[1:]
    if kind == b"s":
        return body.decode("utf-8", "surrogatepass")
    if kind == b"b":
        return body
    if kind == b"j":
        return json.loads(body)
    raise ValueError(f"Not a broadcast payload: {payload[:20]!r}")


def check_channel(channel: str) -> str:
    """``channel`` if it is a usable name; raises ``TypeError``/``ValueError`` otherwise."""
    if not isinstance(channel, str):
        raise TypeError(f"A channel name is a str, not {type(channel).__name__}")
    if not channel or len(channel) > _MAX_CHANNEL_LENGTH:
        raise ValueError(f"A channel name has 1 to {_MAX_CHANNEL_LENGTH} characters")
    return channel


def encode_info(info: Any) -> bytes:
    """A member's info as JSON; raises ``TypeError`` for info JSON cannot carry."""
    try:
        return dumps(info).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"A member's info is JSON-able data: {exc}") from None


def presence_change(kind: str, member: str, info: bytes) -> bytes:
    """The payload announcing that ``member`` (with JSON ``info``) joined or left."""
    return b'j{"kind":"%s","member":%s,"info":%s}' % (kind.encode(), dumps(member).encode(), info)
