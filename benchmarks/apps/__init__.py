"""One small module per benchmarked system.

Every ASGI module exposes ``app`` serving ``GET /json`` (``{"hello": "world"}``) and an echo
WebSocket at ``/ws``. ``trio_websocket_echo`` is a standalone server, not an ASGI app. The
``broadcast_*`` apps serve the fan-out benchmark instead (``benchmarks/broadcast.py``).
"""

#: ASGI systems, in the order they are reported; ``raw`` is the baseline for every ratio.
ASGI_SYSTEMS: tuple[str, ...] = ("raw", "trio_apistar", "starlette", "quart_trio")

#: The no-ASGI WebSocket reference, served by trio-websocket's ``serve_websocket``.
TRIO_WEBSOCKET = "trio_websocket"

#: Every system, as reported.
ALL_SYSTEMS: tuple[str, ...] = (*ASGI_SYSTEMS, TRIO_WEBSOCKET)

#: ``module:attribute`` of each ASGI app, as Hypercorn is given it.
APP_PATHS: dict[str, str] = {
    "raw": "benchmarks.apps.raw_asgi:app",
    "trio_apistar": "benchmarks.apps.trio_apistar_app:app",
    "starlette": "benchmarks.apps.starlette_app:app",
    "quart_trio": "benchmarks.apps.quart_trio_app:app",
}

#: The broadcast fan-out benchmark's systems: ``(ASGI app path, Hypercorn worker class)`` each.
#: Every app serves ``/sub?channel=C`` and ``/pub?channel=C`` (see ``benchmarks/fanout.py``).
BROADCAST_SYSTEMS: dict[str, tuple[str, str]] = {
    "trio_apistar": ("benchmarks.apps.broadcast_trio_apistar:app", "trio"),
    "starlette_broadcaster": ("benchmarks.apps.broadcast_starlette:app", "asyncio"),
}

#: The peer every broadcast ratio is taken against: Starlette + encode/broadcaster.
BROADCAST_PEER = "starlette_broadcaster"
