"""The `messaging` scenario: 100 users connected and messaging at once (see bench/README.md).

    REDIS_URL=redis://127.0.0.1:6379/5 python -m bench.run --scenario messaging
    python -m bench.messaging bench/results/messaging.json     # print a results file's table again

Run by bench/run.py. Before the repetitions: a database of the run's own (PostgreSQL by
default), migrated, and `python -m bench.seed --messaging-users N` (paired verified users, their
direct conversations, one session each). For each repetition, for each variant in turn (A B A
B ...): a fresh server pinned to the server CPU, checked on GET /health; the generator
(bench/msgload.py, pinned to the other CPU) opens every user's socket and sends one probe
message, checked field by field; warm-up at the lowest rate, not recorded; then each rate in
ascending order, after the server is idle, while bench/monitor.py samples the server's memory,
CPU and database connections. Results to bench/results/messaging.json, a table to stdout.
"""

import argparse
import contextlib
import json
import os
import queue
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench import prepare
from bench import run as runner
from bench.loadgen import LoadError, latency_summary
from bench.monitor import (
    CLOCK_TICKS,
    DatabaseConnectionCounter,
    Monitor,
    _stat_fields,
    wait_until_idle,
)
from bench.report import format_count, format_number, format_percent
from bench.scenarios import HOST, Load, Scenario
from bench.server import ROOT, Server, ServerError, _terminate_with_runner

RESULT_PREFIX = "BENCH_RESULT "
LATENCY_COLUMNS = ("p50", "p95", "p99", "max")
MONITOR_APPLICATION_NAME = "p2p-bench-monitor"


class Generator:
    """A socket load generator (`module`: bench/msgload.py, bench/forumload.py) for one server,
    pinned to `cpu`: commands on its stdin, one answer line each."""

    @classmethod
    def start(
        cls, module: str, server: Server, sessions: Path, args: argparse.Namespace, log_dir: Path
    ) -> "Generator":
        """The generator `module` for `server`'s variant (its mode), on the load generator's
        CPU, its output logged in `log_dir`."""
        return cls(
            cpu=args.loadgen_cpu,
            module=module,
            arguments=[
                f"--url={server.url('')}",
                f"--mode={server.variant.mode}",
                f"--sessions={sessions}",
                f"--max-connections={args.max_connections}",
            ],
            log_path=log_dir / f"generator-{server.variant.name}-{server.port}.log",
        )

    def __init__(self, *, cpu: int, module: str, arguments: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            ["taskset", "--cpu-list", str(cpu), sys.executable, "-m", module, *arguments],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            preexec_fn=_terminate_with_runner,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def call(self, command: dict[str, Any], *, wait_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise LoadError(f"the generator exited: {self.log_tail()}") from None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise LoadError(
                    f"the generator did not answer {command['cmd']} within {wait_s:.0f} s: "
                    f"{self.log_tail()}"
                ) from None
            if line is None:
                raise LoadError(
                    f"the generator exited ({self.process.wait()}) during {command['cmd']}: "
                    f"{self.log_tail()}"
                )
            if line.startswith(RESULT_PREFIX):
                return json.loads(line.removeprefix(RESULT_PREFIX))

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text) or "(no output)"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class ServiceCpu:
    """CPU used by the services behind the server during a run: Redis (its INFO counters, for
    the whole Redis server, which other clients may share) and the PostgreSQL backends of the
    server's connections (from /proc, when PostgreSQL runs on this machine)."""

    def __init__(
        self,
        redis_url: str | None,
        database_url: str,
        application_name: str | None,
        counter: DatabaseConnectionCounter | None,
    ) -> None:
        import redis

        # None: no Redis behind the server (its figure is left out).
        self.redis = redis.Redis.from_url(redis_url) if redis_url else None
        self.database = None
        self.application_name = application_name
        # The connection counter's backend carries the servers' application_name; not theirs.
        self.exclude = {counter.connection.info.backend_pid} if counter is not None else set()
        if application_name is not None:
            import psycopg

            # A name of its own, so the connection counter does not count this one.
            self.database = psycopg.connect(
                database_url, autocommit=True, application_name=MONITOR_APPLICATION_NAME
            )
        self.before: tuple[float | None, dict[int, float]] = (None, {})

    def _redis_seconds(self) -> float | None:
        if self.redis is None:
            return None
        try:
            info = self.redis.info("cpu")
        except Exception:  # noqa: BLE001 - any failure: the figure is left out
            return None
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def _backends(self) -> dict[int, float]:
        if self.database is None:
            return {}
        rows = self.database.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
            " AND pid <> pg_backend_pid()",
            (self.application_name,),
        ).fetchall()
        seconds = {}
        for (pid,) in rows:
            if pid in self.exclude:
                continue
            fields = _stat_fields(int(pid))
            if fields is not None:
                seconds[int(pid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return seconds

    def start(self) -> None:
        self.before = (self._redis_seconds(), self._backends())

    def stop(self) -> dict[str, Any]:
        redis_before, backends_before = self.before
        redis_after, backends_after = self._redis_seconds(), self._backends()
        visible = bool(backends_after) or self.database is None
        postgres = sum(
            seconds - backends_before.get(pid, 0.0) for pid, seconds in backends_after.items()
        )
        return {
            "redis_cpu_seconds": round(redis_after - redis_before, 3)
            if redis_after is not None and redis_before is not None
            else None,
            # Backends that closed during the run are missed (the pool keeps its connections).
            "postgres_backend_cpu_seconds": round(postgres, 3)
            if visible and self.database is not None
            else None,
            "postgres_backends": len(backends_after),
        }

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
        if self.database is not None:
            self.database.close()


def seed(env: dict[str, str], log_dir: Path, users: int) -> tuple[dict[str, Any], Path]:
    sessions = log_dir / "sessions.json"
    command = [
        sys.executable,
        "-m",
        "bench.seed",
        f"--messaging-users={users}",
        f"--sessions-file={sessions}",
    ]
    # prepare's helpers run the command with the servers' environment (SECRET_KEY signs the
    # sessions) and read its BENCH_RESULT line.
    output = prepare._run(command, env, log_dir / "prepare.log", "bench.seed")
    return prepare._result(output, "bench.seed"), sessions


def drain_limit(args: argparse.Namespace) -> float:
    """Seconds after a run's last due time at which the generator stops waiting for deliveries
    even while the server is still delivering: a backlog that needs longer than the run itself
    has failed anyway, and waiting for it would only make the benchmark long."""
    return float(max(args.duration, args.timeout))


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def run_command(
    rate: float, duration: float, args: argparse.Namespace, **extra: object
) -> dict[str, Any]:
    """The generator's `run` command: messages at `rate` for `duration` seconds."""
    return {
        "cmd": "run",
        "rate": rate,
        "duration": duration,
        "timeout": args.timeout,
        "drain_limit": drain_limit(args),
        "arrival": args.arrival,
        **extra,
    }


def measured_call(
    generator: Generator,
    server: Server,
    command: dict[str, Any],
    args: argparse.Namespace,
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
    *,
    series_interval: float | None = None,
) -> dict[str, Any]:
    """A generator's `run` once the server is idle, while its usage (and the services' CPU) is
    sampled: the run's record, without its place (repetition, variant, load)."""
    settle_s = wait_until_idle(server.pid, timeout=20.0)
    monitor = Monitor(
        server.pid,
        server_cpu=args.server_cpu,
        loadgen_cpu=args.loadgen_cpu,
        database=counter,
        series_interval=series_interval,
    )
    services.start()
    monitor.start()
    started_at = runner._now()
    try:
        result = generator.call(
            command, wait_s=command["duration"] + drain_limit(args) + 60 + args.users / 20
        )
    finally:
        usage = monitor.stop()
        service_cpu = services.stop()
    if server.process is not None and server.process.poll() is not None:
        raise ServerError(f"{server.variant.name} died during the run:\n{server.log_tail()}")
    return {
        "started_at": started_at,
        "server_command": server.command,
        "settle_s": round(settle_s, 2),
        "result": result,
        "server": usage.as_dict(),
        "services": service_cpu,
    }


def latencies_and_losses(run: dict[str, Any], latency: dict[str, float | None]) -> str:
    """The end of a run's line of progress: p50, p99 and max of `latency`, what was lost,
    duplicated and failed, and the server's peak RSS."""
    result = run["result"]
    return (
        "  ".join(f"{key} {_ms(latency[key]):>10}" for key in ("p50", "p99", "max"))
        + f"  lost {result['lost']}  dup {result['duplicated']}  errors "
        f"{sum(result['errors'].values())}  rss {run['server']['peak_rss_total_kb'] / 1024:6.1f} MB"
    )


def checked_probe(
    generator: Generator, server: Server, args: argparse.Namespace, what: str
) -> dict[str, Any]:
    """The generator's probe (one `what`, checked exactly); ServerError when it was wrong."""
    probe = generator.call({"cmd": "probe", "timeout": args.timeout}, wait_s=120)
    if probe["problem"] is not None:
        raise ServerError(
            f"{server.variant.name}: the probe {what} was not delivered as expected: "
            f"{probe['problem']}\nframes: {json.dumps(probe.get('frames_seen'))[:2000]}\n"
            f"{server.log_tail()}"
        )
    return probe


def warm_up_and_load(
    generator: Generator,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
    *,
    warmup_keys: tuple[str, ...],
    on_run: Callable[[dict[str, Any]], None],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The warm-up at the lowest rate (`warmup_keys` of its answer kept), then a measured run at
    every rate, each passed to `on_run` (to add its figures and say how it went). Returns (the
    warm-up, the runs)."""
    warmup = None
    if args.warmup:
        answer = generator.call(
            run_command(loads[0].rate or 1.0, args.warmup, args),
            wait_s=args.warmup + drain_limit(args) + 60,
        )
        warmup = {key: answer[key] for key in warmup_keys}
    runs = []
    for load in loads:
        assert load.rate is not None
        record = measured_call(
            generator, server, run_command(load.rate, args.duration, args), args, counter, services
        )
        run = {
            "repetition": repetition,
            "variant": server.variant.name,
            "load": load.as_dict(),
            **record,
        }
        on_run(run)
        runs.append(run)
    return warmup, runs


def run_variant(
    scenario: Scenario,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    sessions: Path,
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
    log_dir: Path,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One server start: connect, probe, warm up, every load. Returns (the start, the runs)."""
    variant = server.variant
    assert variant.mode is not None
    start_s = server.wait_ready(scenario)
    generator = Generator.start("bench.msgload", server, sessions, args, log_dir)
    try:
        connected = generator.call({"cmd": "connect", "timeout": args.timeout}, wait_s=300)
        if connected["ready"] != args.users:
            raise ServerError(
                f"{variant.name}: {connected['ready']} of {args.users} sockets ready, errors "
                f"{connected['errors']}\n{server.log_tail()}"
            )
        probe = checked_probe(generator, server, args, "message")
        _progress(
            f"  rep {repetition} {variant.name:<16} {connected['ready']} sockets ready in "
            f"{connected['seconds']:.1f} s (handshake p99 {_ms(connected['handshake_ms']['p99'])}"
            f", ready p99 {_ms(connected['ready_ms']['p99'])}); probe delivered in "
            f"{probe['latencies_ms'][0]:.1f} ms"
        )

        def on_run(run: dict[str, Any]) -> None:
            result = run["result"]
            summary = latency_summary(result["latencies_ms"])
            result["latency_ms"] = summary
            label = f"rate {run['load']['rate']:g}/s"
            _progress(
                f"  rep {repetition} {variant.name:<16} {label:<13} "
                f"{result['delivered']:>5}/{result['scheduled']:<5} delivered  "
                + latencies_and_losses(run, summary)
            )

        warmup, runs = warm_up_and_load(
            generator,
            server,
            loads,
            args,
            repetition,
            counter,
            services,
            warmup_keys=("rate", "scheduled", "delivered", "lost", "duplicated", "errors"),
            on_run=on_run,
        )
        closed = generator.call({"cmd": "close"}, wait_s=60)
    finally:
        generator.stop()
    start = {
        "repetition": repetition,
        "variant": variant.name,
        "server_command": server.command,
        "server_start_s": round(start_s, 2),
        "connect": connected,
        "probe": {
            "latency_ms": probe["latencies_ms"][0],
            "frames": probe.get("frames_seen"),
        },
        "warmup": warmup,
        "close": closed,
        "token": connected.get("token"),
    }
    return start, runs


def late_frames(
    starts: list[dict[str, Any]], runs: list[dict[str, Any]], run: dict[str, Any]
) -> int:
    """Frames of `run` that arrived after it ended: counted by the generator in its next answer
    (the next run of the same server, or its close)."""
    number = str(run["result"]["run"])
    token = run["result"]["token"]
    answers = [
        other["result"]
        for other in runs
        if other["result"]["token"] == token and other["result"]["run"] > run["result"]["run"]
    ]
    answers += [start["close"] for start in starts if start["token"] == token]
    return sum(answer.get("late_frames_of_earlier_runs", {}).get(number, 0) for answer in answers)


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def per_message(seconds: float | None, messages: int) -> float | None:
    return seconds * 1000 / messages if seconds is not None and messages else None


def _run_metrics(run: dict[str, Any]) -> dict[str, float | None]:
    """The per-run figures that medians and ratios are taken of."""
    result = run["result"]
    scheduled = result["scheduled"]
    services = run["services"]
    return {
        "p50": result["latency_ms"]["p50"],
        "p99": result["latency_ms"]["p99"],
        "cpu_ms_per_message": per_message(run["server"]["cpu_seconds"], scheduled),
        "redis_cpu_ms_per_message": per_message(services["redis_cpu_seconds"], scheduled),
        "postgres_cpu_ms_per_message": per_message(
            services["postgres_backend_cpu_seconds"], scheduled
        ),
    }


RATIO_METRICS = ("p50", "p99", "cpu_ms_per_message")


def summarize(
    scenario: Scenario,
    starts: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    variants: list[str],
    loads: list[Load],
) -> dict[str, Any]:
    connections = {}
    for name in variants:
        these = [start["connect"] for start in starts if start["variant"] == name]
        if not these:
            continue
        errors: Counter[str] = Counter()
        for connect in these:
            errors.update(connect["errors"])
        connections[name] = {
            "server_starts": len(these),
            "users": these[0]["users"],
            "ready_min": min(connect["ready"] for connect in these),
            "connect_seconds": median(connect["seconds"] for connect in these),
            **{
                f"{kind}_{key}": median(connect[f"{kind}_ms"][key] for connect in these)
                for kind in ("handshake", "ready")
                for key in ("p50", "p99", "max")
            },
            "errors_total": dict(errors),
        }
    blocks = []
    for load in loads:
        load_runs = [run for run in runs if run["load"] == load.as_dict()]
        by_variant: dict[str, dict[str, Any]] = {}
        for name in variants:
            these = [run for run in load_runs if run["variant"] == name]
            if not these:
                continue
            results = [run["result"] for run in these]
            metrics = [_run_metrics(run) for run in these]
            errors = Counter()
            for result in results:
                errors.update(result["errors"])

            def total(key: str, results: list[dict[str, Any]] = results) -> int:
                return sum(result[key] for result in results)

            by_variant[name] = {
                "repetitions": len(these),
                "scheduled_total": total("scheduled"),
                "delivered_total": total("delivered"),
                "lost_total": total("lost"),
                "lost_answered_total": total("lost_answered"),
                "stops": dict(Counter(result["stop"] for result in results)),
                # Late frames of these runs, reported by the next command of the same generator.
                "late_frames_total": sum(late_frames(starts, runs, run) for run in these),
                "refused_total": total("refused"),
                "duplicated_total": total("duplicated"),
                "ack_missing_total": total("ack_missing"),
                "sender_copies_missing_total": total("sender_copies_missing"),
                "sender_copies_duplicated_total": total("sender_copies_duplicated"),
                "errors_total": dict(sorted(errors.items())),
                "delivered_per_s": median(result["delivered_per_s"] for result in results),
                "latency_ms": {
                    key: median(result["latency_ms"][key] for result in results)
                    for key in results[0]["latency_ms"]
                },
                "latency_ms_pooled": latency_summary(
                    [value for result in results for value in result["latencies_ms"]]
                ),
                "ack_latency_ms": {
                    key: median(result["ack_latency_ms"][key] for result in results)
                    for key in ("p50", "p99", "max")
                },
                "sender_copy_latency_ms": {
                    key: median(result["sender_copy_latency_ms"][key] for result in results)
                    for key in ("p50", "p99", "max")
                },
                **{
                    key: median(metric[key] for metric in metrics)
                    for key in (
                        "cpu_ms_per_message",
                        "redis_cpu_ms_per_message",
                        "postgres_cpu_ms_per_message",
                    )
                },
                **usage_summary(these),
            }
        ratios = paired_ratios(scenario, load_runs, set(by_variant), _run_metrics, RATIO_METRICS)
        blocks.append({"load": load.as_dict(), "variants": by_variant, "ratios": ratios})
    return {"connections": connections, "loads": blocks}


def usage_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server and the generator used in `runs` (one cell of the table): medians of
    the peaks and shares, the worst send lag, the most requests open, listen-queue overflows."""
    results = [run["result"] for run in runs]
    servers = [run["server"] for run in runs]
    return {
        "peak_rss_total_kb": median(server["peak_rss_total_kb"] for server in servers),
        "peak_db_connections": median(server["peak_db_connections"] for server in servers),
        "server_core_other_share": median(server["server_core_other_share"] for server in servers),
        "loadgen_core_busy_share": median(server["loadgen_core_busy_share"] for server in servers),
        "generator_cpu_share": median(result["cpu_share"] for result in results),
        # Share of the generator's CPU used by anything but the generator (the runner's sampler
        # is a few percent of it).
        "loadgen_core_other_share": median(
            max(0.0, server["loadgen_core_busy_share"] - (result["cpu_share"] or 0.0))
            for server, result in zip(servers, results, strict=True)
        ),
        "max_send_lag_ms": max(result["max_send_lag_ms"] for result in results),
        "peak_open_requests": max(result["peak_open_requests"] for result in results),
        "listen_overflows_total": sum(
            server["tcp"].get("listen_overflows", 0) for server in servers
        ),
    }


def paired_ratios(
    scenario: Scenario,
    load_runs: list[dict[str, Any]],
    present: set[str],
    metrics: Callable[[dict[str, Any]], dict[str, float | None]],
    keys: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The scenario's ratios of `metrics(run)[key]` for one load: numerator over denominator
    within each repetition, then their median (the machine's drift between repetitions cancels
    out). A ratio is skipped unless both variants are `present`."""
    ratios = []
    for ratio in scenario.ratios:
        if ratio.numerator not in present or ratio.denominator not in present:
            continue
        per_repetition: dict[str, list[float | None]] = {key: [] for key in keys}
        for repetition in sorted({run["repetition"] for run in load_runs}):
            pair = {
                run["variant"]: metrics(run) for run in load_runs if run["repetition"] == repetition
            }
            if ratio.numerator not in pair or ratio.denominator not in pair:
                continue
            for key in keys:
                top, bottom = pair[ratio.numerator][key], pair[ratio.denominator][key]
                per_repetition[key].append(
                    round(top / bottom, 3) if top is not None and bottom else None
                )
        ratios.append(
            {
                "label": ratio.label,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "median": {key: rounded(median(values)) for key, values in per_repetition.items()},
                "per_repetition": per_repetition,
            }
        )
    return ratios


def judge(scenario: Scenario, summary: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for target in scenario.targets:
        for block in summary["loads"]:
            row = block["variants"].get(target.variant)
            if block["load"]["rate"] != target.rate or row is None:
                continue
            value = row["latency_ms"][target.percentile]
            errors = sum(row["errors_total"].values())
            met = (
                value is not None
                and value < target.limit_ms
                and row["lost_total"] == 0
                and row["duplicated_total"] == 0
                and errors == 0
            )
            verdicts.append(
                {
                    **vars(target),
                    "value_ms": value,
                    "pooled_ms": row["latency_ms_pooled"][target.percentile],
                    "lost": row["lost_total"],
                    "duplicated": row["duplicated_total"],
                    "errors": errors,
                    "met": met,
                }
            )
    return verdicts


@dataclass(frozen=True)
class SocketScenario:
    """What a scenario of sockets (kind "messaging" or "forum") adds to the common run: the
    runner's flow (database, seed, a fresh server per variant and repetition, results) is
    `run_socket_scenario`'s."""

    # A problem with the arguments, or None.
    check: Callable[[Scenario, argparse.Namespace], str | None]
    open_files: Callable[[argparse.Namespace], int]
    # (what was seeded, the sessions file, a line of progress)
    seed: Callable[[dict[str, str], Path, argparse.Namespace], tuple[dict[str, Any], Path, str]]
    # (scenario, server, loads, args, repetition, sessions, counter, services, log_dir) ->
    # (the server start, its runs)
    run_variant: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]]
    summarize: Callable[..., dict[str, Any]]
    # (scenario, summary, settings) -> verdicts
    judge: Callable[[Scenario, dict[str, Any], dict[str, Any]], list[dict[str, Any]]]
    # The scenario's own settings, recorded in the results.
    settings: Callable[[argparse.Namespace, list[Load]], dict[str, Any]]
    table: Callable[[dict[str, Any]], str]


def run_socket_scenario(scenario: Scenario, args: argparse.Namespace, spec: SocketScenario) -> int:
    """`args` has the scenario's defaults applied (bench/run.py)."""
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        _progress(
            f"{scenario.name} needs REDIS_URL (the channel layer the sockets share), e.g. "
            "REDIS_URL=redis://127.0.0.1:6379/5"
        )
        return 1
    problem = spec.check(scenario, args)
    if problem is not None:
        _progress(problem)
        return 1
    loads = runner.loads_for(scenario, args)
    names = runner.variant_names(scenario, args)
    open_files = runner.raise_open_files_limit(spec.open_files(args))
    started_at = runner._now()
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix=f"p2p-bench-{scenario.name}-"))
    _progress(
        f"{scenario.name}: {len(names)} variants x {len(loads)} rates x {args.repetitions} "
        f"repetitions x {args.duration} s, {args.users} users; logs in {log_dir}"
    )
    env = runner.server_environment("", scenario.unset_env)
    env.update(scenario.server_env)
    # The run's own channel-layer keys: nothing left by another run or user of this Redis
    # database reaches its groups.
    token = secrets.token_hex(3)
    env["CHANNEL_LAYER_PREFIX"] = f"p2p-bench-{token}:asgi"
    starts: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    counter = None
    services = None
    database = None
    try:
        database = runner.prepare_database(scenario, args, log_dir, env)
        if database.url:
            env["DATABASE_URL"] = database.url
        seeded = time.monotonic()
        database.seed, sessions, seeded_what = spec.seed(env, log_dir, args)
        _progress(f"seeded {seeded_what} in {time.monotonic() - seeded:.1f} s")
        if database.application_name is not None:
            counter = DatabaseConnectionCounter(database.url, database.application_name)
        services = ServiceCpu(redis_url, database.url, database.application_name, counter)
        for repetition in range(1, args.repetitions + 1):
            for name in names:
                variant = scenario.variant(name)
                variant_env = dict(env)
                if variant.settings_module:
                    variant_env["DJANGO_SETTINGS_MODULE"] = variant.settings_module
                with Server(
                    variant, cpu=args.server_cpu, env=variant_env, log_dir=log_dir
                ) as server:
                    start, variant_runs = spec.run_variant(
                        scenario,
                        server,
                        loads,
                        args,
                        repetition,
                        sessions,
                        counter,
                        services,
                        log_dir,
                    )
                starts.append(start)
                runs += variant_runs
    except (ServerError, LoadError, prepare.DatabaseError) as error:
        _progress(f"benchmark aborted: {error}\nlogs (and database) kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; logs (and database) kept in {log_dir}")
        return 130
    finally:
        if counter is not None:
            counter.close()
        if services is not None:
            services.close()
    if args.keep_logs:
        _progress(f"logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    if database.created == "postgres":
        prepare.drop_postgres(args.postgres_url, args.postgres_database)

    settings = {
        "repetitions": args.repetitions,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "timeout_s": args.timeout,
        "server_cpu": args.server_cpu,
        "loadgen_cpu": args.loadgen_cpu,
        "open_files_limit": open_files,
        **spec.settings(args, loads),
    }
    summary = spec.summarize(scenario, starts, runs, names, loads)
    results = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "kind": scenario.kind,
            "ready_check": {
                "method": "GET",
                "path": scenario.path,
                "expected_status": scenario.expected_status,
                "expected_body": scenario.expected_body.decode(),
            },
            "targets": [vars(target) for target in scenario.targets],
        },
        "started_at": started_at,
        "finished_at": runner._now(),
        "wall_time_s": round(time.monotonic() - started, 1),
        "settings": settings,
        "environment": {
            "database": database.kind,
            "database_created": database.created,
            "database_name": args.postgres_database if database.created == "postgres" else None,
            "database_application_name": database.application_name,
            "redis": True,
            "channel_layer_prefix": env["CHANNEL_LAYER_PREFIX"],
            "host": HOST,
        },
        "data": database.seed,
        "machine": {**runner.describe_machine(), "load_average_at_start": load_at_start},
        "code": runner.describe_code(),
        "variants": {
            name: {
                "description": scenario.variant(name).description,
                "command": scenario.variant(name).command("PORT"),
                "settings_module": scenario.variant(name).settings_module,
                "mode": scenario.variant(name).mode,
            }
            for name in names
        },
        "summary": summary,
        "targets": spec.judge(scenario, summary, settings),
        "server_starts": starts,
        "runs": runs,
    }
    suffix = "" if database.created == scenario.database else f"-{database.kind}"
    output = args.output or runner.RESULTS_DIR / f"{scenario.name}{suffix}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(spec.table(results), flush=True)
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


def check_arguments(scenario: Scenario, args: argparse.Namespace) -> str | None:
    if args.users % 2:
        return f"{scenario.name} pairs its users: --users must be even"
    return None


def seed_users(
    env: dict[str, str], log_dir: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], Path, str]:
    data, sessions = seed(env, log_dir, args.users)
    return (
        data,
        sessions,
        f"{data['users']} users, {data['conversations']} conversations and "
        f"{data['sessions']} sessions",
    )


def messaging_settings(args: argparse.Namespace, loads: list[Load]) -> dict[str, Any]:
    return {
        "drain_limit_s": drain_limit(args),
        "users": args.users,
        "pairs": args.users // 2,
        "rates": [load.rate for load in loads],
        "arrival": args.arrival,
        "max_connections": args.max_connections,
        "order": "for each repetition, for each variant (fresh server, sockets opened once): "
        "probe, warm-up, rates ascending",
        "messages": "message i of a run: pair i mod P, alternating direction; "
        "client_msg_id <token>.<run>.<i>.<due us>; latency from the due time to the "
        "recipient's new_message",
    }


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    """`args` has the scenario's defaults applied (bench/run.py)."""
    return run_socket_scenario(
        scenario,
        args,
        SocketScenario(
            check=check_arguments,
            open_files=lambda args: 4 * args.users + args.max_connections + 1024,
            seed=seed_users,
            run_variant=run_variant,
            summarize=summarize,
            judge=lambda scenario, summary, settings: judge(scenario, summary),
            settings=messaging_settings,
            table=table,
        ),
    )


LEGEND = """\
Open model: messages sent at a fixed total rate through the 50 pairs (each user sends and
receives alike); latency from the scheduled send time to the recipient's new_message frame.
Each cell is the median over the repetitions; sent, lost, dup and err are summed over them.
  sent        messages due (rate x duration, per repetition)   deliv/s  deliveries per second
  lost        not delivered to its recipient when the generator stopped waiting (every frame in,
              or none for the timeout while the server was quiet, or the drain limit)
  dup         extra new_message frames of one message on its recipient's socket
  err         errors of every kind (listed under the row)
  ack p99     to the sender's answer (`sent` frame, or the POST's 201)
  cpu ms/msg  server CPU per message   pg ms/msg  CPU of the server's PostgreSQL backends
  redis ms/msg  CPU of the whole Redis server per message (shared with its other clients)
  rss MB      peak RSS of the server   db  peak database connections
  other%      share of the server's CPU used by anything else (noise)
  gen% genoth%  the generator's CPU use, and other use of its CPU (noise)
  lag ms      the generator's worst delay in sending after a due time (large: the generator's
              CPU was busy, the run was not the rate it claims, and the delay is in the latency)"""


def _columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    latency = row["latency_ms"]
    return [
        ("sent", 5, format_count(row["scheduled_total"], width=5)),
        ("deliv/s", 7, format_number(row["delivered_per_s"], width=7)),
        *((f"{key} ms", 8, format_number(latency[key], width=8)) for key in LATENCY_COLUMNS),
        ("lost", 4, format_count(row["lost_total"], width=4)),
        ("dup", 3, format_count(row["duplicated_total"], width=3)),
        ("err", 4, format_count(sum(row["errors_total"].values()), width=4)),
        ("ack p99", 7, format_number(row["ack_latency_ms"]["p99"], width=7)),
        ("cpu ms/msg", 10, format_number(row["cpu_ms_per_message"], width=10)),
        ("pg ms/msg", 9, format_number(row["postgres_cpu_ms_per_message"], width=9)),
        ("redis ms/msg", 12, format_number(row["redis_cpu_ms_per_message"], width=12)),
        *usage_columns(row),
    ]


def usage_columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    """The table's columns of `usage_summary`: rss MB, db, other%, gen%, genoth%, lag ms."""
    rss = row["peak_rss_total_kb"]
    return [
        ("rss MB", 6, format_number(rss / 1024 if rss is not None else None, width=6)),
        ("db", 3, format_count(row["peak_db_connections"], width=3)),
        ("other%", 6, format_percent(row["server_core_other_share"], width=6)),
        ("gen%", 4, format_percent(row["generator_cpu_share"], width=4)),
        ("genoth%", 7, format_percent(row["loadgen_core_other_share"], width=7)),
        ("lag ms", 6, format_number(row["max_send_lag_ms"], width=6)),
    ]


def _capacity(results: dict[str, Any]) -> list[str]:
    """Server CPU per message, from the runs that lost nothing (in a run that fell behind, part
    of the work is done after the run, so CPU per message due understates it)."""
    lines = []
    for name in results["variants"]:
        these = [run for run in results["runs"] if run["variant"] == name]
        complete = [run for run in these if run["result"]["lost"] == 0]
        costs = [_run_metrics(run)["cpu_ms_per_message"] for run in complete or these]
        cost = median(costs)
        if cost:
            lines.append(
                f"  {name:<16} {cost:6.1f} ms per message: at most ~{1000 / cost:.0f} messages/s "
                "on one core"
            )
    return lines


Columns = Callable[[dict[str, Any]], list[tuple[str, int, str]]]


def variant_rows(
    block: dict[str, Any], columns: Columns
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """(row, lines) of each variant of a load's block: its heading line before the first row, then
    the row's cells (`columns(row)`: heading, width, cell)."""
    for index, (name, row) in enumerate(block["variants"].items()):
        cells = columns(row)
        lines = []
        if index == 0:
            lines.append(
                f"{'variant':<16} " + " ".join(f"{head:>{width}}" for head, width, _ in cells)
            )
        lines.append(f"{name:<16} " + " ".join(cell for _, _, cell in cells))
        yield row, lines


def ratio_lines(ratios: list[dict[str, Any]], metrics: tuple[tuple[str, str], ...]) -> list[str]:
    """The ratios of a load's block, each (key, label) of `metrics` as the median and the
    per-repetition values."""
    if not ratios:
        return []
    lines = ["ratios (median of the per-repetition ratios; per repetition in parentheses):"]
    for ratio in ratios:
        cells = []
        for key, label in metrics:
            value = ratio["median"][key]
            spread = ", ".join(
                "-" if item is None else f"{item:.2f}" for item in ratio["per_repetition"][key]
            )
            cells.append(f"{label} {'-' if value is None else f'{value:.2f}x'} ({spread})")
        lines.append(f"  {ratio['label']:<36} " + "   ".join(cells))
    return lines


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    environment = results["environment"]
    summary = results["summary"]
    database = environment["database"]
    if environment.get("database_created"):
        database += " (created for the run, seeded)"
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['repetitions']} repetitions x {settings['duration_s']} s per rate, variants "
        f"interleaved; server on CPU {settings['server_cpu']}, generator on CPU "
        f"{settings['loadgen_cpu']}; database {database}; Redis channel layer",
    ]
    data = results.get("data")
    if data:
        lines.append(
            f"data: {data['users']} users ({data['emails']}), {data['conversations']} direct "
            f"conversations, {data['sessions']} sessions"
        )
    lines += [LEGEND, "", "sockets (per server start; medians over the starts):"]
    lines.append(
        f"{'variant':<16} {'ready':>7} {'secs':>5} {'hs p50':>7} {'hs p99':>7} {'hs max':>7} "
        f"{'rdy p99':>7} {'rdy max':>7}  errors"
    )
    for name, row in summary["connections"].items():
        errors = ", ".join(f"{kind} x{count}" for kind, count in row["errors_total"].items())
        lines.append(
            f"{name:<16} {row['ready_min']:>3}/{row['users']:<3} "
            f"{format_number(row['connect_seconds'], width=5)} "
            + " ".join(
                format_number(row[key], width=7)
                for key in (
                    "handshake_p50",
                    "handshake_p99",
                    "handshake_max",
                    "ready_p99",
                    "ready_max",
                )
            )
            + f"  {errors or 'none'}"
        )
    lines.append(
        "  (hs: the WebSocket handshake; rdy: until the `ready` frame; ms; "
        "10 sockets opening at a time)"
    )
    timeout = settings["timeout_s"]
    for block in summary["loads"]:
        rate = block["load"]["rate"]
        lines += [
            "",
            f"rate {rate:g} messages/s for {settings['duration_s']} s ({settings['arrival']} "
            f"arrivals, {settings['pairs']} pairs; lost: none delivered for "
            f"{settings['timeout_s']} s, or {settings['drain_limit_s']:g} s after the last send)",
        ]
        for row, columns in variant_rows(block, _columns):
            lines += columns
            pooled = row["latency_ms_pooled"]
            errors = ", ".join(f"{kind} x{count}" for kind, count in row["errors_total"].items())
            extra = []
            if row["sender_copies_missing_total"] or row["sender_copies_duplicated_total"]:
                extra.append(
                    f"sender copies missing {row['sender_copies_missing_total']}, duplicated "
                    f"{row['sender_copies_duplicated_total']}"
                )
            if row["lost_total"]:
                stops = {
                    "quiet": f"when nothing had come for {timeout} s (what is missing is gone)",
                    "limit": "at the drain limit, a backlog still being delivered",
                    "complete": "with every frame in",
                }
                ended = "; ".join(
                    f"{count} ended {stops.get(stop, stop)}" for stop, count in row["stops"].items()
                )
                extra.append(
                    f"of the {row['lost_total']} lost, {row['lost_answered_total']} were answered "
                    "to their sender (stored) but not delivered, the others not answered either; "
                    f"of the {row['repetitions']} runs, {ended}"
                )
            if row["late_frames_total"]:
                extra.append(f"{row['late_frames_total']} frames arrived after their run had ended")
            if row["ack_missing_total"]:
                extra.append(f"answers missing {row['ack_missing_total']}")
            lines.append(
                f"{'':<16} all {row['delivered_total']} deliveries together: "
                + " ".join(
                    f"{key} {format_number(pooled[key], width=1)}" for key in LATENCY_COLUMNS
                )
                + f" ms; errors: {errors or 'none'}"
                + ("; " + "; ".join(extra) if extra else "")
            )
        lines += ratio_lines(
            block["ratios"], (("p50", "p50"), ("p99", "p99"), ("cpu_ms_per_message", "cpu"))
        )
    capacity = _capacity(results)
    if capacity:
        lines += [
            "",
            "server CPU per message (median of the runs that lost nothing) and what one core "
            "can keep up with:",
        ]
        lines += capacity
    verdicts = results.get("targets") or []
    if verdicts:
        lines.append("")
    for verdict in verdicts:
        lines.append(
            f"target {verdict['label']}, 0 lost, 0 duplicated: {verdict['variant']} "
            f"{verdict['percentile']} {format_number(verdict['value_ms'], width=1)} ms "
            "(median of the "
            f"runs; all deliveries together {format_number(verdict['pooled_ms'], width=1)} ms), "
            f"lost {verdict['lost']}, duplicated {verdict['duplicated']}, errors "
            f"{verdict['errors']}: " + ("met" if verdict["met"] else "NOT met")
        )
    return "\n".join(lines)


def print_tables(argv: list[str] | None, table: Callable[[dict[str, Any]], str]) -> int:
    """Print the table of each results file named."""
    for name in argv if argv is not None else sys.argv[1:]:
        with open(name) as results:
            print(table(json.load(results)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return print_tables(argv, table)


if __name__ == "__main__":
    sys.exit(main())
