"""Run every benchmark against every system and write a results folder.

``python -m benchmarks.run [--quick] [--repeat N] [--duration S] [--systems a,b]`` writes
``benchmarks/results/<timestamp>/`` with ``results.jsonl`` (one sample per line), ``meta.json``,
``table.md``, ``ratios.png`` and ``servers.log``. Systems are interleaved within each repeat
(A B C, A B C, ...) so that drift on the machine hits all of them alike.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Collection
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from . import httpload
from .apps import ALL_SYSTEMS, ASGI_SYSTEMS, HTTP_ONLY, TRIO_WEBSOCKET
from .report import METRICS_BY_KEY, write_report
from .server import REPO_ROOT, Server, pinned, running_server

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_CPU = "0"
CLIENT_CPU = "1"
PACKAGES = (
    "trio",
    "hypercorn",
    "h11",
    "wsproto",
    "trio-websocket",
    "starlette",
    "quart",
    "quart-trio",
)


def package_version(package: str) -> str:
    """Return the installed version of ``package``, or ``"missing"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def cpu_model() -> str:
    """Return the CPU's model name, as ``/proc/cpuinfo`` gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """Return the short hash of the checked-out commit, or ``"unknown"``."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def busy_fraction(seconds: float = 1.0) -> float:
    """Return the share of all cores' time spent busy (or stolen) over the next ``seconds``.

    A benchmark on a machine that is already busy measures the other work too; this is recorded
    in ``meta.json`` and warned about so that such a run is not mistaken for a clean one.
    """

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


def describe(args: argparse.Namespace, wrk: str | None) -> dict[str, Any]:
    """Return the facts needed to reproduce and compare a run: versions, machine, options."""
    versions = {name: package_version(name) for name in PACKAGES}
    versions["python"] = platform.python_version()
    wrk_version = "missing"
    if wrk is not None:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
        wrk_version = (done.stdout or done.stderr).split(" Copyright")[0].strip()
    versions["wrk"] = wrk_version
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    options = (
        f"repeat {args.repeat}, duration {args.duration} s, {args.connections} conns, "
        f"{args.idle_connections} idle conns, server on core {SERVER_CPU}, client on core "
        f"{CLIENT_CPU}" + ("" if args.pin else " (unpinned)")
    )
    header = (
        f"Run {date} at commit {git_commit()} on {machine}.\n"
        f"Options: {options}.\n"
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
    )
    return {
        "date": date,
        "machine": machine,
        "versions": versions,
        "options": vars(args),
        "header": header,
        "title": f"Ratio to raw ASGI on hypercorn --worker-class trio ({date})",
    }


class Recorder:
    """Appends samples and errors to the run's JSON-lines files as they are measured.

    ``metrics`` are the keys recorded as samples (by default the echo benchmark's); every other
    value goes in each line's ``details``.
    """

    def __init__(self, folder: Path, metrics: Collection[str] = METRICS_BY_KEY) -> None:
        self.metrics = metrics
        self.results: IO[str] = (folder / "results.jsonl").open("a")
        self.errors: IO[str] = (folder / "errors.jsonl").open("a")
        self.error_count = 0

    def sample(
        self,
        system: str,
        repeat: int,
        values: dict[str, Any],
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Record every known metric in ``values`` as one line each; the rest go in ``extra``.

        ``fields`` are added to every line as they are (the broadcast benchmark's backend).
        """
        details = {k: v for k, v in values.items() if k not in self.metrics} | extra
        for key, value in values.items():
            if key in self.metrics:
                line = {"system": system, "repeat": repeat, **(fields or {})}
                line |= {"metric": key, "value": value, "details": details}
                self.results.write(json.dumps(line) + "\n")
        self.results.flush()

    def error(self, system: str, repeat: int, step: str) -> None:
        """Record the exception being handled, and print it, without stopping the run."""
        self.error_count += 1
        text = traceback.format_exc()
        print(f"  !! {system} {step} (repeat {repeat}) failed:\n{text}", file=sys.stderr)
        line = {"system": system, "repeat": repeat, "step": step, "error": text}
        self.errors.write(json.dumps(line) + "\n")
        self.errors.flush()

    def close(self) -> None:
        """Close both files."""
        self.results.close()
        self.errors.close()


def json_from(command: list[str], timeout: float) -> dict[str, Any]:
    """Run ``command`` from the repository root and return the JSON on its last output line.

    Raises ``RuntimeError`` with its stderr if it fails.
    """
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=_env()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def run_inprocess(args: argparse.Namespace, recorder: Recorder, systems: list[str]) -> None:
    """Measure each ASGI app called directly, one fresh pinned process per sample."""
    for repeat in range(args.repeat):
        for system in systems:
            command = [
                sys.executable,
                "-m",
                "benchmarks.inprocess",
                f"--system={system}",
                f"--http-n={args.http_n}",
                f"--ws-n={args.ws_n}",
            ]
            try:
                values = json_from(pinned(command, SERVER_CPU if args.pin else None), 300)
            except Exception:
                recorder.error(system, repeat, "inprocess")
                continue
            recorder.sample(system, repeat, values)
            line = f"  in-process {system:17} http {values['inproc_http_us_per_req']:8.1f} µs/req"
            if "inproc_ws_us_per_msg" in values:
                line += (
                    f"   ws {values['inproc_ws_us_per_msg']:8.1f} µs/msg"
                    f"   handshake {values['inproc_ws_us_per_handshake']:8.1f} µs"
                )
            print(line)


def _client(args: argparse.Namespace, server: Server, mode: str, *options: str) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.client",
        mode,
        f"--url={server.ws_url}",
        f"--server-pid={server.worker_pid}",
        f"--duration={args.duration}",
        *options,
    ]
    return json_from(pinned(command, CLIENT_CPU if args.pin else None), args.duration + 120)


def _server_session(
    args: argparse.Namespace, recorder: Recorder, server: Server, repeat: int, wrk: str | None
) -> None:
    system = server.system
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = (
        []
        if system in HTTP_ONLY
        else [
            # Idle memory first, while the heap has only seen a warm-up.
            (
                "idle",
                lambda: _client(args, server, "idle", f"--connections={args.idle_connections}"),
            ),
            ("latency", lambda: _client(args, server, "latency")),
            (
                "throughput",
                lambda: _client(args, server, "throughput", f"--connections={args.connections}"),
            ),
            ("handshakes", lambda: _client(args, server, "handshakes", "--concurrency=10")),
        ]
    )
    if wrk is not None and system != TRIO_WEBSOCKET:
        steps.append(("http", lambda: _http(args, server, wrk)))
    summary = []
    for step, measure in steps:
        try:
            values = measure()
        except Exception:
            recorder.error(system, repeat, step)
            continue
        recorder.sample(system, repeat, values, step=step)
        summary.append(_headline(step, values))
    print(f"  {system:15} " + "  ".join(summary))


def _headline(step: str, values: dict[str, Any]) -> str:
    key = {
        "idle": "ws_rss_bytes_per_idle_conn",
        "latency": "ws_rtt_median_us",
        "throughput": "ws_msgs_per_s",
        "handshakes": "ws_handshakes_per_s",
        "http": "http_req_per_s",
    }[step]
    return f"{step} {values[key]:,.0f}"


def _http(args: argparse.Namespace, server: Server, wrk: str) -> dict[str, Any]:
    cpu = CLIENT_CPU if args.pin else None
    httpload.run_wrk(wrk, server.http_url, server.worker_pid, 1, args.connections, cpu)  # warm-up
    result = httpload.run_wrk(
        wrk, server.http_url, server.worker_pid, max(1, round(args.duration)), args.connections, cpu
    )
    return {
        "http_req_per_s": result.req_per_s,
        "http_cpu_us_per_req": result.cpu_us_per_req,
        "requests": result.requests,
        "elapsed_s": result.seconds,
        "server_cpu_share": result.server_cpu_seconds / result.seconds,
    }


def run_servers(
    args: argparse.Namespace, recorder: Recorder, systems: list[str], folder: Path, wrk: str | None
) -> None:
    """Measure each system behind a real server, a fresh server per system and repeat."""
    with (folder / "servers.log").open("ab") as log:
        for repeat in range(args.repeat):
            print(f"repeat {repeat + 1}/{args.repeat}")
            for system in systems:
                log.write(f"--- {system} repeat {repeat}\n".encode())
                log.flush()
                try:
                    with running_server(system, SERVER_CPU if args.pin else None, log) as server:
                        _server_session(args, recorder, server, repeat, wrk)
                except Exception:
                    recorder.error(system, repeat, "server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` sets small defaults that explicit options override."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 repeats of 1 s: a harness check")
    parser.add_argument("--repeat", type=int, help="samples per system and metric (default 5)")
    parser.add_argument("--duration", type=float, help="seconds per load test (default 3)")
    parser.add_argument("--systems", help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle-connections", type=int, help="default 1000")
    parser.add_argument("--http-n", type=int, help="in-process requests per batch")
    parser.add_argument("--ws-n", type=int, help="in-process messages per batch")
    parser.add_argument("--skip-servers", action="store_true", help="in-process costs only")
    parser.add_argument("--skip-inprocess", action="store_true", help="server benchmarks only")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument("--out", type=Path, help="results folder (default results/<timestamp>)")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "repeat": 2 if quick else 5,
        "duration": 1.0 if quick else 3.0,
        "idle_connections": 200 if quick else 1000,
        "http_n": 200 if quick else 1000,
        "ws_n": 500 if quick else 4000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; return 1 if any step failed (the rest still ran), else 0."""
    args = parse_args(argv)
    systems = args.systems.split(",") if args.systems else list(ALL_SYSTEMS)
    unknown = set(systems) - set(ALL_SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")
    if args.pin and (os.cpu_count() or 1) < 2:
        print("fewer than 2 cores: running unpinned", file=sys.stderr)
        args.pin = False
    wrk = None if args.skip_servers else httpload.ensure_wrk()
    if wrk is None and not args.skip_servers:
        print("wrk is unavailable: skipping the HTTP load test", file=sys.stderr)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = args.out or RESULTS / stamp
    folder.mkdir(parents=True, exist_ok=True)
    meta = describe(args, wrk)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(meta["header"])
    busy = busy_fraction()
    if busy > 0.05:
        print(f"warning: the machine is already {busy:.0%} busy; results will be noisy")
    started = time.monotonic()
    recorder = Recorder(folder)
    try:
        if not args.skip_inprocess:
            print("in-process cost")
            run_inprocess(args, recorder, [s for s in systems if s in ASGI_SYSTEMS])
        if not args.skip_servers:
            run_servers(args, recorder, systems, folder, wrk)
    finally:
        recorder.close()
    meta["busy_before"] = busy
    meta["busy_after"] = busy_fraction()
    meta["header"] += (
        f"\nOther load on the machine: {meta['busy_before']:.0%} busy before the run, "
        f"{meta['busy_after']:.0%} after."
    )
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(write_report(folder))
    print(f"wrote {folder} in {time.monotonic() - started:.0f} s")
    if recorder.error_count:
        print(
            f"{recorder.error_count} steps failed: see {folder / 'errors.jsonl'}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
