"""Starting a benchmarked server in its own process group, pinned to one core, and stopping it.

Every ASGI system runs under exactly the same Hypercorn command line; only the app path differs.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import procstat
from .apps import APP_PATHS, TRIO_WEBSOCKET

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Flags shared by every Hypercorn run. No access log is configured, so none is written.
HYPERCORN_FLAGS: tuple[str, ...] = (
    "--worker-class",
    "trio",
    "--workers",
    "1",
    "--backlog",
    "2048",
    "--log-level",
    "warning",
)


@dataclass(frozen=True)
class Server:
    """A running benchmark server.

    ``pid`` is the process we started; ``worker_pid`` the one that serves requests (Hypercorn's
    spawned worker, or the server itself when it does not fork) and so the one to measure.
    """

    system: str
    port: int
    pid: int
    worker_pid: int

    @property
    def ws_url(self) -> str:
        """The URL of the echo WebSocket."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """The URL of the JSON endpoint."""
        return f"http://127.0.0.1:{self.port}/json"


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hypercorn_command(app_path: str, port: int, worker_class: str = "trio") -> list[str]:
    """Return the Hypercorn command line serving ``app_path`` on ``127.0.0.1:port``.

    Every benchmarked ASGI app gets the same flags; only the worker class may differ (the
    broadcast benchmark's asyncio peer runs on Hypercorn's asyncio worker).
    """
    flags = list(HYPERCORN_FLAGS)
    flags[flags.index("--worker-class") + 1] = worker_class
    return [sys.executable, "-m", "hypercorn", *flags, "--bind", f"127.0.0.1:{port}", app_path]


def server_command(system: str, port: int) -> list[str]:
    """Return the command line that serves ``system`` on ``127.0.0.1:port``."""
    if system == TRIO_WEBSOCKET:
        return [sys.executable, "-m", "benchmarks.apps.trio_websocket_echo", "--port", str(port)]
    return hypercorn_command(APP_PATHS[system], port)


def pinned(command: list[str], cpu: str | None) -> list[str]:
    """Prefix ``command`` with ``taskset -c cpu`` unless ``cpu`` is ``None``."""
    return command if cpu is None else ["taskset", "-c", cpu, *command]


def websocket_handshake_ok(port: int, timeout: float = 1.0, path: str = "/ws") -> bool:
    """Return whether ``ws://127.0.0.1:port{path}`` answers an upgrade with ``101`` right now."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(b"HTTP/1.1 101")
    except OSError:
        return False


def _find_worker(pid: int, system: str, deadline: float) -> int:
    if system == TRIO_WEBSOCKET:
        return pid  # serves in the process we started (taskset execs, so the pid is the same)
    while time.monotonic() < deadline:
        # The master spawns the worker with multiprocessing's "spawn" start method; the other
        # child, if any, is multiprocessing's resource tracker.
        workers = [c for c in procstat.children(pid) if "spawn_main" in procstat.cmdline(c)]
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.05)
    raise RuntimeError(f"no single Hypercorn worker found under pid {pid}")


def stop(process: "subprocess.Popen[bytes]", grace: float = 5.0) -> None:
    """Ask ``process`` to shut down, then kill its whole process group, whatever happened."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the worker and resource tracker, too
        except ProcessLookupError:
            pass
        process.wait(timeout=grace)


@contextmanager
def running_server(
    system: str,
    cpu: str | None = "0",
    log: IO[bytes] | None = None,
    timeout: float = 30.0,
    *,
    app_path: str | None = None,
    worker_class: str = "trio",
    env: Mapping[str, str] | None = None,
    ready_path: str = "/ws",
) -> Iterator[Server]:
    """Start ``system`` on a free loopback port, wait until it accepts WebSockets, yield it.

    ``app_path`` serves that app under Hypercorn's ``worker_class`` instead of ``system``'s own
    command line; ``env`` adds environment variables; readiness is a ``101`` from ``ready_path``.
    The server and all its children are killed on exit, even on error. Raises
    ``RuntimeError`` if it does not come up within ``timeout`` seconds.
    """
    port = free_port()
    full_env = dict(
        os.environ,
        **(env or {}),
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    command = (
        server_command(system, port)
        if app_path is None
        else hypercorn_command(app_path, port, worker_class)
    )
    process = subprocess.Popen(
        pinned(command, cpu),
        cwd=REPO_ROOT,
        env=full_env,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() can kill every descendant
    )
    try:
        deadline = time.monotonic() + timeout
        while not websocket_handshake_ok(port, path=ready_path):
            if process.poll() is not None:
                raise RuntimeError(f"{system} server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system} server not ready after {timeout} s")
            time.sleep(0.05)
        worker = _find_worker(process.pid, system, deadline)
        yield Server(system=system, port=port, pid=process.pid, worker_pid=worker)
    finally:
        stop(process)
