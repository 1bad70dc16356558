"""A chat room: the example app that ``bash scripts/serve`` runs on http://127.0.0.1:8000.

Open the page in two browser tabs and talk. Each connection owns a small outbox (a bounded trio
memory channel) drained by a sender task in the connection's nursery, so one slow client never
holds back the others: when its outbox is full it is disconnected with 1013 (try again later).
When a client leaves, its sender task is cancelled with the connection: nothing is left behind.
"""

from collections.abc import Iterator
from typing import Any

import trio

from trio_apistar import ASyncApp, Component, Route, WebSocket, http
from trio_apistar.exceptions import WebSocketDisconnect

OUTBOX_SIZE = 32


class Members:
    """Who is in the chat: a name and an outbox per connection."""

    def __init__(self) -> None:
        self._outboxes: dict[str, trio.MemorySendChannel[dict[str, Any]]] = {}

    def names(self) -> list[str]:
        return sorted(self._outboxes)

    def join(self, name: str, outbox: trio.MemorySendChannel[dict[str, Any]]) -> None:
        if name in self._outboxes:
            raise ValueError(f"{name!r} is already here")
        self._outboxes[name] = outbox
        self.publish({"event": "joined", "name": name, "members": self.names()})

    def leave(self, name: str) -> None:
        outbox = self._outboxes.pop(name, None)
        if outbox is not None:
            outbox.close()
            self.publish({"event": "left", "name": name, "members": self.names()})

    def publish(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for everyone; drop members whose outbox is full."""
        for name, outbox in list(self._outboxes.items()):
            try:
                outbox.send_nowait(message)
            except trio.WouldBlock:
                self.leave(name)  # too slow: their sender task closes them with 1013
            except trio.ClosedResourceError:
                pass

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class MembersComponent(Component):
    """One ``Members`` for the whole app."""

    def __init__(self) -> None:
        self.members = Members()

    def resolve(self) -> Members:
        return self.members


async def _sender(ws: WebSocket, outbox: trio.MemoryReceiveChannel[dict[str, Any]]) -> None:
    async with outbox:
        async for message in outbox:
            await ws.send_json(message)
    await ws.close(1013, "Too slow: try again later")  # the room closed our outbox


async def chat(ws: WebSocket, members: Members, nursery: trio.Nursery, name: str) -> None:
    """``/chat?name=ada``: every text message is published to the room as ``{"from", "text"}``."""
    await ws.connect()
    send_channel, receive_channel = trio.open_memory_channel[dict[str, Any]](OUTBOX_SIZE)
    try:
        members.join(name, send_channel)
    except ValueError as exc:
        await ws.close(1008, str(exc))
        return
    nursery.start_soon(_sender, ws, receive_channel)
    try:
        async for text in ws:
            if isinstance(text, str) and text.strip():
                members.publish({"event": "message", "from": name, "text": text[:2000]})
    except WebSocketDisconnect:
        pass
    finally:
        members.leave(name)


def who(members: Members) -> dict[str, list[str]]:
    """``GET /members``: who is in the room."""
    return {"members": members.names()}


def page() -> http.HTMLResponse:
    """``GET /``: the chat page."""
    return http.HTMLResponse(PAGE)


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>trio_apistar chat</title>
<style>
 body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
 #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
 .event { color: #777; }
</style></head>
<body>
<h1>Chat</h1>
<form id="join"><input id="name" placeholder="your name" required> <button>Join</button></form>
<div id="log"></div>
<form id="say"><input id="text" placeholder="say something" disabled> <button>Send</button></form>
<script>
const log = document.getElementById("log");
function show(text, cls) {
  const line = document.createElement("div");
  line.textContent = text; if (cls) line.className = cls;
  log.appendChild(line); log.scrollTop = log.scrollHeight;
}
let ws = null;
const text = document.getElementById("text");
const sendButton = document.querySelector("#say button");
sendButton.disabled = true;
function setConnected(connected) { text.disabled = !connected; sendButton.disabled = !connected; }
document.getElementById("join").onsubmit = (e) => {
  e.preventDefault();
  if (ws) ws.close(1000);
  const name = document.getElementById("name").value;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/chat?name=${encodeURIComponent(name)}`);
  ws = socket;
  socket.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.event === "message") show(`${m.from}: ${m.text}`);
    else {
      if (m.event === "joined" && m.name === name) setConnected(true);
      show(`${m.name} ${m.event} (${m.members.join(", ")})`, "event");
    }
  };
  socket.onclose = (event) => {
    if (ws === socket) { ws = null; setConnected(false); }
    show(`disconnected (${event.code} ${event.reason})`, "event");
  };
};
document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(text.value); text.value = "";
};
</script>
</body>
</html>
"""

app = ASyncApp(
    routes=[Route("/", "GET", page), Route("/chat", "GET", chat), Route("/members", "GET", who)],
    components=[MembersComponent()],
)
