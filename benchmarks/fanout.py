"""Broadcast fan-out load generator: one publisher and many subscribed sockets, in one process.

``python -m benchmarks.fanout --port P --server-pid PID [options]`` prints one JSON object. The
server serves ``/sub?channel=C`` (subscribe, send ``ready``, forward every event) and
``/pub?channel=C`` (publish every text message). Each message carries its sequence number and
the client's ``perf_counter_ns()`` at the moment it was handed to the publisher socket, so every
delivery gives one publish-to-receive time, and each subscriber checks it sees every broadcast
once and in order. The server's CPU time and RSS are read from ``/proc`` at the edges of each
phase (RSS also sampled every 20 ms for its peak).

Phases:
    setup       ``--subscribers`` sockets subscribe (50 at a time) and get ``ready``
    latency     one broadcast at a time for ``--duration`` s: p50 and p99 over every delivery
    throughput  ``--window`` broadcasts in flight for ``--duration`` s: deliveries/s, server CPU
                per delivery, latency under load, RSS growth
    slow        on another channel, ``--slow-readers`` sockets that read and ``--stalled``
                sockets that stop reading (4 KiB receive buffer), 1 KiB messages, ``--window``
                in flight for ``--duration`` s: server RSS growth while the stalled sockets'
                backlog has nowhere to go, the readers' deliveries/s, and which stalled sockets
                the server closed
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import trio
from trio_websocket import WebSocketConnection, connect_websocket_url

from . import procstat
from .client import close_many, percentile, raise_fd_limit
from .wsreader import FrameReader, ServerClosed

STALLED_RECEIVE_BUFFER = 4096
_CONNECT_TIMEOUT = 10.0


def _progress(step: str) -> None:
    # On stderr, so that a run that hangs or fails says where.
    print(f"fanout: {step}", file=sys.stderr, flush=True)


class Tally:
    """The broadcasts of one channel: sent, still owed to someone, and their delivery times.

    A window slot is freed once every subscriber has a broadcast, so at most ``window`` are in
    flight and no subscriber's server-side buffer has to hold more than that.
    """

    def __init__(self, channel: str, size: int) -> None:
        self.channel = channel
        self.size = size
        self.slots = trio.Semaphore(1)
        self.remaining: dict[int, int] = {}
        self.latencies_ns: list[int] = []
        self.delivered = 0
        self.next_seq = 0

    def subscriber(self) -> Callable[[bytearray], None]:
        """Return the message callback of one subscriber: it checks order and counts."""
        last = -1

        def deliver(payload: bytearray) -> None:
            nonlocal last
            now = time.perf_counter_ns()
            seq_text, sent_text, _ = payload.split(b" ", 2)
            seq = int(seq_text)
            if seq <= last:
                raise AssertionError(f"{self.channel}: broadcast {seq} after {last}")
            last = seq
            self.delivered += 1
            self.latencies_ns.append(now - int(sent_text))
            left = self.remaining[seq] - 1
            if left:
                self.remaining[seq] = left
            else:
                del self.remaining[seq]
                self.slots.release()

        return deliver

    async def broadcast(
        self, publisher: WebSocketConnection, seconds: float, window: int, expected: int
    ) -> tuple[int, float]:
        """Publish for ``seconds`` with ``window`` in flight; wait until all are delivered.

        Returns the number of broadcasts and the seconds from the first to the last delivery.
        """
        self.slots = trio.Semaphore(window)
        self.latencies_ns = []
        pad = "x" * self.size
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            await self.slots.acquire()
            seq = self.next_seq
            self.next_seq += 1
            self.remaining[seq] = expected
            head = f"{seq} {time.perf_counter_ns()} "
            await publisher.send_message(head + pad[len(head) :])
            count += 1
        for _ in range(window):
            await self.slots.acquire()
        return count, time.perf_counter() - start


class RssPeak:
    """The highest RSS of a process seen since the last ``reset()``, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self.peak = procstat.rss_bytes(pid)

    def reset(self) -> None:
        """Start a new window at the current RSS."""
        self.start = self.peak = procstat.rss_bytes(self.pid)

    async def run(self, interval: float = 0.02) -> None:
        """Sample until cancelled."""
        while True:
            self.peak = max(self.peak, procstat.rss_bytes(self.pid))
            await trio.sleep(interval)


async def _subscribe_many(
    host: str, port: int, channel: str, count: int, receive_buffer: int | None = None
) -> list[FrameReader]:
    readers: list[FrameReader] = []
    limiter = trio.CapacityLimiter(50)

    async def one() -> None:
        async with limiter:
            with trio.fail_after(_CONNECT_TIMEOUT):
                reader = await FrameReader.connect(
                    host, port, f"/sub?channel={channel}", receive_buffer
                )
                readers.append(reader)
                ready = await reader.read_one()
            if ready != b"ready":
                raise RuntimeError(f"expected 'ready' from /sub, got {ready[:80]!r}")

    # The first subscriber of a channel goes alone: broadcaster's Redis backend keeps only one of
    # several subscribers that race to be a channel's first (each replaces the channel's set).
    await one()
    async with trio.open_nursery() as nursery:
        for _ in range(count - 1):
            nursery.start_soon(one)
    return readers


async def _drain(reader: FrameReader, quiet: float = 0.5, limit: float = 5.0) -> tuple[bool, int]:
    """Read a stalled socket's backlog: was it closed by the server, and how many messages."""
    got = 0

    def count(_payload: bytearray) -> None:
        nonlocal got
        got += 1

    with trio.move_on_after(limit):
        try:
            while True:
                before = got
                with trio.move_on_after(quiet):
                    await reader.run(count)
                if got == before:
                    break
        except ServerClosed:
            return True, got
    return False, got


def _latency_summary(prefix: str, samples_ns: list[int]) -> dict[str, float]:
    micros = [ns / 1000 for ns in samples_ns]
    return {
        f"{prefix}_p50_us": statistics.median(micros),
        f"{prefix}_p99_us": percentile(micros, 0.99),
    }


async def _publisher(
    nursery: trio.Nursery, host: str, port: int, channel: str
) -> WebSocketConnection:
    with trio.fail_after(_CONNECT_TIMEOUT):
        return await connect_websocket_url(nursery, f"ws://{host}:{port}/pub?channel={channel}")


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    """Run every phase against the server ``args`` names and return the measurements."""
    host, port, pid = args.host, args.port, args.server_pid
    result: dict[str, Any] = {"subscribers": args.subscribers, "window": args.window}
    rss = RssPeak(pid)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rss.run)
        rss_empty = procstat.rss_bytes(pid)
        _progress("subscribing")
        main = Tally("bench", args.size)
        readers = await _subscribe_many(host, port, main.channel, args.subscribers)
        await trio.sleep(0.2)  # let the server settle before reading its RSS
        rss_subscribed = procstat.rss_bytes(pid)
        result["fanout_rss_per_subscriber_bytes"] = (rss_subscribed - rss_empty) / args.subscribers
        publisher = await _publisher(nursery, host, port, main.channel)
        async with trio.open_nursery() as reading:
            for reader in readers:
                reading.start_soon(reader.run, main.subscriber())
            await main.broadcast(publisher, min(0.5, args.duration / 4), 1, args.subscribers)

            _progress("latency")
            sent, elapsed = await main.broadcast(publisher, args.duration, 1, args.subscribers)
            result |= _latency_summary("fanout_latency", main.latencies_ns)
            result["latency_broadcasts"] = sent

            _progress("throughput")
            rss.reset()
            cpu0, client0 = procstat.cpu_seconds(pid), time.process_time()
            sent, elapsed = await main.broadcast(
                publisher, args.duration, args.window, args.subscribers
            )
            server_cpu = procstat.cpu_seconds(pid) - cpu0
            deliveries = sent * args.subscribers
            result |= _latency_summary("fanout_load_latency", main.latencies_ns)
            result |= {
                "fanout_deliveries_per_s": deliveries / elapsed,
                "fanout_cpu_us_per_delivery": server_cpu / deliveries * 1e6,
                "fanout_client_cpu_share": (time.process_time() - client0) / elapsed,
                "fanout_load_rss_growth_bytes": rss.peak - rss.start,
                "load_broadcasts": sent,
                "load_elapsed_s": elapsed,
            }
            reading.cancel_scope.cancel()
        await publisher.aclose()

        _progress("slow")
        if args.stalled:
            result |= await _slow_phase(nursery, args, rss)
        await close_many(readers, concurrency=50)
        nursery.cancel_scope.cancel()
    return result


async def _slow_phase(
    nursery: trio.Nursery, args: argparse.Namespace, rss: RssPeak
) -> dict[str, Any]:
    host, port = args.host, args.port
    slow = Tally("slow", args.slow_size)
    readers = await _subscribe_many(host, port, slow.channel, args.slow_readers)
    stalled = await _subscribe_many(
        host, port, slow.channel, args.stalled, receive_buffer=STALLED_RECEIVE_BUFFER
    )
    publisher = await _publisher(nursery, host, port, slow.channel)
    async with trio.open_nursery() as reading:
        for reader in readers:
            reading.start_soon(reader.run, slow.subscriber())
        rss.reset()
        sent, elapsed = await slow.broadcast(
            publisher, args.duration, args.window, args.slow_readers
        )
        peak, start = rss.peak, rss.start
        reading.cancel_scope.cancel()
    await publisher.aclose()
    outcomes: list[tuple[bool, int]] = []

    async def drain(reader: FrameReader) -> None:
        outcomes.append(await _drain(reader))

    async with trio.open_nursery() as draining:
        for reader in stalled:
            draining.start_soon(drain, reader)
    await close_many(readers + stalled, concurrency=50)
    return {
        "slow_rss_growth_bytes": peak - start,
        "slow_deliveries_per_s": sent * args.slow_readers / elapsed,
        "slow_broadcasts": sent,
        "stalled_closed_by_server": sum(closed for closed, _ in outcomes),
        "stalled_backlog_messages": [got for _, got in outcomes],
    }


def main() -> None:
    """Parse the command line, run the phases and print the result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=8, help="broadcasts in flight")
    parser.add_argument("--size", type=int, default=64, help="message bytes")
    parser.add_argument("--slow-readers", type=int, default=10)
    parser.add_argument("--stalled", type=int, default=10, help="0 skips the slow phase")
    parser.add_argument("--slow-size", type=int, default=16384)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole run")
    args = parser.parse_args()
    raise_fd_limit()

    async def bounded() -> dict[str, Any]:
        with trio.fail_after(args.timeout):
            return await fanout(args)

    print(json.dumps(trio.run(bounded)))


if __name__ == "__main__":
    main()
