"""`balanced`: does a second web process behind HAProxy double the throughput?

Three topologies, each loaded by wrk (closed loop) on two endpoints, `GET /health` and the cheap
authenticated read `GET /api/v1/forums/categories` (session cookie, PostgreSQL):

- `one-direct`: one Daphne on the server CPU, wrk on the load generator's CPU (the `health`
  scenario's set-up);
- `one-lb`: the same Daphne behind HAProxy (deploy/haproxy.cfg, one backend); HAProxy and wrk
  share the load generator's CPU, so the one process keeps a core of its own;
- `two-lb`: two Daphne processes, one pinned to each CPU, behind HAProxy; HAProxy and wrk are
  not pinned (both CPUs): with two cores there is no third one for them, so they take their share
  from the servers. The ratio two-lb / one-lb therefore counts everything two processes cost on
  this machine (balancer and generator included) against the best case of one process; the CPU
  used by each part (servers, HAProxy, wrk) per request is printed beside it, so the share that
  went to the load generator is visible. `two-lb / one-lb` is the target's ratio (at least 1.8).

Every start is checked: the exact /health answer through the balancer, every backend UP in
HAProxy's statistics, and the authenticated read answering 200 with a JSON list.
"""

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import prepare
from bench.loadgen import LoadError, WrkClosedLoop
from bench.monitor import cpu_seconds, process_tree, wait_until_idle
from bench.run import (
    RESULTS_DIR,
    _now,
    _progress,
    describe_code,
    describe_machine,
    loads_for,
    raise_open_files_limit,
    server_environment,
    tag_database_url,
    variant_names,
)
from bench.scenarios import HOST, Load, Scenario
from bench.server import ROOT, Server, ServerError, free_port
from p2p_sandbox.balancer import Backend, haproxy_command, render_config

ENDPOINTS = {"health": "/health", "categories": "/api/v1/forums/categories"}
HEALTH_BODY = b'{"status": "healthy", "async": true}'
START_TIMEOUT_S = 60.0


@dataclass
class Topology:
    """The web processes (each pinned to one CPU), and HAProxy in front of them or not."""

    servers: list[Server]
    haproxy: subprocess.Popen[bytes] | None
    haproxy_cpus: str
    wrk_cpus: str
    port: int
    stats_socket: Path | None

    def pids(self) -> dict[str, list[int]]:
        trees = {"servers": [pid for s in self.servers for pid in process_tree(s.pid)]}
        trees["haproxy"] = process_tree(self.haproxy.pid) if self.haproxy else []
        return trees

    def stop(self) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=10)
        for server in self.servers:
            server.stop()


def start_topology(
    name: str, scenario: Scenario, args: argparse.Namespace, env: dict[str, str], log_dir: Path
) -> Topology:
    variant = scenario.variant(name)
    server_cpus = (
        [args.server_cpu] if name.startswith("one") else [args.server_cpu, args.loadgen_cpu]
    )
    servers = [Server(variant, cpu=cpu, env=env, log_dir=log_dir) for cpu in server_cpus]
    topology = Topology(servers, None, "", str(args.loadgen_cpu), servers[0].port, None)
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(scenario, timeout=START_TIMEOUT_S)
        if name == "one-direct":
            return topology
        both = f"{args.server_cpu},{args.loadgen_cpu}"
        topology.haproxy_cpus = topology.wrk_cpus = (
            str(args.loadgen_cpu) if name == "one-lb" else both
        )
        topology.port = free_port()
        topology.stats_socket = log_dir / f"haproxy-{topology.port}.sock"
        config = log_dir / f"haproxy-{topology.port}.cfg"
        config.write_text(
            render_config(
                bind=f"{HOST}:{topology.port}",
                backends=[Backend(f"web{i + 1}", s.port) for i, s in enumerate(servers)],
                check_host="localhost",
                stats_socket=topology.stats_socket,
            )
        )
        with (log_dir / f"haproxy-{topology.port}.log").open("wb") as log:
            topology.haproxy = subprocess.Popen(
                ["taskset", "--cpu-list", topology.haproxy_cpus, *haproxy_command(config)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_backends_up(topology, len(servers))
        return topology
    except BaseException:
        topology.stop()
        raise


def haproxy_stat(stats_socket: Path) -> list[dict[str, str]]:
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(stats_socket))
        connection.sendall(b"show stat\n")
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].removeprefix("# ").split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]


def wait_backends_up(topology: Topology, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    assert topology.haproxy is not None
    assert topology.stats_socket is not None
    while True:
        if topology.haproxy.poll() is not None:
            raise ServerError(f"haproxy exited ({topology.haproxy.returncode})")
        with contextlib.suppress(OSError, IndexError):
            rows = haproxy_stat(topology.stats_socket)
            up = [r for r in rows if r["svname"].startswith("web") and r["status"] == "UP"]
            if len(up) == count:
                return
        if time.monotonic() > deadline:
            raise ServerError(f"haproxy did not report {count} backends UP")
        time.sleep(0.1)


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_answers(topology: Topology, cookie: str) -> None:
    """Through the balancer, as often as there are backends: the exact /health, the read a list."""
    for _ in topology.servers:
        status, body = get(topology.port, ENDPOINTS["health"], {})
        if (status, body) != (200, HEALTH_BODY):
            raise ServerError(f"/health answered {status} {body[:200]!r}")
        status, body = get(topology.port, ENDPOINTS["categories"], {"Cookie": cookie})
        if status != 200 or not isinstance(json.loads(body), list):
            raise ServerError(f"{ENDPOINTS['categories']} answered {status} {body[:200]!r}")


def seed_session(env: dict[str, str], log_dir: Path) -> str:
    """Two verified users (bench.seed's messaging users); the first one's session cookie."""
    sessions = log_dir / "sessions.json"
    command = [sys.executable, "-m", "bench.seed", "--messaging-users=2"]
    prepare._run([*command, f"--sessions-file={sessions}"], env, log_dir / "prepare.log", "seed")
    seeded = json.loads(sessions.read_text())
    return f"{seeded['cookie_name']}={seeded['users'][0]['session_key']}"


def measure(
    topology: Topology, path: str, connections: int, duration: int, headers: tuple[str, ...]
) -> dict[str, Any]:
    pids = topology.pids()
    for pid in pids["servers"]:
        wait_until_idle(pid, timeout=20.0)
    before = {part: cpu_seconds(group) for part, group in pids.items()}
    wrk = WrkClosedLoop(cpu=topology.wrk_cpus, timeout_s=30, headers=headers)
    result = wrk.run(f"http://{HOST}:{topology.port}{path}", Load(connections), duration)
    used = {part: cpu_seconds(group) - before[part] for part, group in pids.items()}
    used["wrk"] = result.generator["cpu_seconds"]
    requests = max(result.requests, 1)
    return {
        "requests_per_s": result.requests_per_s,
        "latency_ms": result.latency_ms,
        "errors": result.errors,
        "cpu_seconds": {part: round(value, 3) for part, value in used.items()},
        "cpu_ms_per_request": {
            part: round(value * 1000 / requests, 3) for part, value in used.items()
        },
        "result": result.as_dict(),
    }


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    names = variant_names(scenario, args)
    loads = loads_for(scenario, args)
    raise_open_files_limit(2 * max(load.connections for load in loads) + 1024)
    if shutil.which("haproxy") is None:
        sys.exit("missing haproxy: apt-get install -y haproxy (or make bench)")
    started_at, started = _now(), time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="p2p-bench-balanced-"))
    env = server_environment("")
    _progress(f"recreating PostgreSQL database {args.postgres_database}; logs in {log_dir}")
    runs: list[dict[str, Any]] = []
    try:
        url, application_name = tag_database_url(
            prepare.recreate_postgres(args.postgres_url, args.postgres_database)
        )
        env["DATABASE_URL"] = url
        prepare.migrate(env, log_dir / "prepare.log")
        cookie = seed_session(env, log_dir)
        headers = {"health": (), "categories": (f"Cookie: {cookie}",)}
        for repetition in range(1, args.repetitions + 1):
            for name in names:
                topology = start_topology(name, scenario, args, env, log_dir)
                try:
                    check_answers(topology, cookie)
                    for endpoint, path in ENDPOINTS.items():
                        if args.warmup:
                            measure(topology, path, 10, args.warmup, headers[endpoint])
                        for load in loads:
                            run = measure(
                                topology, path, load.connections, args.duration, headers[endpoint]
                            )
                            runs.append(
                                {
                                    "repetition": repetition,
                                    "variant": name,
                                    "endpoint": endpoint,
                                    "connections": load.connections,
                                    "server_cpus": [s.cpu for s in topology.servers],
                                    "haproxy_cpus": topology.haproxy_cpus or None,
                                    "wrk_cpus": topology.wrk_cpus,
                                    **run,
                                }
                            )
                            _progress(f"  rep {repetition} {name:<10} {describe(runs[-1])}")
                finally:
                    topology.stop()
    except (ServerError, LoadError, prepare.DatabaseError) as error:
        _progress(f"benchmark aborted: {error}\nlogs kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; logs kept in {log_dir}")
        return 130
    prepare.drop_postgres(args.postgres_url, args.postgres_database)
    if not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    results = {
        "scenario": {"name": scenario.name, "description": scenario.description},
        "started_at": started_at,
        "finished_at": _now(),
        "wall_time_s": round(time.monotonic() - started, 1),
        "settings": {
            "repetitions": args.repetitions,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": [load.connections for load in loads],
            "server_cpu": args.server_cpu,
            "loadgen_cpu": args.loadgen_cpu,
            "endpoints": ENDPOINTS,
            "database_application_name": application_name,
        },
        "machine": {**describe_machine(), "load_average_at_start": os.getloadavg()},
        "code": describe_code(),
        "variants": {name: scenario.variant(name).description for name in names},
        "summary": summarize(runs, names, loads),
        "runs": runs,
    }
    output = args.output or RESULTS_DIR / f"{scenario.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), flush=True)
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


def describe(run: dict[str, Any]) -> str:
    return (
        f"{run['endpoint']:<10} c{run['connections']:<4} {run['requests_per_s']:>8.1f} req/s  "
        f"cpu ms/req {run['cpu_ms_per_request']}  errors {sum(run['errors'].values())}"
    )


RATIOS = (("two-lb", "one-lb"), ("two-lb", "one-direct"), ("one-lb", "one-direct"))


def summarize(runs: list[dict[str, Any]], names: list[str], loads: list[Load]) -> list[dict]:
    summary = []
    for endpoint in ENDPOINTS:
        for load in loads:
            cell = [
                r
                for r in runs
                if r["endpoint"] == endpoint and r["connections"] == load.connections
            ]
            rows = {}
            for name in names:
                mine = [r for r in cell if r["variant"] == name]
                rows[name] = {
                    "requests_per_s": statistics.median(r["requests_per_s"] for r in mine),
                    "p99_ms": statistics.median(r["latency_ms"]["p99"] or 0 for r in mine),
                    "errors": sum(sum(r["errors"].values()) for r in mine),
                    "cpu_ms_per_request": {
                        part: round(
                            statistics.median(r["cpu_ms_per_request"][part] for r in mine), 3
                        )
                        for part in mine[0]["cpu_ms_per_request"]
                    },
                }
            ratios = {}
            for numerator, denominator in RATIOS:
                if numerator in names and denominator in names:
                    per_repetition = []
                    for repetition in sorted({r["repetition"] for r in cell}):
                        top, bottom = (
                            next(
                                r["requests_per_s"]
                                for r in cell
                                if r["variant"] == n and r["repetition"] == repetition
                            )
                            for n in (numerator, denominator)
                        )
                        per_repetition.append(round(top / bottom, 3) if bottom else None)
                    valid = [value for value in per_repetition if value is not None]
                    ratios[f"{numerator} / {denominator}"] = {
                        "median": round(statistics.median(valid), 3) if valid else None,
                        "per_repetition": per_repetition,
                    }
            summary.append(
                {
                    "endpoint": endpoint,
                    "connections": load.connections,
                    "variants": rows,
                    "ratios": ratios,
                }
            )
    return summary


def table(results: dict[str, Any]) -> str:
    lines = [f"balanced: medians of {results['settings']['repetitions']} repetitions"]
    for block in results["summary"]:
        lines.append(f"\n{ENDPOINTS[block['endpoint']]}, {block['connections']} connections")
        lines.append(
            f"  {'variant':<11}{'req/s':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'srv ms/req':>12}{'lb ms/req':>11}{'wrk ms/req':>12}"
        )
        for name, row in block["variants"].items():
            cpu = row["cpu_ms_per_request"]
            lines.append(
                f"  {name:<11}{row['requests_per_s']:>9.1f}{row['p99_ms']:>9.1f}{row['errors']:>8}"
                f"{cpu['servers']:>12.3f}{cpu['haproxy']:>11.3f}{cpu['wrk']:>12.3f}"
            )
        for label, ratio in block["ratios"].items():
            lines.append(f"  {label}: {ratio['median']} (per repetition {ratio['per_repetition']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print a results file's table again."""
    path = Path((argv or sys.argv[1:] or [str(RESULTS_DIR / "balanced.json")])[0])
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
