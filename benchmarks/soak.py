"""Soak run: many sockets for a while, then churn with misbehaving clients; is everything back?

``python -m benchmarks.soak`` serves ``benchmarks/apps/soak_app.py`` (the README's echo) with the
same Hypercorn command line as the other benchmarks, server on core 0 and this client on core 1,
then:

1. **echo**: ``--sockets`` (1,000) WebSockets opened, then all of them at once sending a
   numbered message every ``--every`` (0.5) seconds for ``--seconds`` (30), each echo checked;
   then each closes cleanly;
2. **churn**: ``--cycles`` (10,000) connections, ``--concurrency`` (100) at a time, in turn: a
   clean close, a FIN without a close frame, a TCP reset, and a non-reader (64 KiB messages
   until its writes stall, their echoes never read, then a reset: the case that used to
   deadlock a connection for good); meanwhile ``--held`` (50) non-readers that stay
   connected without reading, which only the app's send timeout can let go of. ``--rounds``
   (2) such rounds, so that memory can be seen to level off rather than grow.

Measured from inside the worker (``/stats``: file descriptors, live trio tasks, open
WebSockets) and from ``/proc`` (RSS), at the start, after each phase once it settled: every
figure must come back to its baseline, and no message may be lost. Prints a Markdown table and
writes it to ``benchmarks/results/soak-<timestamp>.md``.
"""

import argparse
import datetime
import json
import os
import socket
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, TextMessage
from wsproto.events import Request as WSRequest

from . import procstat
from .server import running_server

RESULTS = Path(__file__).resolve().parent / "results"


class Client:
    """A WebSocket client on a raw trio socket (wsproto framing): it reads only when asked."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Any] = []

    @classmethod
    async def connect(cls, port: int, rcvbuf: int | None = None) -> "Client":
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect(("127.0.0.1", port))
        client = cls(trio.SocketStream(sock))
        await client.stream.send_all(client.ws.send(WSRequest(host="127.0.0.1", target="/ws")))
        if not isinstance(await client.event(), AcceptConnection):
            raise RuntimeError("handshake refused")
        return client

    async def event(self) -> Any:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def send(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))

    async def receive(self) -> str:
        parts = []
        while True:
            event = await self.event()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts)
            elif isinstance(event, CloseConnection):
                raise EOFError(f"closed {event.code}")

    async def close(self) -> None:
        """The close handshake, then the socket."""
        await self.stream.send_all(self.ws.send(CloseConnection(code=1000)))
        while not isinstance(await self.event(), CloseConnection):
            pass
        await self.stream.aclose()

    def reset(self) -> None:
        """Abort with a TCP reset."""
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.stream.socket.close()

    async def flood(self, count: int = 30) -> None:
        """Send ``count`` 64 KiB messages, giving up on any that would block for long."""
        for _ in range(count):
            with trio.move_on_after(0.2) as stalled:
                await self.stream.send_all(self.ws.send(BytesMessage(data=b"z" * 65536)))
            if stalled.cancelled_caught:
                return


class Tally:
    """Counts of what happened, and the errors seen (kind -> count)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def error(self, exc: BaseException) -> None:
        self.errors[f"{type(exc).__name__}: {exc}"[:80]] += 1


async def echo_loop(
    client: Client, index: int, start: trio.Event, deadline: float, every: float, tally: Tally
) -> None:
    """Once every socket is open: a numbered message every ``every`` seconds, each echo
    checked, until ``deadline``; then the close handshake."""
    await start.wait()
    await trio.sleep(every * (index % 100) / 100)  # spread the sockets over the interval
    n = 0
    try:
        while trio.current_time() < deadline:
            message = f"{index}:{n}"
            await client.send(message)
            tally.counts["sent"] += 1
            with trio.move_on_after(30) as late:
                echoed = await client.receive()
            if late.cancelled_caught:
                tally.counts["lost"] += 1
                break
            if echoed != message:
                tally.counts["wrong"] += 1
            tally.counts["echoed"] += 1
            n += 1
            await trio.sleep(every)
        await client.close()
        tally.counts["closed"] += 1
    except (OSError, EOFError, trio.BrokenResourceError) as exc:
        tally.error(exc)


async def churn_one(port: int, kind: str, tally: Tally) -> None:
    try:
        client = await Client.connect(port, rcvbuf=4096 if kind == "nonreader" else None)
        if kind == "nonreader":
            await client.flood()
            await client.stream.aclose()  # with unread data: the kernel sends a reset
        else:
            await client.send("hello")
            tally.counts["sent"] += 1
            if await client.receive() == "hello":
                tally.counts["echoed"] += 1
            if kind == "close":
                await client.close()
            elif kind == "fin":
                await client.stream.aclose()
            else:
                client.reset()
        tally.counts[kind] += 1
    except (OSError, RuntimeError, EOFError, trio.BrokenResourceError) as exc:
        tally.error(exc)


async def worker_stats(port: int, pid: int, trim: bool = False) -> dict[str, int]:
    """The worker's own report, over a fresh HTTP/1.1 connection (``trim``: after a garbage
    collection and ``malloc_trim``, see the app's ``stats``)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    query = "?trim=true" if trim else ""
    request = f"GET /stats{query} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    await stream.send_all(request.encode())
    response = b""
    while data := await stream.receive_some(65536):
        response += data
    await stream.aclose()
    stats: dict[str, int] = json.loads(response.split(b"\r\n\r\n", 1)[1])
    stats["fds"] -= 1  # this request's own connection
    stats.setdefault("rss_kib", procstat.rss_bytes(pid) // 1024)
    return stats


async def settled(port: int, pid: int, baseline: dict[str, int], wait: float) -> dict[str, int]:
    """Stats once fds, tasks and sockets are back at ``baseline`` (or after ``wait`` s)."""
    deadline = trio.current_time() + wait
    while True:
        stats = await worker_stats(port, pid)
        back = all(stats[key] <= baseline[key] for key in ("fds", "tasks", "websockets"))
        if back or trio.current_time() > deadline:
            return await worker_stats(port, pid, trim=True)
        await trio.sleep(0.5)


async def soak(port: int, pid: int, options: argparse.Namespace) -> dict[str, Any]:
    await trio.sleep(1)
    baseline = await worker_stats(port, pid, trim=True)
    echo = Tally()
    clients: list[Client] = []
    limiter = trio.CapacityLimiter(50)  # handshakes at a time, within the server's backlog

    async def connect() -> None:
        async with limiter:
            try:
                clients.append(await Client.connect(port))
            except (OSError, RuntimeError, EOFError, trio.BrokenResourceError) as exc:
                echo.error(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(options.sockets):
            nursery.start_soon(connect)
    start = trio.Event()
    deadline = trio.current_time() + options.seconds
    peak: dict[str, int] = {}

    async def sample() -> None:
        # The most the worker held while the sockets echoed (every 2 s).
        while trio.current_time() < deadline:
            await trio.sleep(2)
            for key, value in (await worker_stats(port, pid)).items():
                peak[key] = max(peak.get(key, 0), value)

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        for index, client in enumerate(clients):
            nursery.start_soon(echo_loop, client, index, start, deadline, options.every, echo)
        start.set()
    echo_seconds = time.monotonic() - started
    after_echo = await settled(port, pid, baseline, 30)

    churn = Tally()
    held: list[Client] = []
    for _ in range(options.held):
        client = await Client.connect(port, rcvbuf=4096)
        await client.flood()
        held.append(client)
    kinds = ("close", "fin", "reset", "nonreader")
    rounds: list[dict[str, int]] = []
    started = time.monotonic()
    for _ in range(options.rounds):
        send_work, receive_work = trio.open_memory_channel[int](0)

        async def worker(work: trio.MemoryReceiveChannel[int]) -> None:
            async with work:
                async for i in work:
                    await churn_one(port, kinds[i % len(kinds)], churn)

        async with trio.open_nursery() as nursery:
            for _ in range(options.concurrency):
                nursery.start_soon(worker, receive_work.clone())
            await receive_work.aclose()
            async with send_work:
                for i in range(options.cycles):
                    await send_work.send(i)
        # (the held non-readers are still connected: only the send timeout lets them go)
        rounds.append(await settled(port, pid, baseline, 30))
    churn_seconds = (time.monotonic() - started) / options.rounds
    for client in held:
        client.reset()
    return {
        "baseline": baseline,
        "peak": peak,
        "after_echo": after_echo,
        "after_churn": rounds,
        "echo": echo,
        "churn": churn,
        "echo_seconds": echo_seconds,
        "churn_seconds": churn_seconds,
    }


def table(result: dict[str, Any], options: argparse.Namespace, log: str) -> str:
    echo: Tally = result["echo"]
    churn: Tally = result["churn"]
    base, peak = result["baseline"], result["peak"]
    after_echo, rounds = result["after_echo"], result["after_churn"]
    lost = echo.counts["lost"] + echo.counts["sent"] - echo.counts["echoed"]
    lost += churn.counts["sent"] - churn.counts["echoed"]
    server_errors = sum("Traceback" in line or "ERROR" in line for line in log.splitlines())
    rows = [
        (
            "echo: sockets open at once / seconds / a message every",
            f"{result['peak'].get('websockets', 0):,} / {result['echo_seconds']:.0f} / "
            f"{options.every} s",
        ),
        ("echo: messages sent / echoed", f"{echo.counts['sent']:,} / {echo.counts['echoed']:,}"),
        ("echo: wrong echoes, clean closes", f"{echo.counts['wrong']}, {echo.counts['closed']}"),
        (
            "churn: rounds x cycles (close / FIN / reset / non-reader), seconds a round",
            f"{options.rounds} x {options.cycles:,} ({churn.counts['close']} / "
            f"{churn.counts['fin']} / "
            f"{churn.counts['reset']} / {churn.counts['nonreader']}), "
            f"{result['churn_seconds']:.0f}",
        ),
        ("churn: held non-readers (let go by the send timeout)", str(options.held)),
        ("**messages lost**", f"**{lost}**"),
        ("client errors", str(sum(echo.errors.values()) + sum(churn.errors.values()))),
        ("server errors logged", str(server_errors)),
    ]
    lines = ["| measure | value |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += [
        "",
        "| worker | baseline | echo peak | after echo | "
        + " | ".join(f"after churn {i + 1}" for i in range(len(rounds)))
        + " |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(rounds),
    ]
    for key, name in (
        ("rss_kib", "RSS (MiB; at rest: after gc and malloc_trim)"),
        ("blocks", "Python allocated blocks (thousands)"),
        ("websocket_objects", "WebSocket objects alive (at rest)"),
        ("fds", "file descriptors"),
        ("tasks", "live trio tasks"),
        ("websockets", "open WebSockets"),
    ):
        values = [s.get(key) for s in (base, peak, after_echo, *rounds)]
        if key == "rss_kib":
            cells = [f"{v / 1024:.1f}" if v is not None else "n/a" for v in values]
        elif key == "blocks":
            cells = [f"{v / 1000:,.0f}" if v is not None else "n/a" for v in values]
        else:
            cells = [f"{v:,}" if v is not None else "n/a" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for title, errors in (("echo", echo.errors), ("churn", churn.errors)):
        for message, count in errors.most_common(5):
            lines.append(f"\n{title} error x{count}: `{message}`")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between messages")
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--held", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="churn rounds (memory must level)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument("--out", type=Path, default=None, help="where to write the table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    options = parse_args(argv)
    if options.pin:
        os.sched_setaffinity(0, {1})
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = options.out or RESULTS / f"soak-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix(".log")
    with log_path.open("wb") as log:
        with running_server(
            "soak", "0" if options.pin else None, log, app_path="benchmarks.apps.soak_app:app"
        ) as server:
            result = trio.run(soak, server.port, server.worker_pid, options)
    text = table(result, options, log_path.read_text(errors="replace"))
    out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
