"""Open-model load generator: requests at a fixed arrival rate, whatever the server does.

    python -m bench.openloop --url http://127.0.0.1:8000/api/v1/auth/login --workload login \
        --rate 2 --duration 30 --timeout 30 --users 500 --token abc123 --first 0

Request i is due at start + i / rate (`--arrival poisson`: exponential gaps with the same mean),
for `--duration` seconds. Each goes out on a new connection (HTTP/1.1, `Connection: close`,
no cookies), at most `--max-connections` at once (a request over the cap waits, and the wait is
in its latency). Latency runs from the scheduled send time to the last byte of the response, so
a slow server delays no one's clock (no coordinated omission). A request not answered within
`--timeout` seconds of its scheduled time is abandoned and counted as a timeout. After the last
send the generator waits for the requests in flight (up to the timeout), then prints one line,
`BENCH_RESULT {...}`, that bench/loadgen.py parses.

Run by bench/loadgen.py (pinned to the load generator's CPU with taskset); asyncio streams, no
HTTP library: at the rates where one server core saturates on Argon2 it idles.
"""

import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.workloads import WORKLOADS, RequestPlan

RESULT_PREFIX = "BENCH_RESULT "
HEAD_LIMIT = 64 * 1024


@dataclass
class Outcome:
    scheduled: float
    latency_s: float | None = None
    status: int | None = None
    # connect, write, read or timeout
    error: str | None = None


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
    def __init__(self, args: argparse.Namespace) -> None:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"an http:// URL is needed, not {args.url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        path = parts.path or "/"
        workload = WORKLOADS[args.workload]
        plan = RequestPlan(users=args.users, token=args.token)
        self.offsets = schedule(args.rate, args.duration, args.arrival, args.first)
        # Built before the clock starts, so building them delays no send.
        self.requests = [
            build_request(
                workload.method,
                self.host,
                self.port,
                path,
                workload.body(args.first + index, plan),
            )
            for index in range(len(self.offsets))
        ]
        self.args = args
        self.open_connections = 0
        self.peak_open_connections = 0

    async def send(self, outcome: Outcome, request: bytes, limit: asyncio.Semaphore) -> None:
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
                    writer.write(request)
                    await writer.drain()
                    stage = "read"
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, length = parse_head(head)
                    if length is None:
                        await reader.read()
                    else:
                        await reader.readexactly(length)
                    outcome.latency_s = loop.time() - outcome.scheduled
                    outcome.status = status
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
        tasks, outcomes = [], []
        max_lag = 0.0
        for offset, request in zip(self.offsets, self.requests, strict=True):
            scheduled = start + offset
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, loop.time() - scheduled)
            outcome = Outcome(scheduled)
            outcomes.append(outcome)
            tasks.append(asyncio.create_task(self.send(outcome, request, limit)))
        await asyncio.gather(*tasks)
        finished = loop.time()
        answered = [outcome for outcome in outcomes if outcome.status is not None]
        last_answer = max(
            (outcome.scheduled + outcome.latency_s for outcome in answered),  # type: ignore[operator]
            default=start,
        )
        statuses: dict[str, int] = {}
        for outcome in answered:
            statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
        errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
        for outcome in outcomes:
            if outcome.error is not None:
                errors[outcome.error] += 1
        return {
            "scheduled": len(outcomes),
            "responses": len(answered),
            "window_s": self.args.duration,
            # From the first due time to the last response (at least the window).
            "duration_s": max(self.args.duration, last_answer - start),
            "elapsed_s": finished - start,
            "latencies_ms": [
                round(outcome.latency_s * 1000, 3)  # type: ignore[operator]
                for outcome in answered
            ],
            "statuses": statuses,
            "errors": errors,
            "max_send_lag_ms": round(max_lag * 1000, 3),
            "peak_open_connections": self.peak_open_connections,
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.openloop", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
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
    result = asyncio.run(OpenLoop(parse_args(argv)).run())
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
