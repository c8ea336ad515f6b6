"""What the socket load generators (bench/msgload.py, bench/forumload.py) share: the server's
address, signed-in sockets and POSTs, runs of messages sent at due times and the wait for the
frames they expect (`SocketLoad`), and the loop that reads the runner's commands on stdin and
answers each with one line `BENCH_RESULT {...}`."""

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.openloop import parse_head

RESULT_PREFIX = "BENCH_RESULT "
CSRF_COOKIE = "csrftoken"
HEAD_LIMIT = 64 * 1024
# Received in one frame each, at most: a message or a post and its envelope.
MAX_FRAME = 1 << 20
# After the last expected frame, the wait for duplicates.
DUPLICATE_GRACE_S = 0.5
CLOSE_CONCURRENCY = 50

Command = dict[str, Any]
Handler = Callable[[Command], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "Address":
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"an http:// URL is needed, not {url!r}")
        return cls(parts.hostname, parts.port or 80)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def socket_url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"


def session_cookie(cookie_name: str, session_key: str, csrf_token: str) -> str:
    return f"{cookie_name}={session_key}; {CSRF_COOKIE}={csrf_token}"


async def open_socket(
    url: str, *, origin: str, cookie: str, wait_s: float
) -> tuple[ClientConnection | None, str | None]:
    """A signed-in socket (the session cookie and an allowed Origin, as a browser sends them), or
    None and the kind of failure: handshake_<status> (refused), handshake_timeout, or
    handshake_<exception> (no connection, or not a WebSocket answer)."""
    try:
        socket = await connect(
            url,
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            open_timeout=wait_s,
            ping_interval=None,
            max_size=MAX_FRAME,
            max_queue=None,
        )
    except InvalidStatus as error:
        return None, f"handshake_{error.response.status_code}"
    except TimeoutError:
        return None, "handshake_timeout"
    except (OSError, InvalidHandshake) as error:
        return None, f"handshake_{type(error).__name__}"
    return socket, None


@dataclass
class Requests:
    """HTTP requests of a run: open at once now and at most."""

    open: int = 0
    peak: int = 0


class RequestFailed(Exception):
    def __init__(self, kind: str, *, written: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        # The request had been written when it failed (the server may have acted on it).
        self.written = written


async def post_json(
    address: Address,
    path: str,
    body: bytes,
    *,
    cookie: str,
    csrf_token: str,
    deadline: float,
    limit: asyncio.Semaphore,
    requests: Requests,
) -> tuple[int, bytes]:
    """POST `body` as a signed-in browser would (session cookie, CSRF cookie and header) on a
    new connection (`Connection: close`), abandoned at `deadline` (the loop's clock). Returns
    (status, body); RequestFailed("http_timeout" or "http_<connect|write|read>") otherwise."""
    request = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {address.host}:{address.port}\r\n"
        "User-Agent: p2p-bench-socketload\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Cookie: {cookie}\r\n"
        f"X-CSRFToken: {csrf_token}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    stage = "connect"
    try:
        async with asyncio.timeout_at(deadline), limit:
            reader, writer = await asyncio.open_connection(
                address.host, address.port, limit=HEAD_LIMIT
            )
            requests.open += 1
            requests.peak = max(requests.peak, requests.open)
            try:
                stage = "write"
                writer.write(request)
                await writer.drain()
                stage = "read"
                status, length = parse_head(await reader.readuntil(b"\r\n\r\n"))
                answer = await (reader.read() if length is None else reader.readexactly(length))
            finally:
                requests.open -= 1
                writer.close()
    except TimeoutError:
        raise RequestFailed("http_timeout", written=stage == "read") from None
    except (OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError):
        raise RequestFailed(f"http_{stage}", written=stage == "read") from None
    return status, answer


async def wait_for_frames(
    complete: asyncio.Event,
    last_progress: Callable[[], float],
    *,
    last_due: float,
    wait_s: float,
    limit_s: float,
) -> tuple[str, float]:
    """Wait until `complete` is set, or no expected frame has come for `wait_s` seconds (and at
    least `wait_s` after the last due time), or `limit_s` after the last due time: a server that
    is behind but still delivering is waited for, one that has gone quiet is not. Returns how
    the wait ended (complete, quiet or limit) and when (the loop's clock)."""
    loop = asyncio.get_running_loop()
    while not complete.is_set():
        give_up_at = min(max(last_progress(), last_due) + wait_s, last_due + limit_s)
        if loop.time() >= give_up_at:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), give_up_at - loop.time())
    drained_at = loop.time()
    if complete.is_set():
        stop = "complete"
    elif drained_at >= last_due + limit_s:
        stop = "limit"
    else:
        stop = "quiet"
    return stop, drained_at


async def serve_commands(handlers: dict[str, Handler], *, token: str) -> None:
    """Answer the commands on stdin, one JSON object a line ({"cmd": name, ...}), until `close`
    or the end of stdin (which runs `close` too)."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await handlers["close"]({})
            return
        command = json.loads(line)
        name = command["cmd"]
        handler = handlers.get(name)
        answer = await handler(command) if handler else {"problem": f"unknown command {name!r}"}
        answer["token"] = token
        print(RESULT_PREFIX + json.dumps(answer), flush=True)
        if name == "close":
            return


class Connection(Protocol):
    """A user's socket as the generators keep it."""

    socket: ClientConnection | None
    closed: bool


@dataclass(kw_only=True)
class BaseRun:
    """One run of a generator: messages or posts due at fixed times, and what came of them."""

    number: int
    due: list[float]
    keep_frames: bool = False
    # Expected frames not yet in.
    outstanding: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    # With keep_frames (the probe): (user index, frame) of every frame of the run.
    frames: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    sent: int = 0
    max_lag: float = 0.0
    requests: Requests = field(default_factory=Requests)
    # Set when nothing is outstanding any more.
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    # When an expected frame last arrived (or a message was refused): the loop's clock.
    last_progress: float = 0.0

    def give_up(self, seq: int) -> None:
        """Message `seq` was refused: nothing more is expected for it."""
        raise NotImplementedError


class SocketLoad[RunT: BaseRun, ConnectionT: Connection]:
    """What the generators share: the server's address, the runs by number, frames counted by
    type, errors outside any run, frames that came after their run, sending at due times and
    waiting for the frames. A subclass sets `mode` (with `send`: socket or http) and implements
    `handle`, `send_frame`, `send_request`, `report` and `connections`."""

    mode: Any

    def __init__(self, args: argparse.Namespace) -> None:
        self.address = Address.parse(args.url)
        self.token: str = args.token or secrets.token_hex(3)
        self.csrf_token = secrets.token_hex(16)
        self.max_in_flight: int = args.max_connections
        self.runs: dict[int, RunT] = {}
        self.current: RunT | None = None
        self.next_run = 0
        self.receivers: list[asyncio.Task[None]] = []
        # Since the last report: frames by type, and frames or failures outside any open run.
        self.frames: Counter[str] = Counter()
        self.outside: Counter[str] = Counter()
        # Frames of runs already reported (deliveries after the run gave up on them).
        self.late: Counter[str] = Counter()
        # Set before closing the sockets on purpose: their closes are not errors.
        self.closing = False

    def connections(self) -> list[ConnectionT]:
        raise NotImplementedError

    def handle(self, connection: ConnectionT, raw: str | bytes, now: float) -> None:
        raise NotImplementedError

    async def send_frame(self, run: RunT, seq: int) -> None:
        raise NotImplementedError

    async def send_request(
        self, run: RunT, seq: int, limit: asyncio.Semaphore, wait_s: float
    ) -> None:
        raise NotImplementedError

    def report(
        self, run: RunT, started: float, drained_at: float, finished: float, cpu: float
    ) -> dict[str, Any]:
        raise NotImplementedError

    def listen(self, connection: ConnectionT) -> None:
        self.receivers.append(asyncio.create_task(self.receive(connection)))

    async def receive(self, connection: ConnectionT) -> None:
        assert connection.socket is not None
        loop = asyncio.get_running_loop()
        try:
            async for raw in connection.socket:
                self.handle(connection, raw, loop.time())
        except ConnectionClosed:
            pass
        finally:
            connection.closed = True
            if not self.closing:
                self.count_error(f"closed_{connection.socket.close_code}")

    def decode(self, raw: str | bytes) -> tuple[str, dict[str, Any]] | None:
        """(type, frame) of a JSON object frame, counted by type; None (an error) otherwise."""
        try:
            frame = json.loads(raw)
        except ValueError:
            self.count_error("frame_not_json")
            return None
        if not isinstance(frame, dict):
            self.count_error("frame_not_object")
            return None
        kind = str(frame.get("type"))
        self.frames[kind] += 1
        return kind, frame

    def count_error(self, kind: str, run: RunT | None = None) -> None:
        target = run or self.current
        if target is None:
            self.outside[kind] += 1
        else:
            target.errors[kind] += 1

    def take_frames(self) -> dict[str, int]:
        frames = dict(sorted(self.frames.items()))
        self.frames.clear()
        return frames

    def take_errors(self, run: RunT) -> dict[str, int]:
        """The run's errors and those outside any run since the last report."""
        errors = Counter(run.errors)
        errors.update(self.outside)
        self.outside.clear()
        return dict(sorted(errors.items()))

    def take_late(self) -> dict[str, int]:
        late = dict(self.late)
        self.late.clear()
        return late

    async def send_json(
        self, run: RunT, seq: int, connection: ConnectionT, frame: dict[str, Any]
    ) -> None:
        """Send message `seq`'s frame on `connection`; a closed socket refuses it."""
        if connection.socket is None or connection.closed:
            run.errors["send_on_closed_socket"] += 1
            run.give_up(seq)
            return
        try:
            await connection.socket.send(json.dumps(frame))
            run.sent += 1
        except ConnectionClosed:
            run.errors["send_on_closed_socket"] += 1
            run.give_up(seq)

    async def post(
        self,
        run: RunT,
        seq: int,
        path: str,
        payload: dict[str, Any],
        cookie: str,
        *,
        limit: asyncio.Semaphore,
        wait_s: float,
    ) -> bytes | None:
        """POST message `seq` (abandoned `wait_s` after its due time); the body of a 201, or
        None with the failure counted (a refusal gives the message up)."""
        try:
            status, answer = await post_json(
                self.address,
                path,
                json.dumps(payload).encode(),
                cookie=cookie,
                csrf_token=self.csrf_token,
                deadline=run.due[seq] + wait_s,
                limit=limit,
                requests=run.requests,
            )
        except RequestFailed as failure:
            run.sent += failure.written
            run.errors[failure.kind] += 1
            return None
        run.sent += 1
        if status != 201:
            run.errors[f"http_{status}"] += 1
            run.give_up(seq)
            return None
        return answer

    async def execute(
        self, run: RunT, wait_s: float, limit_s: float, hold_s: float = 0.0
    ) -> dict[str, Any]:
        """Send every message of `run` at its due time (a hold lasts `hold_s` seconds whenever
        its last message is due), then wait for the frames (`wait_for_frames`)."""
        loop = asyncio.get_running_loop()
        cpu_started = time.process_time()
        started = loop.time()
        self.current = run
        limit = asyncio.Semaphore(self.max_in_flight)
        tasks = []
        for seq, due in enumerate(run.due):
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            run.max_lag = max(run.max_lag, loop.time() - due)
            if self.mode.send == "http":
                tasks.append(asyncio.create_task(self.send_request(run, seq, limit, limit_s)))
            else:
                tasks.append(asyncio.create_task(self.send_frame(run, seq)))
        await asyncio.sleep(max(0.0, started + hold_s - loop.time()))
        last_due = run.due[-1] if run.due else loop.time()
        stop, drained_at = await wait_for_frames(
            run.complete,
            lambda: run.last_progress,
            last_due=last_due,
            wait_s=wait_s,
            limit_s=limit_s,
        )
        if run.outstanding == 0 and run.due:
            await asyncio.sleep(DUPLICATE_GRACE_S)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        finished = loop.time()
        self.current = None
        self.next_run = run.number + 1
        # Frames of this run that arrive from now on are counted as late, outside any run.
        del self.runs[run.number]
        cpu_seconds = time.process_time() - cpu_started
        return {"stop": stop, **self.report(run, started, drained_at, finished, cpu_seconds)}

    async def close(self) -> dict[str, Any]:
        """Close every socket (a few at a time), and report what came since the last answer."""
        self.closing = True
        limit = asyncio.Semaphore(CLOSE_CONCURRENCY)

        async def close_one(connection: ConnectionT) -> bool:
            if connection.socket is None or connection.closed:
                return False
            async with limit:
                with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                    await asyncio.wait_for(connection.socket.close(), 5)
            return True

        closed = await asyncio.gather(*(close_one(item) for item in self.connections()))
        for task in self.receivers:
            task.cancel()
        await asyncio.gather(*self.receivers, return_exceptions=True)
        return {
            "closed": sum(closed),
            "errors": dict(self.outside),
            "frames": self.take_frames(),
            "late_frames_of_earlier_runs": dict(self.late),
        }


def parse_load_arguments(
    argv: list[str] | None, *, prog: str, description: str | None, modes: Iterable[str]
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--url", required=True, help="the server, http://host:port")
    parser.add_argument("--mode", choices=sorted(modes), required=True)
    parser.add_argument("--sessions", required=True, help="the seed's sessions file")
    parser.add_argument("--token", help="prefix of every message's id (default: random)")
    parser.add_argument(
        "--max-connections", type=int, default=1000, help="http: requests in flight at most"
    )
    return parser.parse_args(argv)
