"""Load generators. Each takes a URL, a Load and a duration and returns a LoadResult.

`WrkClosedLoop` drives a fixed number of connections with wrk, each sending its next request
as soon as the previous one is answered: right for "how much does it serve at N concurrent
clients", wrong for tail latency at a given arrival rate. `OpenModel` sends requests at a fixed
arrival rate (bench/openloop.py, latency from each request's scheduled send time) for
`Load(rate=...)`; `generator_for()` picks one or the other.
"""

import json
import math
import resource
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.scenarios import Load
from bench.workloads import RequestPlan

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
RESULT_PREFIX = "BENCH_RESULT "
ERROR_KINDS = ("connect", "read", "write", "timeout", "non_2xx")


class LoadError(RuntimeError):
    pass


@dataclass
class LoadResult:
    requests: int
    # Connections that got no response in the whole run, at least (fewer responses than
    # connections): their clients waited longer than the run, which no latency figure shows.
    no_response_connections: int
    duration_s: float
    requests_per_s: float
    # Keys: p50, p90, p95, p99, p99.9, max, mean; None when no response arrived.
    latency_ms: dict[str, float | None]
    # Keys: ERROR_KINDS. "timeout" counts responses slower than the generator's timeout.
    errors: dict[str, int]
    generator: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadGenerator(Protocol):
    def run(self, url: str, load: Load, duration_s: int) -> LoadResult: ...


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class WrkClosedLoop:
    """wrk pinned to `cpu`, one thread: on a core of its own a single wrk thread sends several
    times what one server core can answer here, and a second thread would only share the core."""

    def __init__(
        self,
        *,
        cpu: int | str,
        timeout_s: int,
        threads: int = 1,
        headers: tuple[str, ...] = (),
    ) -> None:
        # A CPU, or a taskset CPU list ("0,1").
        self.cpu = cpu
        # "Name: value" lines sent with every request (e.g. a session cookie).
        self.headers = headers
        # wrk leaves latencies above its timeout out of the histogram and counts them as
        # timeouts; a long timeout keeps the real tail in p99 and max.
        self.timeout_s = timeout_s
        self.threads = threads

    def run(self, url: str, load: Load, duration_s: int) -> LoadResult:
        if load.rate is not None:
            raise LoadError("wrk runs a closed loop; a rate needs an open-model generator")
        threads = min(self.threads, load.connections)
        command = [
            "taskset",
            "--cpu-list",
            str(self.cpu),
            "wrk",
            f"--threads={threads}",
            f"--connections={load.connections}",
            f"--duration={duration_s}s",
            f"--timeout={self.timeout_s}s",
            f"--script={WRK_SCRIPT}",
            *(f"--header={header}" for header in self.headers),
            url,
        ]
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration_s + self.timeout_s + 30,
            check=False,
        )
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = (usage_after.ru_utime - usage_before.ru_utime) + (
            usage_after.ru_stime - usage_before.ru_stime
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if completed.returncode != 0 or not lines:
            raise LoadError(
                f"wrk failed ({completed.returncode}): {completed.stderr.strip()}\n"
                f"{completed.stdout.strip()}"
            )
        report = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
        duration = report["duration_us"] / 1e6
        latency = report["latency_us"]
        errors = report["errors"]
        requests = report["requests"]
        return LoadResult(
            requests=requests,
            no_response_connections=max(0, load.connections - requests),
            duration_s=round(duration, 3),
            requests_per_s=round(requests / duration, 1) if duration else 0.0,
            latency_ms={
                key: round(latency[key] / 1000, 3) if requests else None
                for key in ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
            },
            errors={
                "connect": errors["connect"],
                "read": errors["read"],
                "write": errors["write"],
                "timeout": errors["timeout"],
                "non_2xx": report["non_2xx"],
            },
            generator={
                "name": "wrk",
                "threads": threads,
                "connections": load.connections,
                "timeout_s": self.timeout_s,
                "cpu": self.cpu,
                "cpu_seconds": round(cpu_seconds, 3),
                "cpu_share": round(cpu_seconds / duration, 3) if duration else None,
            },
        )


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list (share in 0..100)."""
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p95, p99, p99.9, max and mean, as wrk reports them; None without samples."""
    ordered = sorted(latencies_ms)
    keys = ("p50", "p90", "p95", "p99", "p99.9")
    if not ordered:
        return dict.fromkeys((*keys, "max", "mean"))
    summary: dict[str, float | None] = {
        key: round(percentile(ordered, float(key[1:])), 3) for key in keys
    }
    summary["max"] = round(ordered[-1], 3)
    summary["mean"] = round(sum(ordered) / len(ordered), 3)
    return summary


@dataclass
class OpenModel:
    """bench/openloop.py pinned to `cpu`: a new connection per request at `load.rate` requests/s,
    at most `load.connections` open at once, each request built by `workload` (bench/workloads.py)
    from its number. `first` is the number of the next request; it moves on after each run, so
    logins cycle through the seeded users and sign-ups never repeat a domain."""

    cpu: int
    timeout_s: int
    workload: str
    plan: RequestPlan
    arrival: str = "uniform"
    first: int = 0
    # A mix of kinds of requests (bench/openloop.py's --requests-file) instead of `workload`;
    # the result's generator then has `kinds`.
    requests_file: Path | None = None

    def run(self, url: str, load: Load, duration_s: int) -> LoadResult:
        if load.rate is None:
            raise LoadError("the open-model generator needs a rate")
        command = [
            "taskset",
            "--cpu-list",
            str(self.cpu),
            sys.executable,
            "-m",
            "bench.openloop",
            f"--url={url}",
            *(
                [f"--requests-file={self.requests_file}"]
                if self.requests_file is not None
                else [f"--workload={self.workload}"]
            ),
            f"--rate={load.rate:g}",
            f"--duration={duration_s}",
            f"--timeout={self.timeout_s}",
            f"--max-connections={load.connections}",
            f"--arrival={self.arrival}",
            f"--users={self.plan.users}",
            f"--token={self.plan.token}",
            f"--first={self.first}",
        ]
        cpu_before = _children_cpu_seconds()
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration_s + self.timeout_s + 60,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        cpu_seconds = _children_cpu_seconds() - cpu_before
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if completed.returncode != 0 or not lines:
            raise LoadError(
                f"the open-model generator failed ({completed.returncode}): "
                f"{completed.stderr.strip()}\n{completed.stdout.strip()}"
            )
        report = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
        self.first += report["scheduled"]
        responses = report["responses"]
        duration = report["duration_s"]
        statuses = report["statuses"]
        return LoadResult(
            requests=responses,
            # Open model: requests that got no response (timeouts and connection errors).
            no_response_connections=report["scheduled"] - responses,
            duration_s=round(duration, 3),
            requests_per_s=round(responses / duration, 2) if duration else 0.0,
            latency_ms=latency_summary(report["latencies_ms"]),
            errors={
                **report["errors"],
                "non_2xx": sum(
                    count for status, count in statuses.items() if not 200 <= int(status) <= 299
                ),
            },
            generator={
                "name": "openloop",
                "rate": load.rate,
                "arrival": self.arrival,
                "workload": self.workload,
                "first_request": self.first - report["scheduled"],
                "scheduled": report["scheduled"],
                "statuses": statuses,
                "max_connections": load.connections,
                "peak_open_connections": report["peak_open_connections"],
                "max_send_lag_ms": report["max_send_lag_ms"],
                "window_s": report["window_s"],
                "elapsed_s": round(report["elapsed_s"], 3),
                "timeout_s": self.timeout_s,
                "cpu": self.cpu,
                "cpu_seconds": round(cpu_seconds, 3),
                "cpu_share": round(cpu_seconds / report["elapsed_s"], 3)
                if report["elapsed_s"]
                else None,
                # Every response's latency (ms from its scheduled send time), for pooled
                # percentiles over the repetitions.
                "latencies_ms": report["latencies_ms"],
                **({"kinds": report["kinds"]} if "kinds" in report else {}),
            },
        )


def generator_for(
    load: Load,
    *,
    cpu: int,
    timeout_s: int,
    open_model: OpenModel | None = None,
    headers: tuple[str, ...] = (),
) -> LoadGenerator:
    """`headers`: "Name: value" lines wrk sends with every request (closed loop only)."""
    if load.rate is None:
        return WrkClosedLoop(cpu=cpu, timeout_s=timeout_s, headers=headers)
    if open_model is None:
        raise LoadError("this scenario has no open-model workload (see bench/workloads.py)")
    return open_model


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    # wrk prints its version in the usage text and exits with status 1.
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].strip() if first else "unknown"
