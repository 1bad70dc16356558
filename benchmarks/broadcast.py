"""Broadcast fan-out: trio_apistar against Starlette + encode/broadcaster, memory and Redis.

``python -m benchmarks.broadcast [--quick] [--repeat N] [--duration S] [--subscribers N]`` runs
``benchmarks/fanout.py`` against each system and backend, a fresh server (and a fresh
``redis-server`` on a free port for the Redis backend) each time, systems interleaved within
each repeat, and writes ``benchmarks/results/broadcast-<timestamp>/`` with ``results.jsonl``,
``meta.json``, ``servers.log``, ``errors.jsonl`` and ``table.md``.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .apps import BROADCAST_PEER, BROADCAST_SYSTEMS
from .redisserver import ensure_redis_server, running_redis
from .report import Metric, Summary, format_number
from .run import (
    CLIENT_CPU,
    RESULTS,
    SERVER_CPU,
    Recorder,
    busy_fraction,
    cpu_model,
    git_commit,
    json_from,
    package_version,
)
from .server import pinned, running_server

BACKENDS = ("memory", "redis")
PACKAGES = ("trio", "hypercorn", "coredis", "starlette", "broadcaster", "redis", "anyio")
_DASH = "\u2013"  # en dash, for ranges
_TIMES = "\u00d7"  # multiplication sign, for ratios

METRICS: tuple[Metric, ...] = (
    Metric(
        "fanout_latency_p50_us", "publish→receive p50, 1 broadcast at a time", "ms", False, 1e-3
    ),
    Metric(
        "fanout_latency_p99_us", "publish→receive p99, 1 broadcast at a time", "ms", False, 1e-3
    ),
    Metric("fanout_deliveries_per_s", "deliveries/s, 8 broadcasts in flight", "1/s", True),
    Metric("fanout_cpu_us_per_delivery", "server CPU per delivery", "µs", False),
    Metric("fanout_load_latency_p50_us", "publish→receive p50, 8 in flight", "ms", False, 1e-3),
    Metric("fanout_load_latency_p99_us", "publish→receive p99, 8 in flight", "ms", False, 1e-3),
    Metric("fanout_client_cpu_share", "client CPU share, 8 in flight", "core", False),
    Metric(
        "fanout_rss_per_subscriber_bytes",
        "server RSS per subscribed socket",
        "KiB",
        False,
        1 / 1024,
    ),
    Metric(
        "fanout_load_rss_growth_bytes", "server RSS growth, 8 in flight", "KiB", False, 1 / 1024
    ),
    Metric("slow_rss_growth_bytes", "server RSS growth, 10 stalled sockets", "MiB", False, 2**-20),
    Metric("slow_deliveries_per_s", "deliveries/s to 10 readers beside them", "1/s", True),
    Metric("stalled_closed_by_server", "stalled sockets the server closed (of 10)", "", True),
)
METRICS_BY_KEY = {metric.key: metric for metric in METRICS}


def summarise(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Summary]:
    """Return ``{(metric, backend, system): Summary}`` over ``results.jsonl`` records."""
    samples: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for record in records:
        key = (record["metric"], record["backend"], record["system"])
        samples[key].append(float(record["value"]))
    return {
        key: Summary(statistics.median(values), min(values), max(values), len(values))
        for key, values in samples.items()
    }


def markdown_table(summary: dict[tuple[str, str, str], Summary]) -> str:
    """Return markdown: per metric and backend, each system and its ratio to the peer."""
    lines = [
        f"| metric | better | backend | system | median | min{_DASH}max | n | ratio to peer |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for metric in METRICS:
        for backend in BACKENDS:
            peer = summary.get((metric.key, backend, BROADCAST_PEER))
            for system in BROADCAST_SYSTEMS:
                s = summary.get((metric.key, backend, system))
                if s is None:
                    continue
                ratio = (
                    "" if not peer or not peer.median else f"{_TIMES}{s.median / peer.median:.2f}"
                )
                unit = f" ({metric.unit})" if metric.unit else ""
                low, high = (
                    format_number(s.low * metric.scale),
                    format_number(s.high * metric.scale),
                )
                lines.append(
                    f"| {metric.label}{unit} | {'higher' if metric.higher_is_better else 'lower'} "
                    f"| {backend} | {system} | {format_number(s.median * metric.scale)} "
                    f"| {low}{_DASH}{high} | {s.n} | {ratio} |"
                )
    return "\n".join(lines) + "\n"


def write_report(folder: Path) -> str:
    """(Re)write ``table.md`` in ``folder`` from its ``results.jsonl`` and return it."""
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    meta_path = folder / "meta.json"
    header = json.loads(meta_path.read_text()).get("header", "") if meta_path.exists() else ""
    table = (header + "\n\n" if header else "") + markdown_table(summarise(records))
    (folder / "table.md").write_text(table)
    return table


def _measure(
    args: argparse.Namespace, system: str, backend: str, redis: str | None, log: Any
) -> Any:
    app_path, worker_class, _backends = BROADCAST_SYSTEMS[system]
    with ExitStack() as stack:
        url = "memory://"
        if backend == "redis":
            assert redis is not None
            url = stack.enter_context(running_redis(redis, CLIENT_CPU if args.pin else None)).url
        server = stack.enter_context(
            running_server(
                system,
                SERVER_CPU if args.pin else None,
                log,
                app_path=app_path,
                worker_class=worker_class,
                env={"BENCH_BROADCAST_URL": url},
                ready_path="/pub?channel=probe",  # the probe must not subscribe
            )
        )
        command = [sys.executable, "-m", "benchmarks.fanout", f"--port={server.port}"]
        command += [f"--server-pid={server.worker_pid}", f"--duration={args.duration}"]
        command += [f"--subscribers={args.subscribers}", f"--window={args.window}"]
        command += [f"--timeout={args.duration * 3 + 90}"]
        return json_from(pinned(command, CLIENT_CPU if args.pin else None), args.duration * 3 + 120)


def _headline(system: str, values: dict[str, Any]) -> str:
    growth = values.get("slow_rss_growth_bytes", 0) / 2**20
    return (
        f"{system:22} {values['fanout_deliveries_per_s']:8,.0f} deliveries/s"
        f"  p50 {values['fanout_latency_p50_us'] / 1000:6.1f} ms  stalled RSS +{growth:.1f} MiB"
    )


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Return the facts needed to reproduce and compare a run."""
    versions = {name: package_version(name) for name in PACKAGES}
    versions["python"] = sys.version.split()[0]
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pinning = f"server on core {SERVER_CPU}, client and redis-server on core {CLIENT_CPU}"
    header = (
        f"Broadcast run {date} at commit {git_commit()} on {machine}.\n"
        f"Options: repeat {args.repeat}, {args.duration} s per phase, {args.subscribers} "
        f"subscribers, {args.window} broadcasts in flight, "
        + (pinning if args.pin else "unpinned")
        + ".\nVersions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + "."
    )
    return {"date": date, "versions": versions, "options": vars(args), "header": header}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` sets small defaults that explicit options override."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 repeat of 1 s, 200 subscribers")
    parser.add_argument("--repeat", type=int, help="samples per system and backend (default 5)")
    parser.add_argument("--duration", type=float, help="seconds per phase (default 3)")
    parser.add_argument("--subscribers", type=int, help="subscribed sockets (default 1000)")
    parser.add_argument("--window", type=int, default=8, help="broadcasts in flight")
    parser.add_argument(
        "--systems", help=f"comma-separated subset of {','.join(BROADCAST_SYSTEMS)}"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS), help="memory,redis")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    defaults = {"repeat": (1, 5), "duration": (1.0, 3.0), "subscribers": (200, 1000)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 if any step failed (the rest still ran), else 0."""
    args = parse_args(argv)
    systems = args.systems.split(",") if args.systems else list(BROADCAST_SYSTEMS)
    backends = args.backends.split(",")
    if set(systems) - set(BROADCAST_SYSTEMS) or set(backends) - set(BACKENDS):
        raise SystemExit(f"systems are {list(BROADCAST_SYSTEMS)}, backends {list(BACKENDS)}")
    if args.pin and (os.cpu_count() or 1) < 2:
        args.pin = False
    runs = [
        (backend, system)
        for backend in backends
        for system in systems
        if backend in BROADCAST_SYSTEMS[system].backends
    ]
    redis = ensure_redis_server() if "redis" in backends else None
    if "redis" in backends and redis is None:
        raise SystemExit("redis-server is unavailable (apt-get install redis-server)")
    folder = args.out or RESULTS / datetime.datetime.now().strftime("broadcast-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    meta = describe(args)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(meta["header"])
    busy = busy_fraction()
    started = time.monotonic()
    recorder = Recorder(folder, METRICS_BY_KEY)
    try:
        with (folder / "servers.log").open("ab") as log:
            for repeat in range(args.repeat):
                for backend, system in runs:
                    log.write(f"--- {system} {backend} repeat {repeat}\n".encode())
                    log.flush()
                    try:
                        values = _measure(args, system, backend, redis, log)
                    except Exception:
                        recorder.error(f"{system} {backend}", repeat, "fanout")
                        continue
                    recorder.sample(system, repeat, values, {"backend": backend})
                    print(f"  {repeat + 1}/{args.repeat} {backend:6} {_headline(system, values)}")
    finally:
        recorder.close()
    meta["header"] += (
        f"\nOther load on the machine: {busy:.0%} busy before the run, {busy_fraction():.0%} after."
    )
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(write_report(folder))
    print(f"wrote {folder} in {time.monotonic() - started:.0f} s")
    return 1 if recorder.error_count else 0


if __name__ == "__main__":
    raise SystemExit(main())
