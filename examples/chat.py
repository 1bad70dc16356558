"""Chat rooms: the example app that ``bash scripts/serve`` runs on http://127.0.0.1:8000.

Open the page in two browser tabs and talk. Everything goes through ``Broadcast``:

* each line a client sends is published to its room, and every socket in the room, in this
  process or any other, relays the room's messages to its client;
* who is in the room is presence: a member is announced as joined and left, and the member list
  is read from every process (a worker that dies has its members expire and announced as gone);
* the room keeps its last 100 messages, so a tab that reconnects with ``since=<the last id it
  saw>`` gets exactly what it missed, or is told that some of it is gone.

``CHAT_BROADCAST_URL`` picks the backend: ``memory://`` (the default: one process, nothing else
to run) or ``redis://host:port/db`` to share rooms between workers and machines::

    CHAT_BROADCAST_URL=redis://127.0.0.1:6379/0 bash scripts/serve --workers 2

A client too slow to keep up with its room is disconnected with 1013 (try again later), without
holding back anybody else; when a client leaves, its subscriptions and membership end with it.

The messages are typed: a client sends ``Say`` (``{"text": "..."}``), validated as it arrives
(an invalid one is answered with an ``Invalid`` frame and the socket stays open), and receives
``Said``, ``Presence`` and ``Gap`` frames. ``app.asyncapi()`` describes them all.
"""

import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

import trio
from pydantic import BaseModel, Field

from trio_apistar import ASyncApp, Broadcast, FileResponse, Route, Static, WebSocket, http
from trio_apistar.broadcast import Event, PresenceEvent, Subscription
from trio_apistar.exceptions import HistoryGap, WebSocketDisconnect, WebSocketValidationError

STATIC = Path(__file__).resolve().parent / "chat_static"
HISTORY = 100
MAX_NAME = 32
MAX_TEXT = 2000


class Say(BaseModel):
    """What a client sends: one line for its room."""

    text: str = Field(min_length=1, max_length=MAX_TEXT)


class Said(BaseModel):
    """A line said in the room, as every member's client receives it."""

    event: Literal["message"] = "message"
    id: str
    name: str
    text: str


class Presence(BaseModel):
    """Someone joined or left the room; ``members`` is who is in it now."""

    event: Literal["joined", "left"]
    name: str
    members: list[str]


class Gap(BaseModel):
    """A reconnecting client missed more than the room still keeps."""

    event: Literal["gap"] = "gap"


class Invalid(BaseModel):
    """The client sent something that is not a ``Say``: what was wrong (the socket stays open)."""

    event: Literal["invalid"] = "invalid"
    errors: str | dict[str, str]


def _name(info: Any) -> str:
    return str(info.get("name", "?")) if isinstance(info, dict) else "?"


async def member_names(broadcast: Broadcast, room: str) -> list[str]:
    """The names in ``room``, across every process, sorted."""
    return sorted({_name(info) for info in (await broadcast.members(room)).values()})


async def _subscribe(
    stack: AsyncExitStack, ws: WebSocket, broadcast: Broadcast, room: str, since: str | None
) -> Subscription[Event]:
    if since:
        try:
            return await stack.enter_async_context(broadcast.subscribe(room, since=since))
        except HistoryGap:
            # Some of what this tab missed is no longer kept: say so, then carry on live.
            await ws.send_json(Gap())
    return await stack.enter_async_context(broadcast.subscribe(room))


async def _say(ws: WebSocket, broadcast: Broadcast, room: str, name: str) -> None:
    while True:
        try:
            said = await ws.receive_json(Say)
        except WebSocketValidationError as exc:
            await ws.send_json(Invalid(errors=exc.errors))
            continue
        if said.text.strip():
            await broadcast.publish(room, {"name": name, "text": said.text})


async def _announce(
    ws: WebSocket, broadcast: Broadcast, room: str, changes: Subscription[PresenceEvent]
) -> None:
    async for change in changes:
        event: Literal["joined", "left"] = "joined" if change.kind == "join" else "left"
        members = await member_names(broadcast, room)
        await ws.send_json(Presence(event=event, name=_name(change.info), members=members))


async def chat(
    ws: WebSocket,
    broadcast: Broadcast,
    name: http.QueryParam,
    room: http.QueryParam,
    since: http.QueryParam,
) -> None:
    """``/chat?name=ada&room=lobby[&since=ID]``: join the room and talk.

    The client sends ``Say`` and gets ``Said`` for every message, ``Presence`` when someone
    comes or goes, ``Gap`` if it reconnected with a ``since`` older than the room's history,
    and ``Invalid`` for a message that is not a ``Say``. A name already in the room is refused
    with 1008, unless the tab is reconnecting (``since``).
    """
    await ws.connect()
    nick, room_name = (name or "").strip(), (room or "lobby").strip()
    if not 0 < len(nick) <= MAX_NAME or not 0 < len(room_name) <= MAX_NAME:
        await ws.close(1008, f"a name and a room of 1 to {MAX_NAME} characters, please")
        return
    # Two tabs racing for one name could both get it: good enough for a chat example.
    if not since and nick in await member_names(broadcast, room_name):
        await ws.close(1008, f"{nick!r} is already here")
        return
    async with AsyncExitStack() as stack:
        # Listen before joining, so that this client hears its own arrival and every message
        # after it; all three end when the client leaves.
        messages = await _subscribe(stack, ws, broadcast, room_name, since)
        changes = await stack.enter_async_context(broadcast.subscribe_presence(room_name))
        await stack.enter_async_context(broadcast.join(room_name, {"name": nick}))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_say, ws, broadcast, room_name, nick)
                nursery.start_soon(_announce, ws, broadcast, room_name, changes)
                async for message in messages:
                    await ws.send_json(Said(id=message.id, **message.data))
        except* WebSocketDisconnect:
            pass  # the client left, and every task here learnt it at once


async def members(broadcast: Broadcast, room: http.QueryParam) -> dict[str, list[str]]:
    """``GET /members?room=lobby``: who is in the room, in every process."""
    return {"members": await member_names(broadcast, (room or "lobby").strip())}


def page() -> FileResponse:
    """``GET /``: the chat page (its script is served from ``/static``)."""
    return FileResponse(STATIC / "index.html")


def make_app(broadcast_url: str = "memory://") -> ASyncApp:
    """The chat app on the broadcast backend at ``broadcast_url``."""
    return ASyncApp(
        routes=[
            Route("/", "GET", page),
            Route("/chat", "GET", chat, receives=Say, sends=[Said, Presence, Gap, Invalid]),
            Route("/members", "GET", members),
            Static("/static", directory=STATIC),
        ],
        broadcast=Broadcast(broadcast_url, history=HISTORY),
    )


app = make_app(os.environ.get("CHAT_BROADCAST_URL", "memory://"))
