"""Load generators. Each takes a URL, a Load and a duration and returns a LoadResult.

`WrkClosedLoop` drives a fixed number of connections with wrk, each sending its next request
as soon as the previous one is answered: right for "how much does it serve at N concurrent
clients", wrong for tail latency at a given arrival rate. A rate-based (open model) generator
implements the same `run()` for `Load(rate=...)` and is returned by `generator_for()`.
"""

import json
import resource
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.scenarios import Load

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


class WrkClosedLoop:
    """wrk pinned to `cpu`, one thread: on a core of its own a single wrk thread sends several
    times what one server core can answer here, and a second thread would only share the core."""

    def __init__(self, *, cpu: int, timeout_s: int, threads: int = 1) -> None:
        self.cpu = cpu
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


def generator_for(load: Load, *, cpu: int, timeout_s: int) -> LoadGenerator:
    if load.rate is None:
        return WrkClosedLoop(cpu=cpu, timeout_s=timeout_s)
    raise LoadError("no open-model (rate-based) generator yet: add one in bench/loadgen.py")


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    # wrk prints its version in the usage text and exits with status 1.
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].strip() if first else "unknown"
