"""HTTP load with ``wrk``: requests per second and the server worker's CPU per request."""

import re
import subprocess
from dataclasses import dataclass

from . import procstat
from .debian import ensure_command

_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(m?s)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class WrkResult:
    """What one ``wrk`` run measured."""

    requests: int
    seconds: float
    server_cpu_seconds: float

    @property
    def req_per_s(self) -> float:
        """Completed requests per second of wall time."""
        return self.requests / self.seconds

    @property
    def cpu_us_per_req(self) -> float:
        """Server worker CPU µs per completed request."""
        return self.server_cpu_seconds / self.requests * 1e6


def ensure_wrk() -> str | None:
    """Return the path of ``wrk``, installing Debian's package first if it is missing and we can.

    Returns ``None`` if it is still unavailable.
    """
    return ensure_command("wrk", "wrk")


def parse_wrk(output: str) -> tuple[int, float]:
    """Return ``(requests, seconds)`` from ``wrk``'s report.

    Raises ``RuntimeError`` if the report is unreadable or counts any failed request.
    """
    match = _REQUESTS.search(output)
    if match is None:
        raise RuntimeError(f"unreadable wrk output:\n{output}")
    requests, seconds = int(match[1]), float(match[2])
    if match[3] == "ms":
        seconds /= 1000
    bad = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    # Connections still open when wrk stops are reported as read errors at most once each.
    if bad is not None or (errors is not None and int(errors[1]) + int(errors[4]) > 0):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    return requests, seconds


def run_wrk(
    wrk: str,
    url: str,
    server_pid: int,
    duration: int,
    connections: int = 50,
    cpu: str | None = "1",
) -> WrkResult:
    """Run one ``wrk`` thread with ``connections`` keep-alive connections for ``duration`` s.

    The server worker's CPU time is read right before ``wrk`` starts and right after it exits.
    Raises ``RuntimeError`` on failed requests and ``subprocess.TimeoutExpired`` if it hangs.
    """
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", url]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    before = procstat.cpu_seconds(server_pid)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
    after = procstat.cpu_seconds(server_pid)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}")
    requests, seconds = parse_wrk(done.stdout)
    return WrkResult(requests=requests, seconds=seconds, server_cpu_seconds=after - before)
