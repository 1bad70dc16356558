"""``run_redis()``: a throwaway ``redis-server`` on a free 127.0.0.1 port, for broadcast tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ._errors import ServerStartError
from ._server import _free_port


class RedisServer:
    """A ``redis-server`` started by ``run_redis()``, with no persistence.

    ``url`` is what ``Broadcast(url)`` takes. :meth:`stop` and :meth:`start` restart it on the
    same port (everything it held is lost, as after a crash); :meth:`cli` runs a command.
    """

    def __init__(self, binary: str, host: str, port: int) -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it accepts connections.

        Raises ``ServerStartError`` if it exits first (e.g. the port is taken) or is not
        listening within ``timeout`` seconds.
        """
        command = [self.binary, "--port", str(self.port), "--bind", self.host]
        command += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        output = self.stop()
        raise ServerStartError(f"redis-server on {self.host}:{self.port} did not start:\n{output}")

    def stop(self) -> str:
        """Kill the server at once (like a crash); return what it printed."""
        process, self.process = self.process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.kill()
        output, _ = process.communicate()
        return output.decode(errors="replace")

    def cli(self, *args: str) -> str:
        """Run one command with ``redis-cli`` and return its output, stripped."""
        result = subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), *args],
            capture_output=True,
            check=True,
            timeout=10,
        )
        return result.stdout.decode().strip()

    def numsub(self, channel: str) -> int:
        """How many connections are subscribed to the pub/sub ``channel`` (PUBSUB NUMSUB)."""
        return int(self.cli("PUBSUB", "NUMSUB", channel).split("\n")[1])


def find_redis_server() -> str | None:
    """The ``redis-server`` binary on ``PATH``, or None."""
    return shutil.which("redis-server")


@contextmanager
def run_redis(host: str = "127.0.0.1") -> Iterator[RedisServer]:
    """Run a ``redis-server`` on a free port of ``host`` for the duration of the block.

    Raises ``FileNotFoundError`` when ``redis-server`` is not installed and
    ``ServerStartError`` when it does not start. It blocks: use it from a synchronous fixture.
    """
    binary = find_redis_server()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    for attempt in range(3):  # the free port may be taken before the server binds it
        server = RedisServer(binary, host, _free_port(host))
        try:
            server.start()
        except ServerStartError:
            if attempt == 2:
                raise
            continue
        try:
            yield server
        finally:
            server.stop()
        return
