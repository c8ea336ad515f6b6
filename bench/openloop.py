"""Open-model load generator: requests at a fixed arrival rate, whatever the server does.

    python -m bench.openloop --url http://127.0.0.1:8000/api/v1/auth/login --workload login \
        --rate 2 --duration 30 --timeout 30 --users 500 --token abc123 --first 0
    python -m bench.openloop --url http://127.0.0.1:8000 --requests-file kinds.json \
        --rate 1 --duration 30

Request i is due at start + i / rate (`--arrival poisson`: exponential gaps with the same mean),
for `--duration` seconds. Each goes out on a new connection (HTTP/1.1, `Connection: close`,
no cookies), at most `--max-connections` at once (a request over the cap waits, and the wait is
in its latency). Latency runs from the scheduled send time to the last byte of the response, so
a slow server delays no one's clock (no coordinated omission). A request not answered within
`--timeout` seconds of its scheduled time is abandoned and counted as a timeout. After the last
send the generator waits for the requests in flight (up to the timeout), then prints one line,
`BENCH_RESULT {...}`, that bench/loadgen.py parses.

With `--requests-file` instead of `--workload`, the requests are a mix (the use-case library's
queries): the file is `{"kinds": [{"name", "kind", "method", "path", "headers"}], "cycle":
[name, ...]}`, request i is the entry named `cycle[(first + i) % len(cycle)]` (its path with the
query string, its headers, e.g. a session cookie, on the URL's host), and the result adds
`kinds`: per kind (the entry's `kind`, or its name), the requests due, every latency, the
statuses and the errors.

Run by bench/loadgen.py (pinned to the load generator's CPU with taskset); asyncio streams, no
HTTP library: at the rates where one server core saturates on Argon2 it idles.
"""

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.workloads import WORKLOADS, RequestPlan

RESULT_PREFIX = "BENCH_RESULT "
HEAD_LIMIT = 64 * 1024


ERROR_KINDS = ("connect", "read", "write", "timeout")


@dataclass
class Outcome:
    scheduled: float
    # The request's kind ("" for a workload's requests).
    kind: str = ""
    latency_s: float | None = None
    status: int | None = None
    # connect, write, read or timeout
    error: str | None = None
    # The response body, when the generator keeps them.
    body: bytes | None = None


@dataclass(frozen=True)
class Request:
    """What one request writes, in order (a head, and a body that may be shared by many)."""

    kind: str
    parts: tuple[bytes, ...]


def schedule(rate: float, duration_s: float, arrival: str, seed: int) -> list[float]:
    """Offsets (seconds from the start) of the requests due within the duration."""
    if arrival == "uniform":
        count = int(round(rate * duration_s, 6))
        return [index / rate for index in range(count)]
    generator = random.Random(seed)
    offsets, offset = [], 0.0
    while offset < duration_s:
        offsets.append(offset)
        offset += generator.expovariate(rate)
    return offsets


def build_request(method: str, host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: p2p-bench-openloop\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def build_head(
    method: str, host: str, port: int, path: str, headers: Mapping[str, str], length: int
) -> bytes:
    """A request head with extra `headers` (a cookie, a multipart Content-Type ...)."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: p2p-bench-openloop",
        "Accept: application/json",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Length: {length}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def load_mix(path: Path, host: str, port: int) -> tuple[list[Request], list[str]]:
    """The kinds of a requests file as built requests (bodiless), and the cycle of their names."""
    spec = json.loads(path.read_text())
    kinds = {
        kind["name"]: Request(
            kind.get("kind", kind["name"]),
            (
                build_head(
                    kind.get("method", "GET"), host, port, kind["path"], kind.get("headers", {}), 0
                ),
            ),
        )
        for kind in spec["kinds"]
    }
    cycle = spec.get("cycle") or list(kinds)
    unknown = sorted(set(cycle) - set(kinds))
    if unknown:
        raise SystemExit(f"the cycle names kinds that are not defined: {unknown}")
    return [kinds[name] for name in cycle], cycle


def parse_head(head: bytes) -> tuple[int, int | None]:
    """(status, Content-Length or None) of a response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


class OpenLoop:
    """Sends `requests[i]` at its due time (start + offsets[i]); with `keep_bodies`, every
    response body is kept on its Outcome (`self.outcomes`, in sending order)."""

    def __init__(
        self,
        args: argparse.Namespace,
        host: str,
        port: int,
        offsets: Sequence[float],
        requests: Sequence[Request],
        *,
        keep_bodies: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.offsets = offsets
        self.requests = requests
        self.keep_bodies = keep_bodies
        self.args = args
        self.open_connections = 0
        self.peak_open_connections = 0
        self.outcomes: list[Outcome] = []

    async def send(self, outcome: Outcome, request: Request, limit: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        stage = "connect"
        try:
            async with asyncio.timeout_at(outcome.scheduled + self.args.timeout), limit:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=HEAD_LIMIT
                )
                self.open_connections += 1
                self.peak_open_connections = max(self.peak_open_connections, self.open_connections)
                try:
                    stage = "write"
                    for part in request.parts:
                        writer.write(part)
                    await writer.drain()
                    stage = "read"
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, length = parse_head(head)
                    if length is None:
                        body = await reader.read()
                    else:
                        body = await reader.readexactly(length)
                    outcome.latency_s = loop.time() - outcome.scheduled
                    outcome.status = status
                    if self.keep_bodies:
                        outcome.body = body
                finally:
                    self.open_connections -= 1
                    writer.close()
        except TimeoutError:
            outcome.error = "timeout"
        except (OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError):
            # IncompleteReadError is an EOFError; a malformed head is a ValueError/IndexError.
            outcome.error = stage

    async def run(self) -> dict[str, object]:
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.args.max_connections)
        start = loop.time() + 0.05
        self.start = start
        tasks, outcomes = [], self.outcomes
        max_lag = 0.0
        for offset, request in zip(self.offsets, self.requests, strict=True):
            scheduled = start + offset
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, loop.time() - scheduled)
            outcome = Outcome(scheduled, request.kind)
            outcomes.append(outcome)
            tasks.append(asyncio.create_task(self.send(outcome, request, limit)))
        await asyncio.gather(*tasks)
        finished = loop.time()
        answered = [outcome for outcome in outcomes if outcome.status is not None]
        last_answer = max(
            (outcome.scheduled + outcome.latency_s for outcome in answered),  # type: ignore[operator]
            default=start,
        )
        result: dict[str, object] = {
            "scheduled": len(outcomes),
            "responses": len(answered),
            "window_s": self.args.duration,
            # From the first due time to the last response (at least the window).
            "duration_s": max(self.args.duration, last_answer - start),
            "elapsed_s": finished - start,
            **tally(outcomes),
            "max_send_lag_ms": round(max_lag * 1000, 3),
            "peak_open_connections": self.peak_open_connections,
        }
        kinds = list(dict.fromkeys(outcome.kind for outcome in outcomes if outcome.kind))
        if kinds:
            result["kinds"] = {
                kind: {
                    "scheduled": sum(1 for outcome in outcomes if outcome.kind == kind),
                    **tally([outcome for outcome in outcomes if outcome.kind == kind]),
                }
                for kind in kinds
            }
        return result


def tally(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Every answered request's latency (ms from its due time), the statuses, the errors."""
    statuses: dict[str, int] = {}
    errors = dict.fromkeys(ERROR_KINDS, 0)
    for outcome in outcomes:
        if outcome.status is not None:
            statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
        if outcome.error is not None:
            errors[outcome.error] += 1
    return {
        "latencies_ms": [
            round(outcome.latency_s * 1000, 3)  # type: ignore[operator]
            for outcome in outcomes
            if outcome.status is not None
        ],
        "statuses": statuses,
        "errors": errors,
    }


def workload_requests(
    args: argparse.Namespace, host: str, port: int, path: str, count: int
) -> list[Request]:
    workload = WORKLOADS[args.workload]
    plan = RequestPlan(users=args.users, token=args.token)
    return [
        Request(
            "",
            (
                build_request(
                    workload.method, host, port, path, workload.body(args.first + index, plan)
                ),
            ),
        )
        for index in range(count)
    ]


def target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"an http:// URL is needed, not {url!r}")
    return parts.hostname, parts.port or 80, parts.path or "/"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.openloop", description=__doc__)
    parser.add_argument("--url", required=True)
    requests = parser.add_mutually_exclusive_group(required=True)
    requests.add_argument("--workload", choices=sorted(WORKLOADS))
    requests.add_argument(
        "--requests-file", type=Path, help="a mix of kinds of requests (see above)"
    )
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--max-connections", type=int, default=1000)
    parser.add_argument("--arrival", choices=("uniform", "poisson"), default="uniform")
    parser.add_argument("--users", type=int, default=500, help="seeded users (login)")
    parser.add_argument("--token", default="bench", help="makes sign-up domains unique")
    parser.add_argument("--first", type=int, default=0, help="number of the first request")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.timeout <= 0 or args.max_connections < 1:
        parser.error("--rate, --duration, --timeout and --max-connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host, port, path = target(args.url)
    offsets = schedule(args.rate, args.duration, args.arrival, args.first)
    # Built before the clock starts, so building them delays no send.
    if args.requests_file is not None:
        mix, _cycle = load_mix(args.requests_file, host, port)
        requests = [mix[(args.first + index) % len(mix)] for index in range(len(offsets))]
    else:
        requests = workload_requests(args, host, port, path, len(offsets))
    result = asyncio.run(OpenLoop(args, host, port, offsets, requests).run())
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
