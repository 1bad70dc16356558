"""Profile one system's in-process HTTP or WebSocket path (cProfile) or idle socket (tracemalloc).

``python -m benchmarks.profile --system trio_apistar --path ws`` runs the same driver as the
in-process benchmark under cProfile and prints the functions with the most own time and the
most cumulative time, each as µs per request/message, so hot spots read in the benchmark's unit.
``--path idle`` instead opens ``-n`` idle in-process WebSockets under tracemalloc and prints the
bytes each one keeps alive, by the line that allocated them.
"""

import argparse
import cProfile
import math
import pstats
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio.testing

from .apps import APP_PATHS
from .inprocess import (
    ASGIApp,
    Message,
    handshake_cost,
    http_cost,
    lifespan,
    load_app,
    websocket_cost,
    websocket_scope,
)

#: path -> its driver: (app, lifespan state, n) -> µs per request/message/handshake
_COSTS: dict[str, Callable[[ASGIApp, dict[str, Any], int], Awaitable[float]]] = {
    "http": http_cost,
    "ws": websocket_cost,
    "handshake": handshake_cost,
}
_UNITS = {"http": "req", "ws": "msg", "handshake": "handshake"}


async def _drive(system: str, path: str, n: int, profiler: cProfile.Profile) -> None:
    app = load_app(system)
    cost = _COSTS[path]
    async with lifespan(app) as state:
        await cost(app, state, max(1, n // 10))  # warm-up, not profiled
        profiler.enable()
        await cost(app, state, n)
        profiler.disable()


def profile(system: str, path: str, n: int) -> pstats.Stats:
    """Return cProfile statistics of ``n`` in-process requests, messages or handshakes."""
    profiler = cProfile.Profile()

    async def bounded() -> None:
        with trio.fail_after(300):
            await _drive(system, path, n, profiler)

    trio.run(bounded)
    return pstats.Stats(profiler)


def hot_spots(stats: pstats.Stats, n: int, sort: str, limit: int) -> list[str]:
    """Return the top ``limit`` functions by ``sort`` (``tottime`` or ``cumtime``) as text rows.

    Each row: µs per request/message of own and cumulative time, calls per request/message and
    the function's ``file:line(name)``.
    """
    raw = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in raw.items():
        short = "/".join(Path(filename).parts[-2:])
        rows.append((tottime, cumtime, calls, f"{short}:{line}({name})"))
    index = 0 if sort == "tottime" else 1
    rows.sort(key=lambda row: row[index], reverse=True)
    return [
        f"{tot / n * 1e6:8.2f} {cum / n * 1e6:8.2f} {calls / n:7.2f}  {where}"
        for tot, cum, calls, where in rows[:limit]
    ]


async def _open_idle(system: str, n: int) -> tracemalloc.Snapshot:
    """Open ``n`` accepted, idle in-process WebSockets; return the memory snapshot with them open.

    A baseline snapshot is taken just before opening, after 10 warm-up sockets came and went.
    """
    app = load_app(system)
    async with lifespan(app) as state, trio.open_nursery() as nursery:
        inboxes: list[trio.MemorySendChannel[Message]] = []

        async def open_one() -> None:
            to_app, app_inbox = trio.open_memory_channel[Message](10)
            app_outbox, from_app = trio.open_memory_channel[Message](math.inf)
            nursery.start_soon(app, websocket_scope(state), app_inbox.receive, app_outbox.send)
            await to_app.send({"type": "websocket.connect"})
            if (await from_app.receive())["type"] != "websocket.accept":
                raise RuntimeError("not accepted")
            inboxes.append(to_app)

        async def close_all() -> None:
            for to_app in inboxes:
                await to_app.send({"type": "websocket.disconnect", "code": 1000})
            inboxes.clear()
            await trio.testing.wait_all_tasks_blocked()

        for _ in range(10):
            await open_one()
        await close_all()
        tracemalloc.start(30)
        global _BASELINE
        _BASELINE = tracemalloc.take_snapshot()
        for _ in range(n):
            await open_one()
        await trio.testing.wait_all_tasks_blocked()
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        await close_all()
        nursery.cancel_scope.cancel()  # an app that ignores disconnects must not hang us
    return snapshot


_BASELINE: tracemalloc.Snapshot | None = None


def idle_memory(system: str, n: int, limit: int) -> list[str]:
    """Return the total, then the ``limit`` lines allocating most, in bytes per idle WebSocket."""

    async def bounded() -> tracemalloc.Snapshot:
        with trio.fail_after(120):
            return await _open_idle(system, n)

    after = trio.run(bounded)
    assert _BASELINE is not None
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(filters).compare_to(_BASELINE.filter_traces(filters), "traceback")
    # Charge each allocation to the innermost frame in app or framework code (not trio's own),
    # so a trio channel made by the framework is counted against the framework line.
    by_line: dict[str, int] = {}
    for stat in diff:
        frames = list(reversed(stat.traceback))  # innermost first
        owner = next((f for f in frames if _is_app_code(f.filename)), None)
        if owner is None:
            where = "(no app frame: driver, trio internals)"
        else:
            where = f"{'/'.join(Path(owner.filename).parts[-2:])}:{owner.lineno}"
        by_line[where] = by_line.get(where, 0) + stat.size_diff
    total = sum(by_line.values())
    rows = [f"{total / n:8.0f} B  total ({system}, {n} idle sockets, Python allocations only)"]
    for where, size in sorted(by_line.items(), key=lambda item: -item[1])[:limit]:
        rows.append(f"{size / n:8.0f} B  {where}")
    return rows


def _is_app_code(filename: str) -> bool:
    return "trio_apistar" in filename or "benchmarks/apps" in filename


def main() -> None:
    """Parse the command line, profile and print both rankings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", default="trio_apistar", choices=sorted(APP_PATHS))
    parser.add_argument("--path", choices=[*_COSTS, "idle"], default="http")
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--dump", type=Path, help="also save the raw profile here")
    args = parser.parse_args()
    if args.path == "idle":
        print("\n".join(idle_memory(args.system, args.n, args.limit)))
        return
    stats = profile(args.system, args.path, args.n)
    if args.dump is not None:
        stats.dump_stats(args.dump)
    unit = _UNITS[args.path]
    for sort in ("tottime", "cumtime"):
        print(f"\n{args.system} {args.path}: top {args.limit} by {sort} (per {unit})")
        print(f"{'own µs':>8} {'cum µs':>8} {'calls':>7}  function")
        print("\n".join(hot_spots(stats, args.n, sort, args.limit)))


if __name__ == "__main__":
    main()
