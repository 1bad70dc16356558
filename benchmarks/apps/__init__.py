"""One small module per benchmarked system.

Every ASGI module exposes ``app`` serving ``GET /json`` (``{"hello": "world"}``) and an echo
WebSocket at ``/ws``. ``trio_websocket_echo`` is a standalone server, not an ASGI app. The
``broadcast_*`` apps serve the fan-out benchmark instead (``benchmarks/broadcast.py``).
"""

from typing import NamedTuple

#: ASGI systems, in the order they are reported; ``raw`` is the baseline for every ratio.
ASGI_SYSTEMS: tuple[str, ...] = (
    "raw",
    "trio_apistar",
    "trio_apistar_def",
    "starlette",
    "quart_trio",
)

#: Systems that differ from another only in their HTTP handler: measured on the HTTP rows only.
HTTP_ONLY: frozenset[str] = frozenset(
    {"trio_apistar_def", "trio_apistar_awaits", "trio_apistar_yields"}
)

#: The no-ASGI WebSocket reference, served by trio-websocket's ``serve_websocket``.
TRIO_WEBSOCKET = "trio_websocket"

#: Every system, as reported.
ALL_SYSTEMS: tuple[str, ...] = (*ASGI_SYSTEMS, TRIO_WEBSOCKET)

#: ``module:attribute`` of each ASGI app, as Hypercorn is given it.
APP_PATHS: dict[str, str] = {
    "raw": "benchmarks.apps.raw_asgi:app",
    "trio_apistar": "benchmarks.apps.trio_apistar_app:app",
    "trio_apistar_def": "benchmarks.apps.trio_apistar_app:app_def",
    # For benchmarks.icount and benchmarks.inprocess only, not the full run:
    "trio_apistar_awaits": "benchmarks.apps.trio_apistar_app:app_awaits",
    "trio_apistar_yields": "benchmarks.apps.trio_apistar_app:app_yields",
    "starlette": "benchmarks.apps.starlette_app:app",
    "quart_trio": "benchmarks.apps.quart_trio_app:app",
}


class BroadcastSystem(NamedTuple):
    """How the broadcast benchmark serves one system."""

    app_path: str  #: ``module:attribute``, as Hypercorn is given it
    worker_class: str  #: Hypercorn's ``--worker-class``
    backends: tuple[str, ...]  #: the backends it is measured on


#: The broadcast fan-out benchmark's systems, in the order they are reported. Every app serves
#: ``/sub?channel=C`` and ``/pub?channel=C`` (see ``benchmarks/fanout.py``).
BROADCAST_SYSTEMS: dict[str, BroadcastSystem] = {
    "raw_trio": BroadcastSystem("benchmarks.apps.broadcast_raw:app", "trio", ("memory",)),
    "trio_apistar": BroadcastSystem(
        "benchmarks.apps.broadcast_trio_apistar:app", "trio", ("memory", "redis")
    ),
    "starlette_broadcaster": BroadcastSystem(
        "benchmarks.apps.broadcast_starlette:app", "asyncio", ("memory", "redis")
    ),
}

#: The peer every broadcast ratio is taken against: Starlette + encode/broadcaster.
BROADCAST_PEER = "starlette_broadcaster"
