"""An API behind the CORS hook, and a page that calls it from another origin.

``CORS_ORIGINS`` (comma-separated) lists the origins the API allows. ``/page?api=URL`` is a page
whose script calls the API at ``URL`` (another server, so another origin) with a preflighted
PUT, a simple GET and a WebSocket, and writes what happened into ``#outcome``.
"""

import os

from trio_apistar import CORS, ASyncApp, Route, WebSocket, http

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cors</title></head>
<body><pre id="outcome">running</pre>
<script>
window.onerror = (message) => {
  document.getElementById("outcome").textContent = JSON.stringify({error: String(message)});
};
</script>
<script>
const api = new URL(location.href).searchParams.get("api");

async function attempt(run) {
  try { return await run(); } catch (error) { return "blocked"; }
}

function socket() {
  return new Promise((resolve) => {
    const ws = new WebSocket(api.replace("http", "ws") + "/ws");
    ws.onmessage = (event) => { resolve(event.data); ws.close(); };
    ws.onerror = () => resolve("refused");
  });
}

(async () => {
  const outcome = {};
  outcome.put = await attempt(async () => {
    const response = await fetch(api + "/items", {
      method: "PUT", headers: {"x-token": "t", "content-type": "application/json"}, body: "[3]",
    });
    return await response.json();
  });
  outcome.get = await attempt(async () => (await fetch(api + "/items")).json());
  outcome.ws = await socket();
  document.getElementById("outcome").textContent = JSON.stringify(outcome);
})();
</script>
</body></html>
"""


def page() -> http.HTMLResponse:
    return http.HTMLResponse(PAGE)


def items() -> list[int]:
    return [1, 2]


def put_items(data: http.RequestData, x_token: http.Header) -> dict[str, object]:
    return {"stored": data, "token": x_token}


async def hello(ws: WebSocket) -> None:
    await ws.connect()
    await ws.send("hello")
    async for _ in ws:
        pass


app = ASyncApp(
    routes=[
        Route("/page", "GET", page),
        Route("/items", "GET", items),
        Route("/items", "PUT", put_items),
        Route("/ws", "GET", hello),
    ],
    event_hooks=[
        CORS(
            [o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o],
            allow_headers=["x-token", "content-type"],
        )
    ],
)
