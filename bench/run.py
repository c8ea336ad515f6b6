"""Run a benchmark scenario: `python -m bench.run --scenario health` (see bench/README.md).

For each repetition, each variant in turn (A B C ..., A B C ...) gets a fresh server pinned to the
server CPU, is checked to give the expected answer, warmed up, then loaded at every load point in
ascending order by a generator pinned to the other CPU. Results go to bench/results/<scenario>.json
and a table to stdout; progress goes to stderr. `--scenario all` runs every scenario in turn.

Scenarios with data (login, signup, messaging) first get a database of their own (fresh SQLite
file, or `--database postgres`: the dedicated database p2p_bench), migrated and seeded; those
that measure the password hasher time it on the server CPU at the start of every repetition.
`messaging` (users' sockets and messages between them) is run by bench/messaging.py,
`forum_viewers` (1000 viewers of one topic) by bench/forum.py, `usecases_library` (the
library's queries on 100k use cases) by bench/library.py, `usecases_upload` (image uploads with
a Celery worker) by bench/upload.py.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench import prepare
from bench.loadgen import LoadError, OpenModel, WrkClosedLoop, generator_for, wrk_version
from bench.monitor import DatabaseConnectionCounter, Monitor, wait_until_idle
from bench.report import summarize, table
from bench.scenarios import HOST, SCENARIOS, Load, Scenario, Variant
from bench.server import ROOT, Server, ServerError
from bench.workloads import WORKLOADS, RequestPlan

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATABASE_APPLICATION_NAME = "p2p-bench"
WARMUP_CONNECTIONS = 10
# Per connection: one socket in the server and one in wrk, plus the server's own files.
FILES_PER_CONNECTION = 2
FILES_HEADROOM = 1024
# An open-model run can leave abandoned (timed-out) requests that the server still works through.
OPEN_MODEL_SETTLE_S = 60.0
# usecases_library's data set (BENCHMARKS.md: 100k use cases).
DEFAULT_USE_CASES = 100_000


def _split(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the project against its baselines (see bench/README.md).",
    )
    parser.add_argument(
        "--scenario",
        choices=[*sorted(SCENARIOS), "all"],
        default="health",
        help="which scenario, or 'all' for each in turn (default health)",
    )
    parser.add_argument("--repetitions", type=int, default=3, help="runs per cell (default 3)")
    parser.add_argument(
        "--duration",
        type=int,
        help="seconds of load per run (default: the scenario's; health 5, login and signup 30)",
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        metavar="N",
        help="connections per closed-loop run, e.g. 1,50,1000 (default: the scenario's)",
    )
    parser.add_argument(
        "--rate",
        nargs="+",
        metavar="R",
        help="requests/s of each open-model run, e.g. 2,4,8; messaging: messages/s in all; "
        "forum_viewers: posts/s (default: the scenario's)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help="open model: at most this many requests in flight, each on its own connection; a "
        "request over the cap waits, and the wait is in its latency (default 1000)",
    )
    parser.add_argument(
        "--arrival",
        choices=("uniform", "poisson"),
        default="uniform",
        help="open model: evenly spaced sends, or exponential gaps of the same mean",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="variants to run, in this order, or 'all' (default: the scenario's; see --list)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of load after each server start (default: the scenario's; 1, open model 2)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        help="a response slower than this many seconds counts as a timeout error and is left out "
        "of the latency figures (wrk's rule; the open model counts from the scheduled send "
        "time; default 30); messaging: a run ends when no expected frame has come for this "
        "long, and the messages not delivered by then are lost (default 10)",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        help="a database of the run's own: a fresh SQLite file, or PostgreSQL database "
        f"{prepare.POSTGRES_DATABASE} (dropped and created); default: the scenario's (login and "
        "signup sqlite; health uses DATABASE_URL as it is)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", prepare.DEFAULT_POSTGRES_URL),
        help="server to create the PostgreSQL database on, as a URL of a database to connect to "
        f"(default $BENCH_POSTGRES_URL or {prepare.DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--postgres-database",
        default=os.environ.get("BENCH_POSTGRES_DATABASE", prepare.POSTGRES_DATABASE),
        help="name of the PostgreSQL database the run creates and drops (default "
        f"$BENCH_POSTGRES_DATABASE or {prepare.POSTGRES_DATABASE})",
    )
    parser.add_argument(
        "--users",
        type=int,
        help="users seeded: login 500 (one hash); messaging 100, an even number (pairs); "
        "forum_viewers 1000 (the viewers)",
    )
    parser.add_argument(
        "--hold-seconds",
        type=int,
        help="forum_viewers: seconds the sockets are held after the rates, RSS sampled (default "
        "30; the target's soak is 600)",
    )
    parser.add_argument(
        "--hold-rate",
        type=float,
        help="forum_viewers: posts/s during the hold (default 0.1; 0: none)",
    )
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        help="forum_viewers: handshakes at once during the ramp (default 10)",
    )
    parser.add_argument(
        "--use-cases",
        type=int,
        help="usecases_library: use cases seeded (default 100000)",
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="usecases_library: keep the seeded PostgreSQL database after the run, and reuse one "
        "that an earlier run seeded at the same size (it is migrated again)",
    )
    parser.add_argument(
        "--worker-cpu",
        type=int,
        help="usecases_upload: the CPU of the Celery worker (default: the load generator's)",
    )
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=1,
        help="usecases_upload: the Celery worker's processes (default 1)",
    )
    parser.add_argument(
        "--hasher-repeat",
        type=int,
        default=20,
        help="timed check_password calls per repetition (default 20)",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON file (default bench/results/<scenario>.json, <scenario>-postgres.json with "
        "--database postgres)",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the temporary directory of server logs (and SQLite database) after a "
        "successful run (a failed run always keeps it)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenario's variants and exit")
    args = parser.parse_args(argv)
    if (
        args.repetitions < 1
        or (args.duration is not None and args.duration < 1)
        or (args.warmup is not None and args.warmup < 0)
        or (args.timeout is not None and args.timeout < 1)
        or args.max_connections < 1
        or (args.users is not None and args.users < 1)
        or args.hasher_repeat < 1
        or (args.connect_concurrency is not None and args.connect_concurrency < 1)
        or (args.hold_seconds is not None and args.hold_seconds < 0)
        or (args.hold_rate is not None and args.hold_rate < 0)
        or (args.use_cases is not None and args.use_cases < 1)
        or args.worker_concurrency < 1
    ):
        parser.error(
            "--repetitions, --duration, --timeout, --max-connections, --users, "
            "--connect-concurrency, --use-cases, --worker-concurrency and --hasher-repeat must "
            "be >= 1, --warmup, --hold-seconds and --hold-rate >= 0"
        )
    args.scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if len(args.scenarios) > 1 and (args.variants or args.output):
        parser.error("--variants and --output name one scenario's; not with --scenario all")
    try:
        args.concurrency = [int(value) for value in _split(args.concurrency or [])]
        args.rate = [float(value) for value in _split(args.rate or [])]
    except ValueError:
        parser.error("--concurrency takes whole numbers and --rate numbers")
    if any(value < 1 for value in args.concurrency) or any(value <= 0 for value in args.rate):
        parser.error("--concurrency must be >= 1 and --rate > 0")
    if args.server_cpu == args.loadgen_cpu:
        parser.error("--server-cpu and --loadgen-cpu must differ")
    for name in args.scenarios:
        scenario = SCENARIOS[name]
        if len(args.scenarios) == 1:
            if not scenario.open_model and args.rate:
                parser.error(f"{name} is a closed-loop scenario: use --concurrency, not --rate")
            if scenario.open_model and args.concurrency:
                parser.error(f"{name} is an open-model scenario: use --rate, not --concurrency")
            if scenario.kind == "messaging" and args.users is not None and args.users % 2:
                parser.error(f"{name} pairs its users: --users must be even")
            if scenario.kind == "forum" and args.users is not None and args.users < 2:
                parser.error(f"{name} needs --users >= 2 (the topic's author and the poster)")
        try:
            variant_names(scenario, args)
        except ValueError as error:
            parser.error(str(error))
    return args


def loads_for(scenario: Scenario, args: argparse.Namespace) -> list[Load]:
    """The scenario's loads, ascending; --concurrency replaces a closed-loop scenario's and
    --rate an open-model scenario's."""
    if not scenario.open_model and args.concurrency:
        loads = [Load(connections) for connections in args.concurrency]
    elif scenario.open_model and args.rate:
        loads = [Load(args.max_connections, rate) for rate in args.rate]
    elif scenario.open_model:
        loads = [Load(args.max_connections, load.rate) for load in scenario.default_loads]
    else:
        loads = list(scenario.default_loads)
    return sorted(dict.fromkeys(loads), key=lambda load: (load.rate or 0, load.connections))


def variant_names(scenario: Scenario, args: argparse.Namespace) -> list[str]:
    names = _split(args.variants) if args.variants else list(scenario.default_variants)
    if names == ["all"]:
        names = [variant.name for variant in scenario.variants]
    known = {variant.name for variant in scenario.variants}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown variants {unknown} of {scenario.name}; known: {sorted(known)}")
    return list(dict.fromkeys(names))


def check_machine(args: argparse.Namespace, *, closed_loop: bool) -> None:
    tools = ("wrk", "taskset") if closed_loop else ("taskset",)
    missing = [tool for tool in tools if shutil.which(tool) is None]
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


def server_environment(database_url: str, unset: tuple[str, ...] = ()) -> dict[str, str]:
    """Production-like settings; DATABASE_URL and REDIS_URL pass through when set (except the
    variables in `unset`)."""
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
    for name in unset:
        env.pop(name, None)
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


@dataclass(frozen=True)
class AuthenticatedRead:
    """A scenario's authenticated read (`Scenario.read_path`): the seeded credentials as request
    headers, and the exact answer every variant must give."""

    path: str
    # "Name: value" lines by Variant.auth.
    headers: dict[str, tuple[str, ...]]
    content_type: str
    body: bytes

    def headers_for(self, variant: Variant) -> tuple[str, ...]:
        return self.headers[variant.auth] if variant.auth is not None else ()


def run_variant(
    scenario: Scenario,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    database: DatabaseConnectionCounter | None,
    open_model: OpenModel | None,
    read: AuthenticatedRead | None = None,
) -> list[dict[str, Any]]:
    start_s = server.wait_ready(scenario)
    probe_s = None
    headers = read.headers_for(server.variant) if read is not None else ()
    if open_model is not None:
        # The real request, checked once, before any load: it must be exactly right.
        probe_s = server.probe(WORKLOADS[open_model.workload], open_model.plan, open_model.first)
        open_model.first += 1
        url = server.url(WORKLOADS[open_model.workload].path)
        if args.warmup:
            open_model.run(url, Load(args.max_connections, loads[0].rate), args.warmup)
    else:
        url = server.url(scenario.path)
        if read is not None:
            server.check_answer(
                read.path, headers=headers, expected=(200, read.content_type, read.body)
            )
            url = server.url(read.path)
        if args.warmup:
            warmup = Load(min(WARMUP_CONNECTIONS, max(load.connections for load in loads)))
            WrkClosedLoop(cpu=args.loadgen_cpu, timeout_s=args.timeout, headers=headers).run(
                url, warmup, args.warmup
            )
    runs = []
    for load in loads:
        settle_s = wait_until_idle(
            server.pid, timeout=OPEN_MODEL_SETTLE_S if load.rate is not None else 20.0
        )
        monitor = Monitor(
            server.pid,
            server_cpu=args.server_cpu,
            loadgen_cpu=args.loadgen_cpu,
            database=database,
        )
        monitor.start()
        started_at = _now()
        try:
            generator = generator_for(
                load,
                cpu=args.loadgen_cpu,
                timeout_s=args.timeout,
                open_model=open_model,
                headers=headers,
            )
            result = generator.run(url, load, args.duration)
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
                "probe_s": round(probe_s, 3) if probe_s is not None else None,
                "settle_s": round(settle_s, 2),
                "result": result.as_dict(),
                "server": usage.as_dict(),
            }
        )
        latency = result.latency_ms
        errors = sum(result.errors.values())
        _progress(
            f"  rep {repetition} {server.variant.name:<23} {load.label:<18} "
            f"{result.requests_per_s:>9.1f} req/s  "
            + "  ".join(
                f"{key} " + (f"{latency[key]:>8.2f} ms" if latency[key] is not None else "- ms")
                for key in (("p95", "p99") if load.rate is not None else ("p99",))
            )
            + f"  rss {usage.peak_rss_total_kb / 1024:6.1f} MB  errors {errors}"
            + (
                f"  no response {result.no_response_connections}"
                if load.rate is None
                else f"  statuses {result.generator['statuses']}"
            )
        )
    return runs


@dataclass
class Database:
    """Where the servers' data lives for one scenario run."""

    url: str
    kind: str
    application_name: str | None
    # Created by the runner (dropped at the end when it is PostgreSQL).
    created: str | None = None
    seed: dict[str, Any] | None = None
    read: AuthenticatedRead | None = None


READER_FILE = "reader.json"
# bench/servers/raw_asgi.py answers the read's path with these bytes.
RAW_ROUTE_FILE = "raw-route.json"


def seed_reader(
    scenario: Scenario, log_dir: Path, env: dict[str, str]
) -> tuple[AuthenticatedRead, dict[str, Any]]:
    """The read's user, session and token (bench.seed --reader), and the raw baseline's route
    (BENCH_RAW_ROUTE, set in `env`)."""
    assert scenario.read_path is not None
    credentials_file = log_dir / READER_FILE
    seed = prepare.seed_reader(env, log_dir / "prepare.log", credentials_file)
    seeded = json.loads(credentials_file.read_text())
    if seeded["path"] != scenario.read_path:
        raise prepare.DatabaseError(f"bench.seed --reader seeded {seeded['path']!r}")
    read = AuthenticatedRead(
        path=scenario.read_path,
        headers={
            "session": (f"Cookie: {seeded['cookie_name']}={seeded['session_key']}",),
            "token": (f"Authorization: Bearer {seeded['token']}",),
        },
        content_type=scenario.read_content_type,
        body=seeded["expected_body"].encode(),
    )
    route_file = log_dir / RAW_ROUTE_FILE
    route_file.write_text(
        json.dumps(
            {"path": read.path, "content_type": read.content_type, "body": seeded["expected_body"]}
        )
    )
    env["BENCH_RAW_ROUTE"] = str(route_file)
    return read, {
        **seed,
        "expected_body_bytes": len(read.body),
        "expected_body": seeded["expected_body"],
    }


def prepare_database(
    scenario: Scenario, args: argparse.Namespace, log_dir: Path, env: dict[str, str]
) -> Database:
    """DATABASE_URL as it is, or a database of the run's own: created, migrated and seeded."""
    mode = args.database or scenario.database
    if mode is None:
        url = os.environ.get("DATABASE_URL", "").strip()
        application_name = None
        if url and is_postgres(url):
            url, application_name = tag_database_url(url)
        return Database(url, "postgresql" if application_name else "sqlite", application_name)
    if mode == "sqlite":
        url, application_name, kind = prepare.sqlite_url(log_dir), None, "sqlite"
    else:
        _progress(f"recreating PostgreSQL database {args.postgres_database}")
        url = prepare.recreate_postgres(args.postgres_url, args.postgres_database)
        url, application_name = tag_database_url(url)
        kind = "postgresql"
    database = Database(url, kind, application_name, created=mode)
    env["DATABASE_URL"] = url
    log_path = log_dir / "prepare.log"
    started = time.monotonic()
    prepare.migrate(env, log_path)
    _progress(f"migrated the {kind} database in {time.monotonic() - started:.1f} s")
    if scenario.seed_login_users:
        database.seed = prepare.seed_login_users(env, log_path, args.users)
        _progress(
            f"seeded {database.seed['users']} users ({database.seed['hashes_computed']} "
            f"{database.seed['hasher']} hash) in {database.seed['seconds']} s"
        )
    if scenario.read_path is not None:
        database.read, database.seed = seed_reader(scenario, log_dir, env)
        _progress(
            f"seeded a reader with a session and an API token; {scenario.read_path} answers "
            f"{database.seed['expected_body_bytes']} bytes ({database.seed['categories']} "
            "categories)"
        )
    return database


def measure_hasher(
    args: argparse.Namespace, env: dict[str, str], log_dir: Path, repetition: int
) -> dict[str, Any]:
    result = prepare.measure_hasher(
        env, log_dir / "prepare.log", cpu=args.server_cpu, repeat=args.hasher_repeat
    )
    _progress(
        f"  rep {repetition} hasher {result['algorithm']} {result['parameters']}: check_password "
        f"median {result['check_wall_ms_median']:.1f} ms wall, "
        f"{result['check_cpu_ms_median']:.1f} ms CPU ({result['repeat']} on CPU {args.server_cpu})"
    )
    return {"repetition": repetition, "started_at": _now(), **result}


def describe_scenario(scenario: Scenario) -> dict[str, Any]:
    described: dict[str, Any] = {"name": scenario.name, "description": scenario.description}
    ready = {
        "method": "GET",
        "path": scenario.path,
        "expected_status": scenario.expected_status,
        "expected_content_type": scenario.expected_content_type,
        "expected_body": scenario.expected_body.decode(),
    }
    if scenario.read_path is not None:
        return {
            **described,
            "method": "GET",
            "path": scenario.read_path,
            "expected_status": 200,
            "expected_content_type": scenario.read_content_type,
            "expected_body": "data.expected_body: built by bench.seed --reader from the rows",
            "credentials": "by variant: a session cookie, an Authorization: Bearer token, none",
            "ready_check": ready,
        }
    if scenario.workload is None:
        return {**described, **ready}
    workload = WORKLOADS[scenario.workload]
    return {
        **described,
        "method": workload.method,
        "path": workload.path,
        "expected_status": workload.expected_status,
        "workload": {"name": workload.name, "description": workload.description},
        "ready_check": ready,
        "targets": [vars(target) for target in scenario.targets],
    }


def scenario_arguments(scenario: Scenario, args: argparse.Namespace) -> argparse.Namespace:
    """The arguments with the scenario's defaults where none was given."""
    defaults = {
        "duration": args.duration or scenario.default_duration,
        "warmup": scenario.default_warmup if args.warmup is None else args.warmup,
        "timeout": args.timeout or scenario.default_timeout,
        "users": args.users or scenario.default_users,
        "use_cases": args.use_cases or DEFAULT_USE_CASES,
    }
    return argparse.Namespace(**{**vars(args), **defaults})


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    args = scenario_arguments(scenario, args)
    if scenario.kind == "messaging":
        # Imported here: bench.messaging and bench.forum use this module's helpers.
        from bench import messaging

        return messaging.run_scenario(scenario, args)
    if scenario.kind == "forum":
        from bench import forum

        return forum.run_scenario(scenario, args)
    if scenario.kind == "library":
        from bench import library

        return library.run_scenario(scenario, args)
    if scenario.kind == "upload":
        from bench import upload

        return upload.run_scenario(scenario, args)
    if scenario.kind == "balanced":
        from bench import balanced

        return balanced.run_scenario(scenario, args)
    loads = loads_for(scenario, args)
    names = variant_names(scenario, args)
    duration = args.duration
    warmup = args.warmup
    scenario_args = args
    max_connections = max(load.connections for load in loads)
    open_files = raise_open_files_limit(FILES_PER_CONNECTION * max_connections + FILES_HEADROOM)

    started_at = _now()
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix=f"p2p-bench-{scenario.name}-"))
    _progress(
        f"{scenario.name}: {len(names)} variants x {len(loads)} loads x "
        f"{args.repetitions} repetitions x {duration} s; server logs in {log_dir}"
    )
    env = server_environment("", scenario.unset_env)
    env.pop("BENCH_RAW_ROUTE", None)
    env.update(scenario.server_env)
    unset = [name for name in scenario.unset_env if name in os.environ]
    if unset:
        _progress(f"unset for the servers: {', '.join(unset)}")
    runs: list[dict[str, Any]] = []
    hasher: list[dict[str, Any]] = []
    counter = None
    database = None
    open_model = None
    if scenario.workload is not None:
        open_model = OpenModel(
            cpu=args.loadgen_cpu,
            timeout_s=args.timeout,
            workload=scenario.workload,
            plan=RequestPlan(users=args.users, token=secrets.token_hex(3)),
            arrival=args.arrival,
        )
    try:
        database = prepare_database(scenario, args, log_dir, env)
        if database.url:
            env["DATABASE_URL"] = database.url
        if database.application_name is not None:
            counter = DatabaseConnectionCounter(database.url, database.application_name)
        for repetition in range(1, args.repetitions + 1):
            if scenario.measure_hasher:
                hasher.append(measure_hasher(args, env, log_dir, repetition))
            for name in names:
                variant = scenario.variant(name)
                variant_env = dict(env)
                if variant.settings_module:
                    variant_env["DJANGO_SETTINGS_MODULE"] = variant.settings_module
                cpu = (
                    f"{args.server_cpu},{args.loadgen_cpu}"
                    if variant.both_cpus
                    else args.server_cpu
                )
                with Server(variant, cpu=cpu, env=variant_env, log_dir=log_dir) as server:
                    runs += run_variant(
                        scenario,
                        server,
                        loads,
                        scenario_args,
                        repetition,
                        counter,
                        open_model,
                        database.read,
                    )
    except (ServerError, LoadError, prepare.DatabaseError) as error:
        _progress(f"benchmark aborted: {error}\nserver logs (and database) kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; server logs (and database) kept in {log_dir}")
        return 130
    finally:
        if counter is not None:
            counter.close()
    if args.keep_logs:
        _progress(f"server logs (and database) kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    if database.created == "postgres":
        prepare.drop_postgres(args.postgres_url, args.postgres_database)

    results = {
        "scenario": describe_scenario(scenario),
        "started_at": started_at,
        "finished_at": _now(),
        "wall_time_s": round(time.monotonic() - started, 1),
        "settings": {
            "repetitions": args.repetitions,
            "duration_s": duration,
            "warmup_s": warmup,
            "timeout_s": args.timeout,
            "server_cpu": args.server_cpu,
            "loadgen_cpu": args.loadgen_cpu,
            "open_files_limit": open_files,
            "order": "for each repetition, for each variant (fresh server): loads ascending",
            "loads": [load.as_dict() for load in loads],
            **(
                {
                    "arrival": args.arrival,
                    "max_connections": args.max_connections,
                    "requests": "a new connection per request, Connection: close, no cookies",
                }
                if open_model is not None
                else {}
            ),
        },
        "environment": {
            "database": database.kind,
            "database_created": database.created,
            "database_name": args.postgres_database if database.created == "postgres" else None,
            "database_application_name": database.application_name,
            "redis": bool(env.get("REDIS_URL", "").strip()),
            "unset_for_servers": unset,
            "set_for_servers": dict(scenario.server_env),
            "host": HOST,
        },
        "data": database.seed,
        "machine": {**describe_machine(), "load_average_at_start": load_at_start},
        "code": describe_code(),
        "variants": {
            name: {
                "description": scenario.variant(name).description,
                "command": scenario.variant(name).command("PORT"),
                "settings_module": scenario.variant(name).settings_module,
                "credential": scenario.variant(name).auth,
                "cpus": "server and load generator"
                if scenario.variant(name).both_cpus
                else "server",
            }
            for name in names
        },
        "hasher": hasher or None,
        "summary": summarize(scenario, runs, names, loads),
        "runs": runs,
    }
    # A run on a PostgreSQL database of its own does not overwrite the default (SQLite) one; a
    # scenario that is on PostgreSQL by default keeps its plain name.
    suffix = (
        "-postgres" if database.created == "postgres" and scenario.database != "postgres" else ""
    )
    output = args.output or RESULTS_DIR / f"{scenario.name}{suffix}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), flush=True)
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name in args.scenarios:
            scenario = SCENARIOS[name]
            if len(args.scenarios) > 1:
                print(f"{name}:")
            for variant in scenario.variants:
                default = " (default)" if variant.name in scenario.default_variants else ""
                print(f"{variant.name:<16} {variant.description}{default}")
        return 0
    check_machine(
        args,
        closed_loop=any(
            load.rate is None
            for name in args.scenarios
            for load in loads_for(SCENARIOS[name], args)
        ),
    )
    # The sampler thread and the generators share the load generator's CPU; the server has its
    # own.
    os.sched_setaffinity(0, {args.loadgen_cpu})
    signal.signal(signal.SIGTERM, _raise_interrupt)
    status = 0
    for index, name in enumerate(args.scenarios):
        if index:
            print(flush=True)
        status = run_scenario(SCENARIOS[name], args) or status
        if status == 130:
            break
    return status


if __name__ == "__main__":
    sys.exit(main())
