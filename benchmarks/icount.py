"""Instructions per request, counted by callgrind: a measure that other work on the machine
does not disturb.

``python -m benchmarks.icount`` runs each system under ``valgrind --tool=callgrind`` twice, with
``--small`` and ``--large`` operations, and reports ``(I_large - I_small) / (large - small)``:
the instructions one more operation costs, start-up and warm-up cancelled out. Two places:

* ``inprocess``: the app called directly (the drivers of ``benchmarks.inprocess``);
* ``server``: the app served by Hypercorn's trio ``serve()`` in the counted process, driven
  over loopback by a client in this process, one operation at a time (so every operation
  pays its own trip through the event loop: no batching as under ``wrk -c50``).

Operations: ``http`` (``GET /json``, keep-alive), ``handshake`` (open a WebSocket to ``/ws``,
the client closes it) and, in process only, ``echo`` (one message echoed on an open socket).
Only user-space instructions count: system calls (one more ``epoll_wait`` per extra scheduler
pass) do not, so the server rows understate what an extra pass costs. Needs ``valgrind``
(``apt-get install valgrind``); about a minute per row.
"""

import argparse
import base64
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from .apps import APP_PATHS, HTTP_ONLY
from .inprocess import (
    check_http,
    lifespan,
    load_app,
    one_handshake,
    one_http_request,
    websocket_cost,
)
from .server import REPO_ROOT, free_port

_COLLECTED = re.compile(r"Collected : (\d+)")
_TIMES = "\u00d7"  # multiplication sign, for ratios
_WARM_UP = 50


async def _run_inprocess(system: str, path: str, n: int) -> None:
    app = load_app(system)
    async with lifespan(app) as state:
        if path == "echo":
            await websocket_cost(app, state, _WARM_UP + n)
            return
        for i in range(_WARM_UP + n):
            if path == "http":
                sent = await one_http_request(app, state)
                if i == 0:
                    check_http(sent)
            else:
                await one_handshake(app, state)


async def _serve(system: str, port: int, ready: Path) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    app = load_app(system)

    async def until_sigterm() -> None:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                return

    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: serve(  # type: ignore[arg-type]
                app, config, shutdown_trigger=until_sigterm, task_status=task_status
            )
        )
        await trio.Path(ready).touch()


def _http_requests(port: int, n: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(n):
            sock.sendall(request)
            response = b""
            while not response.endswith(b"}"):
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("the server closed the connection")
                response += data


def _handshakes(port: int, n: int) -> None:
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            response = b""
            while b"\r\n\r\n" not in response:
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("the server closed during the handshake")
                response += data
            if not response.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"not upgraded: {response!r}")
            mask = os.urandom(4)
            code = (1000).to_bytes(2, "big")
            sock.sendall(
                bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(code))
            )
            rest = response.partition(b"\r\n\r\n")[2]
            while not (len(rest) >= 2 and rest[0] == 0x88):  # the server's close frame, or EOF
                data = sock.recv(4096)
                if not data:
                    break
                rest += data


def _valgrind(command: list[str]) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]


def _instructions(stderr: str) -> int:
    match = _COLLECTED.search(stderr)
    if match is None:
        raise RuntimeError(f"no callgrind summary in:\n{stderr[-2000:]}")
    return int(match[1])


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    # A fixed hash seed: the same dict and set layouts in both counted runs.
    return dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED="0")


def count(where: str, system: str, path: str, n: int) -> int:
    """Return the instructions callgrind counts for ``n`` operations (plus fixed costs)."""
    me = [sys.executable, "-m", "benchmarks.icount"]
    if where == "inprocess":
        command = _valgrind([*me, "--child", system, path, str(n)])
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return _instructions(done.stderr)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        ready = Path(folder) / "ready"
        server = subprocess.Popen(
            _valgrind([*me, "--serve", system, str(port), str(ready)]),
            cwd=REPO_ROOT,
            env=_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 300
            while not ready.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.05)
            (_http_requests if path == "http" else _handshakes)(port, n)
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=300)
    return _instructions(stderr)


def per_operation(where: str, system: str, path: str, small: int, large: int) -> float:
    """Instructions one more operation costs: the difference of two counted runs."""
    return (count(where, system, path, large) - count(where, system, path, small)) / (large - small)


def main() -> None:
    """Count, then print one markdown table (or run as the counted child)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", default="raw,trio_apistar,trio_apistar_def,starlette")
    parser.add_argument("--paths", default="http,handshake")
    parser.add_argument("--where", default="inprocess,server")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=600)
    parser.add_argument("--child", nargs=3, metavar=("SYSTEM", "PATH", "N"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--serve", nargs=3, metavar=("SYSTEM", "PORT", "READY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        system, path, n = args.child
        trio.run(_run_inprocess, system, path, int(n))
        return
    if args.serve:
        system, port, ready = args.serve
        trio.run(_serve, system, int(port), Path(ready))
        return
    systems = args.systems.split(",")
    unknown = set(systems) - set(APP_PATHS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")
    print("| operation | where | system | instructions | ratio to raw |")
    print("| --- | --- | --- | ---: | ---: |")
    for path in args.paths.split(","):
        for where in args.where.split(","):
            base: float | None = None
            for system in systems:
                skip = (path != "http" and system in HTTP_ONLY) or (
                    path == "echo" and where != "inprocess"
                )
                if skip:
                    continue
                value = per_operation(where, system, path, args.small, args.large)
                if system == "raw":
                    base = value
                ratio: Any = f"{_TIMES}{value / base:.3f}" if base else ""
                print(f"| {path} | {where} | {system} | {value:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
