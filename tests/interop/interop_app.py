"""The app every interoperability client talks to, served by Hypercorn (trio worker).

- ``/ws``: echoes each message with its type (text stays text, binary stays binary).
- ``/json``: answers each JSON message with ``{"echo": message}``.
- ``/``: a page whose script runs the same scenarios from a browser and writes the outcome,
  as JSON, into ``<pre id="outcome">`` (and resolves ``window.outcome``).
"""

from trio_apistar import ASyncApp, Route, WebSocket, http

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>trio_apistar interop</title></head>
<body>
<pre id="outcome">running</pre>
<script>
// Set apart, so that it also reports a syntax error in the script below at once.
window.onerror = (message) => {
  document.getElementById("outcome").textContent = JSON.stringify({error: String(message)});
};
</script>
<script>
function open(path) {
  const ws = new WebSocket(`ws://${location.host}${path}`);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  const waiters = [];
  ws.onmessage = (event) => {
    if (waiters.length) waiters.shift()(event.data); else inbox.push(event.data);
  };
  ws.next = () => inbox.length
    ? Promise.resolve(inbox.shift())
    : new Promise((resolve) => waiters.push(resolve));
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot open ${path}`));
  });
}

async function scenarios() {
  const outcome = {};
  const ws = await open("/ws");
  ws.send("hello, trio");
  outcome.text = await ws.next();
  ws.send(new Uint8Array([0, 1, 2, 255]));
  const data = await ws.next();
  outcome.binary = data instanceof ArrayBuffer ? Array.from(new Uint8Array(data)) : String(data);
  ws.close(1000);
  const js = await open("/json");
  js.send(JSON.stringify({n: 1, s: "caf\\u00e9"}));
  outcome.json = JSON.parse(await js.next());
  js.close(1000);
  return outcome;
}

window.outcome = scenarios().then(
  (outcome) => outcome,
  (error) => ({error: String(error)}),
).then((outcome) => {
  document.getElementById("outcome").textContent = JSON.stringify(outcome);
  return outcome;
});
</script>
</body>
</html>
"""


async def echo(ws: WebSocket) -> None:
    """Send every message back as it came: text as text, binary as binary."""
    await ws.connect()
    async for message in ws:
        await ws.send(message)


async def echo_json(ws: WebSocket) -> None:
    """Answer every JSON message with ``{"echo": message}`` until the client leaves."""
    await ws.connect()
    while True:  # receive_json() raises WebSocketDisconnect when the client leaves
        data = await ws.receive_json()
        await ws.send_json({"echo": data})


def page() -> http.HTMLResponse:
    """The browser's test page."""
    return http.HTMLResponse(PAGE)


app = ASyncApp(
    routes=[
        Route("/", "GET", page),
        Route("/ws", "GET", echo),
        Route("/json", "GET", echo_json),
    ]
)
