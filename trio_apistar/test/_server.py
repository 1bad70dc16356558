"""``run_hypercorn()``: an app served by a real ``hypercorn --worker-class trio`` subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._errors import ServerStartError


@dataclass(frozen=True)
class AppServer:
    """An app served on ``host:port`` (what the ``live_server`` fixture gives a test)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The base HTTP URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The base WebSocket URL, e.g. ``ws://127.0.0.1:8123``."""
        return f"ws://{self.host}:{self.port}"


@dataclass(frozen=True)
class LiveServer(AppServer):
    """A server started by ``run_hypercorn()``: its address, process and log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (Hypercorn then shuts down gracefully), else SIGKILL the whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its worker process too
    except ProcessLookupError:
        pass
    process.wait()


@contextmanager
def run_hypercorn(
    app_path: str,
    *args: str,
    host: str = "127.0.0.1",
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
    port: int | None = None,
) -> Iterator[LiveServer]:
    """Serve ``app_path`` with ``hypercorn --worker-class trio`` in a subprocess on a free port.

    ``app_path`` is Hypercorn's ``"module:attr"`` or ``"path/to/file.py:attr"``, imported from
    ``cwd``; ``args`` are extra Hypercorn options and ``env`` extra environment variables;
    ``port`` serves on that port instead (to restart a server where its clients expect it). Yields
    a ``LiveServer`` once Hypercorn reports it is running (the app's lifespan startup is done
    and the port listens); raises ``ServerStartError`` (with the
    server's log) if the server exits first or is not listening within ``timeout`` seconds. On
    exit the server gets SIGTERM and ``timeout`` seconds to shut down gracefully (lifespan
    shutdown included), then SIGKILL. It blocks: use it from a synchronous (e.g. session-scoped)
    fixture.
    """
    full_env = {**os.environ, **(env or {})}
    fd, log_name = tempfile.mkstemp(prefix="hypercorn-", suffix=".log")
    log_path = Path(log_name)
    try:
        with os.fdopen(fd, "wb") as log:
            for _attempt in range(1 if port is not None else 3):
                # A free port may be taken before Hypercorn binds it: then try another.
                bound = port if port is not None else _free_port(host)
                command = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
                command += ["--bind", f"{host}:{bound}", *args, app_path]
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                server = LiveServer(host, bound, process, log_path)
                # Printed once the lifespan startup is done and the socket listens.
                ready = f"Running on http://{host}:{bound} "
                try:
                    deadline = time.monotonic() + timeout
                    while process.poll() is None and ready not in server.log():
                        if time.monotonic() > deadline:
                            raise ServerStartError(
                                f"{app_path} not listening on {host}:{bound} within {timeout}s:"
                                f"\n{server.log()}"
                            )
                        time.sleep(0.05)
                    if process.poll() is None:
                        yield server
                        return
                finally:
                    _stop(process, timeout)
                if "Address already in use" not in server.log():
                    break
            raise ServerStartError(f"{app_path}: the server exited:\n{server.log()}")
    finally:
        log_path.unlink(missing_ok=True)
