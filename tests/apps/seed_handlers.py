"""The seed guide's handlers, as written (``websocket: WebSocket`` parameters named ``ws``;
``trio.sleep`` where the guide, written for asyncio, has ``asyncio.sleep``)."""

from datetime import datetime

import trio

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar.exceptions import WebSocketDisconnect

# Post-processing evidence for tests: the handler records that it saw the client leave.
seen_disconnects: list[str] = []


async def websocket_helloworld(ws: WebSocket):
    await ws.connect()

    # Send 100 Hello World!
    for _ in range(100):
        await ws.send("Hello World!")

    await ws.close()


async def websocket_helloworld_noclose(ws: WebSocket):
    await ws.connect()

    # Send 100 Hello World!
    for _ in range(100):
        await ws.send("Hello World!")


async def websocket_helloworld_msg(ws: WebSocket):
    await ws.connect()

    # Send 100 Hello World! JSON messages
    for idx in range(100):
        await ws.send_json({"index": idx, "text": "Hello World!"})


async def websocket_helloworld_forever(ws: WebSocket):
    await ws.connect()

    try:
        while True:
            await ws.send_json({"timestamp": datetime.now().isoformat(), "text": "Hello World!"})

            await trio.sleep(0.05)

    except WebSocketDisconnect:
        # The WebSocket was closed by the client
        pass

    # Do any needed post processing here
    seen_disconnects.append("forever")


# Ping Pong, until the client goes away
async def websocket_pingpong_forever(ws: WebSocket):
    await ws.connect()

    try:
        while True:
            # wait for the ping. ws.receive() will block until a message comes in.
            ping = await ws.receive()  # noqa: F841
            await ws.send("pong")
    except WebSocketDisconnect:
        pass


# Ping Pong JSON, until the client goes away
async def websocket_pingpong_json_forever(ws: WebSocket):
    await ws.connect()

    try:
        while True:
            # wait for the ping. ws.receive_json() will block until a message comes in.
            ping = await ws.receive_json()  # noqa: F841
            await ws.send_json({"paddle": "pong"})
    except WebSocketDisconnect:
        pass


def disconnects() -> list[str]:
    return seen_disconnects


def plain(name: http.QueryParam) -> dict:
    return {"hello": name}


routes = [
    Route("/hello", "GET", websocket_helloworld),
    Route("/hello-noclose", "GET", websocket_helloworld_noclose),
    Route("/hello-json", "GET", websocket_helloworld_msg),
    Route("/forever", "GET", websocket_helloworld_forever),
    Route("/pingpong", "GET", websocket_pingpong_forever),
    Route("/pingpong-json", "GET", websocket_pingpong_json_forever),
    Route("/disconnects", "GET", disconnects),
    Route("/plain", "GET", plain),
]

app = ASyncApp(routes=routes)
