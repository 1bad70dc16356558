"""trio-websocket's own ``serve_websocket`` echo server: the no-ASGI WebSocket reference.

Run as ``python -m benchmarks.apps.trio_websocket_echo --port PORT``.
"""

import argparse

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket


async def echo(request: WebSocketRequest) -> None:
    """Accept the connection and echo every message until the client leaves."""
    ws = await request.accept()
    try:
        while True:
            message = await ws.get_message()
            await ws.send_message(message)
    except ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    """Serve the echo handler on ``host:port`` until cancelled."""
    await serve_websocket(echo, host, port, ssl_context=None)


def main() -> None:
    """Parse ``--host``/``--port`` and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    trio.run(serve, args.host, args.port)


if __name__ == "__main__":
    main()
