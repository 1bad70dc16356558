// The chat page: join a room, talk, and come back after a lost connection without missing
// anything the room still keeps (the server replays what came after the last message seen).
"use strict";

const log = document.getElementById("log");
const text = document.getElementById("text");
const sendButton = document.querySelector("#say button");

function show(line, cls) {
  const div = document.createElement("div");
  div.textContent = line;
  if (cls) div.className = cls;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
}

function setConnected(connected) {
  text.disabled = !connected;
  sendButton.disabled = !connected;
}

// Refusals (1008) and our own closes (1000) are final; anything else is worth another try.
const FINAL = new Set([1000, 1008]);
let ws = null;
let session = 0;

function connect(name, room, mine, lastId, delay) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ name, room });
  if (lastId) query.set("since", lastId);
  const socket = new WebSocket(`${scheme}://${location.host}/chat?${query}`);
  ws = socket;
  socket.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.event === "message") {
      lastId = m.id;
      show(`${m.name}: ${m.text}`);
    } else if (m.event === "gap") {
      show("some messages were missed (no longer kept)", "event");
    } else if (m.event === "invalid") {
      show(`not sent: ${JSON.stringify(m.errors)}`, "event");
    } else {
      if (m.event === "joined" && m.name === name) { setConnected(true); delay = 500; }
      show(`${m.name} ${m.event} (${m.members.join(", ")})`, "event");
    }
  };
  socket.onclose = (event) => {
    if (ws !== socket) return;  // replaced by a newer join
    ws = null;
    setConnected(false);
    const retry = mine === session && !FINAL.has(event.code);
    show(`disconnected (${event.code} ${event.reason})${retry ? ", reconnecting" : ""}`, "event");
    if (retry) {
      setTimeout(() => { if (mine === session) connect(name, room, mine, lastId, delay); }, delay);
      delay = Math.min(delay * 2, 5000);
    }
  };
}

document.getElementById("join").onsubmit = (e) => {
  e.preventDefault();
  session += 1;
  if (ws) ws.close(1000);
  const name = document.getElementById("name").value;
  const room = document.getElementById("room").value;
  connect(name, room, session, null, 500);
};

document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ text: text.value }));
  text.value = "";
};
