"""Run a benchmark scenario: `python -m bench.run --scenario health` (see bench/README.md).

For each repetition, each variant in turn (A B C ..., A B C ...) gets a fresh server pinned to the
server CPU, is checked to give the expected answer, warmed up, then loaded at every load point in
ascending order by a generator pinned to the other CPU. Results go to bench/results/<scenario>.json
and a table to stdout; progress goes to stderr.
"""

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.loadgen import LoadError, WrkClosedLoop, generator_for, wrk_version
from bench.monitor import DatabaseConnectionCounter, Monitor, wait_until_idle
from bench.report import summarize, table
from bench.scenarios import HOST, SCENARIOS, Load, Scenario
from bench.server import ROOT, Server, ServerError

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATABASE_APPLICATION_NAME = "p2p-bench"
WARMUP_CONNECTIONS = 10
# Per connection: one socket in the server and one in wrk, plus the server's own files.
FILES_PER_CONNECTION = 2
FILES_HEADROOM = 1024


def _split(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the project against its baselines (see bench/README.md).",
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="health")
    parser.add_argument("--repetitions", type=int, default=3, help="runs per cell (default 3)")
    parser.add_argument(
        "--duration", type=int, default=5, help="seconds of load per run (default 5)"
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        metavar="N",
        help="connections per closed-loop run, e.g. 1,50,1000 (default: the scenario's)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="variants to run, in this order, or 'all' (default: the scenario's; see --list)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of load after each server start (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=30,
        help="a response slower than this many seconds counts as a timeout error and is left out "
        "of the latency figures (wrk's rule; default 30)",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, help="JSON file (default bench/results/<scenario>.json)"
    )
    parser.add_argument("--list", action="store_true", help="list the scenario's variants and exit")
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.duration < 1 or args.warmup < 0 or args.timeout < 1:
        parser.error("--repetitions, --duration and --timeout must be >= 1, --warmup >= 0")
    scenario = SCENARIOS[args.scenario]
    if args.concurrency:
        try:
            args.loads = [Load(int(value)) for value in _split(args.concurrency)]
        except ValueError:
            parser.error("--concurrency takes whole numbers")
        if any(load.connections < 1 for load in args.loads):
            parser.error("--concurrency must be >= 1")
    else:
        args.loads = list(scenario.default_loads)
    args.loads.sort(key=lambda load: (load.rate or 0, load.connections))
    names = _split(args.variants) if args.variants else list(scenario.default_variants)
    if names == ["all"]:
        names = [variant.name for variant in scenario.variants]
    known = {variant.name for variant in scenario.variants}
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(known)}")
    args.variant_names = list(dict.fromkeys(names))
    if args.server_cpu == args.loadgen_cpu:
        parser.error("--server-cpu and --loadgen-cpu must differ")
    return args


def check_machine(args: argparse.Namespace) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install -y wrk util-linux (or make bench)")
    available = os.sched_getaffinity(0)
    for cpu in (args.server_cpu, args.loadgen_cpu):
        if cpu not in available:
            sys.exit(f"CPU {cpu} is not available here (CPUs: {sorted(available)})")


def raise_open_files_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE for this process and so for the servers and wrk it starts."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def tag_database_url(url: str) -> tuple[str, str]:
    """The URL with an application_name, so the connections of the server under test can be
    told apart from anyone else's in pg_stat_activity. Returns (url, application_name)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("application_name", DATABASE_APPLICATION_NAME)
    return urlunsplit(parts._replace(query=urlencode(query))), query["application_name"]


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}


def server_environment(database_url: str) -> dict[str, str]:
    """Production-like settings; DATABASE_URL and REDIS_URL pass through when set."""
    env = dict(os.environ)
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ("django", "daphne", "twisted", "uvicorn", "gunicorn", "channels", "asgiref")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {package: _version(package) for package in packages},
        # uvicorn's speed depends on these optional extras ("uvicorn[standard]").
        "uvicorn_loop": "uvloop" if util.find_spec("uvloop") else "asyncio",
        "uvicorn_http": "httptools" if util.find_spec("httptools") else "h11",
        "wrk": wrk_version(),
    }


def describe_code() -> dict[str, Any]:
    def git(*command: str) -> str | None:
        completed = subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip() if completed.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_variant(
    scenario: Scenario,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    database: DatabaseConnectionCounter | None,
) -> list[dict[str, Any]]:
    start_s = server.wait_ready(scenario)
    url = server.url(scenario.path)
    if args.warmup:
        warmup = Load(min(WARMUP_CONNECTIONS, max(load.connections for load in loads)))
        WrkClosedLoop(cpu=args.loadgen_cpu, timeout_s=args.timeout).run(url, warmup, args.warmup)
    runs = []
    for load in loads:
        settle_s = wait_until_idle(server.pid)
        monitor = Monitor(
            server.pid,
            server_cpu=args.server_cpu,
            loadgen_cpu=args.loadgen_cpu,
            database=database,
        )
        monitor.start()
        started_at = _now()
        try:
            result = generator_for(load, cpu=args.loadgen_cpu, timeout_s=args.timeout).run(
                url, load, args.duration
            )
        finally:
            usage = monitor.stop()
        if server.process is not None and server.process.poll() is not None:
            raise ServerError(f"{server.variant.name} died during the run:\n{server.log_tail()}")
        runs.append(
            {
                "repetition": repetition,
                "variant": server.variant.name,
                "load": load.as_dict(),
                "started_at": started_at,
                "server_command": server.command,
                "server_start_s": round(start_s, 2),
                "settle_s": round(settle_s, 2),
                "result": result.as_dict(),
                "server": usage.as_dict(),
            }
        )
        p99 = result.latency_ms["p99"]
        errors = sum(result.errors.values())
        _progress(
            f"  rep {repetition} {server.variant.name:<16} {load.label:<18} "
            f"{result.requests_per_s:>9.1f} req/s  p99 "
            + (f"{p99:>8.2f} ms" if p99 is not None else "       - ms")
            + f"  rss {usage.peak_rss_total_kb / 1024:6.1f} MB  errors {errors}"
            f"  no response {result.no_response_connections}"
        )
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    if args.list:
        for variant in scenario.variants:
            default = " (default)" if variant.name in scenario.default_variants else ""
            print(f"{variant.name:<16} {variant.description}{default}")
        return 0
    check_machine(args)
    max_connections = max(load.connections for load in args.loads)
    open_files = raise_open_files_limit(FILES_PER_CONNECTION * max_connections + FILES_HEADROOM)
    # The sampler thread and wrk share the load generator's CPU; the server has its own.
    os.sched_setaffinity(0, {args.loadgen_cpu})
    signal.signal(signal.SIGTERM, _raise_interrupt)

    database_url = os.environ.get("DATABASE_URL", "").strip()
    application_name = None
    if database_url and is_postgres(database_url):
        database_url, application_name = tag_database_url(database_url)
    env = server_environment(database_url)

    started_at = _now()
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix=f"p2p-bench-{scenario.name}-"))
    _progress(
        f"{scenario.name}: {len(args.variant_names)} variants x {len(args.loads)} loads x "
        f"{args.repetitions} repetitions x {args.duration} s; server logs in {log_dir}"
    )
    runs: list[dict[str, Any]] = []
    database = None
    try:
        if application_name is not None:
            database = DatabaseConnectionCounter(database_url, application_name)
        for repetition in range(1, args.repetitions + 1):
            for name in args.variant_names:
                variant = scenario.variant(name)
                variant_env = dict(env)
                if variant.settings_module:
                    variant_env["DJANGO_SETTINGS_MODULE"] = variant.settings_module
                with Server(
                    variant, cpu=args.server_cpu, env=variant_env, log_dir=log_dir
                ) as server:
                    runs += run_variant(scenario, server, args.loads, args, repetition, database)
    except (ServerError, LoadError) as error:
        _progress(f"benchmark aborted: {error}\nserver logs kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; server logs kept in {log_dir}")
        return 130
    finally:
        if database is not None:
            database.close()
    shutil.rmtree(log_dir, ignore_errors=True)

    results = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "method": "GET",
            "path": scenario.path,
            "expected_status": scenario.expected_status,
            "expected_content_type": scenario.expected_content_type,
            "expected_body": scenario.expected_body.decode(),
        },
        "started_at": started_at,
        "finished_at": _now(),
        "wall_time_s": round(time.monotonic() - started, 1),
        "settings": {
            "repetitions": args.repetitions,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "timeout_s": args.timeout,
            "server_cpu": args.server_cpu,
            "loadgen_cpu": args.loadgen_cpu,
            "open_files_limit": open_files,
            "order": "for each repetition, for each variant (fresh server): loads ascending",
            "loads": [load.as_dict() for load in args.loads],
        },
        "environment": {
            "database": "postgresql" if application_name else "sqlite",
            "database_application_name": application_name,
            "redis": bool(os.environ.get("REDIS_URL", "").strip()),
            "host": HOST,
        },
        "machine": {**describe_machine(), "load_average_at_start": load_at_start},
        "code": describe_code(),
        "variants": {
            name: {
                "description": scenario.variant(name).description,
                "command": scenario.variant(name).command("PORT"),
                "settings_module": scenario.variant(name).settings_module,
            }
            for name in args.variant_names
        },
        "summary": summarize(scenario, runs, args.variant_names, args.loads),
        "runs": runs,
    }
    output = args.output or RESULTS_DIR / f"{scenario.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
