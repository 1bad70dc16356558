"""WebSocket load generator (trio + trio-websocket), run in its own process on its own core.

``python -m benchmarks.client MODE --url URL --server-pid PID [options]`` prints one JSON object.
The client reads the server worker's CPU time and RSS from ``/proc`` itself, right at the edges
of its measuring window, so setup and teardown are never counted.

Modes:
    latency     one connection, sequential echo round trips: median and p99 in µs
    throughput  N connections, each a closed loop of echo round trips: msgs/s, server CPU µs/msg
    handshakes  K concurrent loops of connect + close: handshakes/s, server CPU µs/handshake
    idle        N idle connections held open: server RSS bytes per connection
"""

import argparse
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import trio
from trio_websocket import WebSocketConnection, connect_websocket_url

from . import procstat

PAYLOAD = "x" * 64
_CONNECT_TIMEOUT = 10.0


async def _connect(nursery: trio.Nursery, url: str) -> WebSocketConnection:
    with trio.fail_after(_CONNECT_TIMEOUT):
        return await connect_websocket_url(nursery, url)


async def _round_trip(ws: WebSocketConnection) -> None:
    await ws.send_message(PAYLOAD)
    reply = await ws.get_message()
    if reply != PAYLOAD:
        raise RuntimeError(f"echo mismatch: {reply!r}")


def _cpu_window(server_pid: int) -> tuple[float, float, float]:
    return time.perf_counter(), procstat.cpu_seconds(server_pid), time.process_time()


def _shares(
    start: tuple[float, float, float], end: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Return elapsed wall seconds, server CPU seconds and client CPU seconds."""
    return end[0] - start[0], end[1] - start[1], end[2] - start[2]


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile (``fraction`` in 0..1) of non-empty ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


async def latency(url: str, server_pid: int, duration: float, warmup: int = 200) -> dict[str, Any]:
    """Measure sequential echo round trips on one connection for ``duration`` seconds."""
    async with trio.open_nursery() as nursery:
        ws = await _connect(nursery, url)
        for _ in range(warmup):
            await _round_trip(ws)
        samples: list[float] = []
        start = _cpu_window(server_pid)
        deadline = start[0] + duration
        while time.perf_counter() < deadline:
            t0 = time.perf_counter_ns()
            await _round_trip(ws)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        elapsed, server_cpu, client_cpu = _shares(start, _cpu_window(server_pid))
        await ws.aclose()
    return {
        "ws_rtt_median_us": statistics.median(samples),
        "ws_rtt_p99_us": percentile(samples, 0.99),
        "ws_rtt_cpu_us_per_msg": server_cpu / len(samples) * 1e6,
        "messages": len(samples),
        "elapsed_s": elapsed,
        "client_cpu_share": client_cpu / elapsed,
    }


async def _open_many(nursery: trio.Nursery, url: str, count: int, concurrency: int) -> list[Any]:
    limiter = trio.CapacityLimiter(concurrency)
    connections: list[WebSocketConnection] = []

    async def one() -> None:
        async with limiter:
            connections.append(await _connect(nursery, url))

    async with trio.open_nursery() as openers:
        for _ in range(count):
            openers.start_soon(one)
    return connections


class Closable(Protocol):
    """A connection that closes with ``await aclose()`` (trio-websocket's, ``FrameReader``)."""

    async def aclose(self) -> None: ...


async def close_many(connections: Iterable[Closable], concurrency: int) -> None:
    """Close every one of ``connections``, at most ``concurrency`` at a time."""
    limiter = trio.CapacityLimiter(concurrency)

    async def one(connection: Closable) -> None:
        async with limiter:
            await connection.aclose()

    async with trio.open_nursery() as closers:
        for connection in connections:
            closers.start_soon(one, connection)


async def throughput(
    url: str, server_pid: int, duration: float, connections: int = 50, warmup: int = 50
) -> dict[str, Any]:
    """Run ``connections`` closed loops of echo round trips for ``duration`` seconds."""
    async with trio.open_nursery() as nursery:
        sockets = await _open_many(nursery, url, connections, concurrency=connections)
        count = 0
        deadline = math.inf

        async def loop(ws: WebSocketConnection, rounds: float) -> None:
            nonlocal count
            done = 0
            while done < rounds and time.perf_counter() < deadline:
                await _round_trip(ws)
                done += 1
            count += done

        async with trio.open_nursery() as warm:
            for ws in sockets:
                warm.start_soon(loop, ws, warmup)
        count = 0
        start = _cpu_window(server_pid)
        deadline = start[0] + duration
        async with trio.open_nursery() as loops:
            for ws in sockets:
                loops.start_soon(loop, ws, math.inf)
        elapsed, server_cpu, client_cpu = _shares(start, _cpu_window(server_pid))
        await close_many(sockets, concurrency=connections)
    return {
        "ws_msgs_per_s": count / elapsed,
        "ws_cpu_us_per_msg": server_cpu / count * 1e6,
        "ws_server_cpu_share": server_cpu / elapsed,
        "ws_client_cpu_share": client_cpu / elapsed,
        "messages": count,
        "connections": connections,
        "elapsed_s": elapsed,
    }


async def handshakes(
    url: str, server_pid: int, duration: float, concurrency: int = 10
) -> dict[str, Any]:
    """Run ``concurrency`` loops of open + close handshakes for ``duration`` seconds."""
    count = 0

    async def loop(deadline: float) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            async with trio.open_nursery() as nursery:
                ws = await _connect(nursery, url)
                await ws.aclose()
            count += 1

    warm_until = time.perf_counter() + min(0.5, duration / 4)
    async with trio.open_nursery() as warm:
        for _ in range(concurrency):
            warm.start_soon(loop, warm_until)
    count = 0
    start = _cpu_window(server_pid)
    async with trio.open_nursery() as loops:
        for _ in range(concurrency):
            loops.start_soon(loop, start[0] + duration)
    elapsed, server_cpu, client_cpu = _shares(start, _cpu_window(server_pid))
    return {
        "ws_handshakes_per_s": count / elapsed,
        "ws_cpu_us_per_handshake": server_cpu / count * 1e6,
        "server_cpu_share": server_cpu / elapsed,
        "handshakes": count,
        "concurrency": concurrency,
        "elapsed_s": elapsed,
        "client_cpu_share": client_cpu / elapsed,
    }


async def idle(
    url: str, server_pid: int, connections: int = 1000, settle: float = 0.5
) -> dict[str, Any]:
    """Hold ``connections`` idle sockets open and report the server's RSS growth per socket."""
    async with trio.open_nursery() as nursery:
        # Warm up first so one-off costs (imports, caches, arena growth) are not charged per socket.
        await close_many(await _open_many(nursery, url, 50, concurrency=50), concurrency=50)
        await trio.sleep(settle)
        before = procstat.rss_bytes(server_pid)
        sockets = await _open_many(nursery, url, connections, concurrency=50)
        await trio.sleep(settle)
        after = procstat.rss_bytes(server_pid)
        for ws in sockets[:10]:  # the server must still serve them
            await _round_trip(ws)
        await close_many(sockets, concurrency=50)
    return {
        "ws_rss_bytes_per_idle_conn": (after - before) / connections,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "connections": connections,
    }


async def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Run the mode ``args`` names under an overall time limit."""
    runners: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "latency": lambda: latency(args.url, args.server_pid, args.duration),
        "throughput": lambda: throughput(
            args.url, args.server_pid, args.duration, args.connections
        ),
        "handshakes": lambda: handshakes(
            args.url, args.server_pid, args.duration, args.concurrency
        ),
        "idle": lambda: idle(args.url, args.server_pid, args.connections),
    }
    with trio.fail_after(args.duration + args.timeout):
        return await runners[args.mode]()


def raise_fd_limit() -> None:
    """Raise this process's open-file limit to its hard limit: every socket is a descriptor."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    """Parse the command line, run one mode and print its result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["latency", "throughput", "handshakes", "idle"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0, help="extra seconds allowed")
    args = parser.parse_args()
    raise_fd_limit()
    print(json.dumps(trio.run(run_mode, args)))


if __name__ == "__main__":
    main()
