"""A throwaway ``redis-server`` on a free loopback port, for the broadcast benchmark.

Debian's ``redis-server`` is installed with ``apt-get`` when it is missing and we can; the server
keeps nothing on disk and is killed on exit, so every system starts from an empty Redis.
"""

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .debian import ensure_command
from .server import free_port, pinned

READY = "Ready to accept connections"


@dataclass(frozen=True)
class RedisServer:
    """A running ``redis-server``: its port and pid (to read its CPU time)."""

    port: int
    pid: int

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"


def ensure_redis_server() -> str | None:
    """Return the path of ``redis-server``, installing Debian's package first if we can.

    Returns ``None`` if it is still unavailable.
    """
    return ensure_command("redis-server", "redis-server")


@contextmanager
def running_redis(
    binary: str, cpu: str | None = None, timeout: float = 10.0
) -> Iterator[RedisServer]:
    """Start ``redis-server`` on ``127.0.0.1`` and a free port; yield it once it accepts clients.

    Persistence is off (no RDB snapshots, no append-only file), so nothing is written to disk.
    The server is killed on exit, even on error. Raises ``RuntimeError`` with its log if it does
    not become ready within ``timeout`` seconds.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        log_path = Path(folder) / "redis.log"
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "no", "--dir", folder, "--logfile", str(log_path)]
        process = subprocess.Popen(
            pinned(command, cpu),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not (log_path.exists() and READY in log_path.read_text(errors="replace")):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = log_path.read_text(errors="replace") if log_path.exists() else ""
                    raise RuntimeError(f"redis-server on port {port} did not start:\n{log}")
                time.sleep(0.02)
            yield RedisServer(port=port, pid=process.pid)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=timeout)
