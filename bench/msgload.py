"""Load generator of the `messaging` scenario: N users' sockets open at once, direct messages
sent between pairs at a fixed arrival rate, every message numbered and timed to its receipt.

    python -m bench.msgload --url http://127.0.0.1:8000 --mode socket --sessions sessions.json

Run by bench/messaging.py (pinned to the load generator's CPU with taskset) for one server, and
driven by JSON commands on stdin, one a line, each answered by one line `BENCH_RESULT {...}`:

    {"cmd": "connect"}   open every user's socket (session cookie, allowed Origin), at most
                         CONNECT_CONCURRENCY handshakes at once; wait for each `ready` frame
    {"cmd": "probe"}     one message from user 0 to user 1, checked field by field
    {"cmd": "run", "rate": 50, "duration": 20, "timeout": 10, "drain_limit": 60,
     "arrival": "uniform"}
    {"cmd": "close"}     close the sockets and exit

Modes (what is loaded):
- `socket`: the project's /ws/messaging/; a message is the frame {"type": "send",
  "conversation_id", "content", "client_msg_id"} on the sender's socket, answered by `sent` on
  it; the recipient's socket gets `new_message` (and so does the sender's, for its other tabs).
- `http`: the same sockets, but a message is POST /api/v1/messages (session cookie and CSRF
  token, a new connection each, `Connection: close`), answered by 201.
- `echo`: the baseline bench/servers/channels_echo.py, /ws/echo/?user=<id>; the frame names
  `receiver_id`; only the recipient gets `new_message`.

Message i of a run is due at start + i / rate (`poisson`: exponential gaps, same mean). Pairs are
users (2k, 2k+1); message i goes through pair i mod P, from the lower to the higher user when
(i div P) is even and back otherwise, so every user sends and receives alike. Its client_msg_id
is `<token>.<run>.<i>.<due time in us>` (unique over the benchmark; the due time is on this
process's monotonic clock). Latency runs from the due time to the recipient's `new_message`
frame carrying that client_msg_id (no coordinated omission: a late send is in the latency).

After the last due time the generator waits for every expected frame (the delivery, the answer
to the sender, the sender's copy): until all are in (then 0.5 s more, for duplicates), or none
has arrived for `timeout` seconds (a server that is behind but still delivering is waited for),
or `drain_limit` seconds after the last due time (the result's `stop`: complete, quiet or
limit). A message is lost if it has not reached its recipient by then; frames that come later
are counted by run in the next answer's `late_frames_of_earlier_runs`. A second
`new_message` with the same client_msg_id on the recipient's socket is a duplicate. An HTTP
request is abandoned `drain_limit` seconds after its due time.
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from bench.loadgen import latency_summary
from bench.openloop import schedule
from bench.wsclient import (
    BaseRun,
    SocketLoad,
    open_socket,
    parse_load_arguments,
    serve_commands,
    session_cookie,
)

CONNECT_CONCURRENCY = 10
API_PATH = "/api/v1/messages"


@dataclass(frozen=True)
class Mode:
    path: str
    send: str  # socket | http
    destination: str  # conversation_id | receiver_id
    sender_copy: bool  # the sender's socket also gets new_message
    stored: bool  # events carry increasing event_ids


MODES = {
    "socket": Mode("/ws/messaging/", "socket", "conversation_id", True, True),
    "http": Mode("/ws/messaging/", "http", "conversation_id", True, True),
    "echo": Mode("/ws/echo/", "socket", "receiver_id", False, False),
}

# What a message still waits for: its delivery, the answer to its sender, the sender's copy.
DELIVERY, ACK, COPY = 1, 2, 4


@dataclass
class User:
    index: int
    id: int
    session_key: str
    peer_index: int
    peer_id: int
    conversation_id: int
    socket: ClientConnection | None = None
    ready: asyncio.Future[float] | None = None
    last_event_id: int = 0
    closed: bool = False


@dataclass(kw_only=True)
class Run(BaseRun):
    sender: list[int]
    receiver: list[int]
    content: list[str]
    client_msg_id: list[str]
    expected: int
    delivered: list[float | None] = field(default_factory=list)
    copies: list[int] = field(default_factory=list)
    acked: list[float | None] = field(default_factory=list)
    sender_copy: list[float | None] = field(default_factory=list)
    sender_copies: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    refused: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        count = len(self.due)
        self.delivered = [None] * count
        self.copies = [0] * count
        self.acked = [None] * count
        self.sender_copy = [None] * count
        self.sender_copies = [0] * count
        self.waiting = [self.expected] * count
        self.refused = [False] * count
        self.outstanding = self.expected.bit_count() * count
        if self.outstanding == 0:
            self.complete.set()

    def arrived(self, seq: int, what: int) -> None:
        if self.waiting[seq] & what:
            self.waiting[seq] &= ~what
            self.outstanding -= 1
            # The event loop's clock (asyncio uses time.monotonic).
            self.last_progress = time.monotonic()
            if self.outstanding == 0:
                self.complete.set()

    def give_up(self, seq: int) -> None:
        self.refused[seq] = True
        self.outstanding -= self.waiting[seq].bit_count()
        self.last_progress = time.monotonic()
        self.waiting[seq] = 0
        if self.outstanding == 0:
            self.complete.set()


class Generator(SocketLoad[Run, User]):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.mode = MODES[args.mode]
        with open(args.sessions) as sessions:
            document = json.load(sessions)
        self.cookie_name = document["cookie_name"]
        self.users = [
            User(
                index=entry["index"],
                id=entry["id"],
                session_key=entry["session_key"],
                peer_index=entry["peer_index"],
                peer_id=entry["peer_id"],
                conversation_id=entry["conversation_id"],
            )
            for entry in document["users"]
        ]
        if len(self.users) < 2 or len(self.users) % 2:
            raise SystemExit("an even number of users (pairs) is needed")
        self.by_id = {user.id: user for user in self.users}
        self.pairs = len(self.users) // 2

    # ---- sockets ----------------------------------------------------------------------------

    def connections(self) -> list[User]:
        return self.users

    def socket_url(self, user: User) -> str:
        query = f"?user={user.id}" if self.mode.path == "/ws/echo/" else ""
        return self.address.socket_url(f"{self.mode.path}{query}")

    def cookie(self, user: User) -> str:
        return session_cookie(self.cookie_name, user.session_key, self.csrf_token)

    async def open_socket(
        self, user: User, limit: asyncio.Semaphore, wait_s: float, report: dict[str, Any]
    ) -> None:
        loop = asyncio.get_running_loop()
        async with limit:
            started = loop.time()
            user.ready = loop.create_future()
            user.socket, failure = await open_socket(
                self.socket_url(user),
                origin=self.address.origin,
                cookie=self.cookie(user),
                wait_s=wait_s,
            )
            if failure is not None:
                report["errors"][failure] += 1
                return
            opened = loop.time()
            report["handshake_ms"].append(round((opened - started) * 1000, 3))
            self.listen(user)
            try:
                ready_at = await asyncio.wait_for(asyncio.shield(user.ready), wait_s)
            except TimeoutError:
                report["errors"]["ready_timeout"] += 1
                return
            report["ready_ms"].append(round((ready_at - started) * 1000, 3))

    async def connect_all(self, wait_s: float) -> dict[str, Any]:
        report: dict[str, Any] = {"handshake_ms": [], "ready_ms": [], "errors": Counter()}
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.monotonic()
        await asyncio.gather(*(self.open_socket(u, limit, wait_s, report) for u in self.users))
        ready = sum(1 for user in self.users if user.ready is not None and user.ready.done())
        return {
            "users": len(self.users),
            "connected": len(report["handshake_ms"]),
            "ready": ready,
            "concurrency": CONNECT_CONCURRENCY,
            "seconds": round(time.monotonic() - started, 3),
            "handshake_ms": latency_summary(report["handshake_ms"]),
            "ready_ms": latency_summary(report["ready_ms"]),
            "errors": dict(report["errors"]),
            "frames": self.take_frames(),
        }

    def parse_id(self, value: object) -> tuple[Run, int] | None:
        """The open run and message number a client_msg_id names, or None."""
        if not isinstance(value, str):
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != self.token:
            return None
        try:
            number, seq = int(parts[1]), int(parts[2])
        except ValueError:
            return None
        run = self.runs.get(number)
        if run is None or not 0 <= seq < len(run.due) or run.client_msg_id[seq] != value:
            if number < self.next_run:
                self.late[str(number)] += 1
            return None
        return run, seq

    def handle(self, user: User, raw: str | bytes, now: float) -> None:
        decoded = self.decode(raw)
        if decoded is None:
            return
        kind, frame = decoded
        if kind == "ready":
            if user.ready is not None and not user.ready.done():
                user.ready.set_result(now)
            if self.mode.stored:
                user.last_event_id = int(frame.get("last_event_id") or 0)
            return
        event_id = frame.get("event_id")
        if self.mode.stored and event_id is not None:
            if not isinstance(event_id, int) or event_id <= user.last_event_id:
                self.count_error("event_id_not_increasing")
            else:
                user.last_event_id = event_id
        if kind == "new_message":
            self.on_new_message(user, frame, now)
        elif kind == "sent":
            self.on_sent(user, frame, now)
        elif kind == "error":
            found = self.parse_id(frame.get("client_msg_id"))
            run = found[0] if found else None
            self.count_error(f"error_{frame.get('code')}", run)
            if found:
                found[0].give_up(found[1])

    def on_new_message(self, user: User, frame: dict[str, Any], now: float) -> None:
        message = frame.get("message")
        if not isinstance(message, dict):
            self.count_error("new_message_without_message")
            return
        found = self.parse_id(message.get("client_msg_id"))
        if found is None:
            return
        run, seq = found
        if run.keep_frames:
            run.frames.append((user.index, frame))
        sender = self.users[run.sender[seq]]
        if (
            message.get("content") != run.content[seq]
            or not isinstance(message.get("sender"), dict)
            or message["sender"].get("id") != sender.id
            or (
                self.mode.destination == "conversation_id"
                and message.get("conversation_id") != sender.conversation_id
            )
        ):
            run.errors["wrong_message"] += 1
        if user.index == run.receiver[seq]:
            run.copies[seq] += 1
            if run.delivered[seq] is None:
                run.delivered[seq] = now
                run.arrived(seq, DELIVERY)
        elif user.index == run.sender[seq]:
            run.sender_copies[seq] += 1
            if run.sender_copy[seq] is None:
                run.sender_copy[seq] = now
                run.arrived(seq, COPY)
        else:
            run.errors["misrouted"] += 1

    def on_sent(self, user: User, frame: dict[str, Any], now: float) -> None:
        found = self.parse_id(frame.get("client_msg_id"))
        if found is None:
            self.count_error("sent_unknown_client_msg_id")
            return
        run, seq = found
        if run.keep_frames:
            run.frames.append((user.index, frame))
        if user.index != run.sender[seq]:
            run.errors["sent_to_another_socket"] += 1
        if run.acked[seq] is not None:
            run.errors["sent_twice"] += 1
            return
        run.acked[seq] = now
        run.arrived(seq, ACK)

    # ---- sending ----------------------------------------------------------------------------

    def plan(self, number: int, offsets: list[float], start: float, keep: bool) -> Run:
        senders, receivers, contents, ids = [], [], [], []
        for seq, offset in enumerate(offsets):
            pair, turn = seq % self.pairs, (seq // self.pairs) % 2
            sender = 2 * pair + turn
            senders.append(sender)
            receivers.append(sender ^ 1)
            contents.append(f"Bench message {seq} of run {number}: is **line {pair}** back up?")
            ids.append(f"{self.token}.{number}.{seq}.{round((start + offset) * 1e6)}")
        expected = DELIVERY | ACK | (COPY if self.mode.sender_copy else 0)
        run = Run(
            number=number,
            due=[start + offset for offset in offsets],
            sender=senders,
            receiver=receivers,
            content=contents,
            client_msg_id=ids,
            expected=expected,
            keep_frames=keep,
        )
        self.runs[number] = run
        return run

    def payload(self, run: Run, seq: int) -> dict[str, Any]:
        sender = self.users[run.sender[seq]]
        destination = (
            sender.conversation_id
            if self.mode.destination == "conversation_id"
            else self.users[run.receiver[seq]].id
        )
        return {
            self.mode.destination: destination,
            "content": run.content[seq],
            "client_msg_id": run.client_msg_id[seq],
        }

    async def send_frame(self, run: Run, seq: int) -> None:
        user = self.users[run.sender[seq]]
        await self.send_json(run, seq, user, {"type": "send", **self.payload(run, seq)})

    async def send_request(
        self, run: Run, seq: int, limit: asyncio.Semaphore, wait_s: float
    ) -> None:
        loop = asyncio.get_running_loop()
        user = self.users[run.sender[seq]]
        answer = await self.post(
            run,
            seq,
            API_PATH,
            self.payload(run, seq),
            self.cookie(user),
            limit=limit,
            wait_s=wait_s,
        )
        if answer is None:
            return
        try:
            stored = json.loads(answer).get("client_msg_id")
        except (ValueError, AttributeError):
            stored = None
        if stored != run.client_msg_id[seq]:
            run.errors["http_wrong_answer"] += 1
        if run.keep_frames:
            run.frames.append((user.index, {"type": "http_201", "body": json.loads(answer)}))
        run.acked[seq] = loop.time()
        run.arrived(seq, ACK)

    def report(
        self, run: Run, started: float, drained_at: float, finished: float, cpu: float
    ) -> dict[str, Any]:
        count = len(run.due)
        start = run.due[0] if run.due else finished
        latencies = [
            round((delivered - run.due[seq]) * 1000, 3)
            for seq, delivered in enumerate(run.delivered)
            if delivered is not None
        ]
        delivered = len(latencies)
        last = max((value for value in run.delivered if value is not None), default=start)
        window = (run.due[-1] - start) if count > 1 else 0.0
        lost = [seq for seq in range(count) if run.delivered[seq] is None]
        acks = [
            (acked - run.due[seq]) * 1000
            for seq, acked in enumerate(run.acked)
            if acked is not None
        ]
        copies = [
            (copy - run.due[seq]) * 1000
            for seq, copy in enumerate(run.sender_copy)
            if copy is not None
        ]
        duplicated = sum(max(0, copies - 1) for copies in run.copies)
        errors = self.take_errors(run)
        late = self.take_late()
        elapsed = finished - start
        result = {
            "run": run.number,
            "scheduled": count,
            "sent": run.sent,
            "delivered": delivered,
            "lost": len(lost),
            # Of those, the ones the sender was answered for (`sent` or 201): stored by the
            # project (relayed by the echo), yet their new_message never reached the recipient.
            "lost_answered": sum(1 for seq in lost if run.acked[seq] is not None),
            "lost_client_msg_ids": [run.client_msg_id[seq] for seq in lost[:20]],
            "refused": sum(run.refused),
            "duplicated": duplicated,
            "duplicated_messages": sum(1 for copies in run.copies if copies > 1),
            "acked": len(acks),
            "ack_missing": count - len(acks),
            "sender_copy_expected": self.mode.sender_copy,
            "sender_copies": len(copies),
            "sender_copies_missing": count - len(copies) if self.mode.sender_copy else 0,
            "sender_copies_duplicated": sum(max(0, n - 1) for n in run.sender_copies),
            "latencies_ms": latencies,
            "ack_latency_ms": latency_summary(acks),
            "sender_copy_latency_ms": latency_summary(copies),
            "errors": errors,
            "frames": self.take_frames(),
            # Frames of earlier runs that arrived during this one, by run number.
            "late_frames_of_earlier_runs": late,
            "max_send_lag_ms": round(run.max_lag * 1000, 3),
            "peak_open_requests": run.requests.peak,
            "window_s": round(window, 3),
            # From the first due time to the last delivery (at least the sending window).
            "duration_s": round(max(window, last - start), 3),
            "delivered_per_s": round(delivered / max(window, last - start), 2)
            if delivered and max(window, last - start) > 0
            else 0.0,
            "drain_s": round(drained_at - (run.due[-1] if run.due else start), 3),
            "elapsed_s": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3),
            "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None,
        }
        if run.keep_frames:
            result["frames_seen"] = [{"user": index, "frame": frame} for index, frame in run.frames]
        return result

    async def run_load(self, command: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        number = self.next_run
        offsets = schedule(command["rate"], command["duration"], command["arrival"], number)
        run = self.plan(number, offsets, loop.time() + 0.05, keep=False)
        result = await self.execute(run, command["timeout"], command["drain_limit"])
        return {"rate": command["rate"], "arrival": command["arrival"], **result}

    async def probe(self, wait_s: float) -> dict[str, Any]:
        """One message from user 0 to user 1, checked exactly."""
        loop = asyncio.get_running_loop()
        number = self.next_run
        run = self.plan(number, [0.0], loop.time() + 0.01, keep=True)
        # The probe is message 0 of its run: from user 0 (pair 0, even turn) to user 1.
        result = await self.execute(run, wait_s, wait_s)
        result["problem"] = self.check_probe(run)
        return result

    def check_probe(self, run: Run) -> str | None:
        sender, receiver = self.users[0], self.users[1]
        expected_id = run.client_msg_id[0]
        frames = run.frames
        delivered = [
            frame
            for index, frame in frames
            if index == receiver.index and frame.get("type") == "new_message"
        ]
        if run.errors:
            return f"errors: {dict(run.errors)}"
        if len(delivered) != 1:
            return f"the recipient got {len(delivered)} new_message frames, expected 1"
        event = delivered[0]
        message = event["message"]
        if self.mode.stored and not (isinstance(event.get("event_id"), int) and event["event_id"]):
            return f"new_message has event_id {event.get('event_id')!r}, expected a number"
        if not self.mode.stored and event.get("event_id") is not None:
            return f"new_message has event_id {event.get('event_id')!r}, expected null"
        checks = {
            "client_msg_id": expected_id,
            "content": run.content[0],
        }
        if self.mode.destination == "conversation_id":
            checks["conversation_id"] = sender.conversation_id
        for key, value in checks.items():
            if message.get(key) != value:
                return f"new_message.message.{key} is {message.get(key)!r}, expected {value!r}"
        if (message.get("sender") or {}).get("id") != sender.id:
            return f"new_message.message.sender is {message.get('sender')!r}, not user {sender.id}"
        if self.mode.stored and not (
            isinstance(message.get("id"), int)
            and "<strong>" in str(message.get("content_html"))
            and message.get("is_deleted") is False
        ):
            return f"new_message.message is not a stored MessageOut: {message!r}"
        answers = [
            frame
            for index, frame in frames
            if index == sender.index and frame.get("type") in {"sent", "http_201"}
        ]
        if len(answers) != 1:
            return f"the sender got {len(answers)} answers (sent / 201), expected 1"
        answer = answers[0]
        if answer["type"] == "sent":
            if answer.get("client_msg_id") != expected_id or answer.get("event_id") is not None:
                return f"the sent frame is {answer!r}"
            if self.mode.stored and (answer.get("message") or {}).get("id") != message.get("id"):
                return f"sent.message.id is not the delivered message's {message.get('id')}"
        elif answer["body"].get("id") != message.get("id"):
            return f"POST answered message {answer['body'].get('id')}, delivered {message['id']}"
        copies = [
            frame
            for index, frame in frames
            if index == sender.index and frame.get("type") == "new_message"
        ]
        if len(copies) != (1 if self.mode.sender_copy else 0):
            return f"the sender's socket got {len(copies)} copies of new_message"
        return None

    async def serve(self) -> None:
        await serve_commands(
            {
                "connect": lambda command: self.connect_all(command.get("timeout", 30)),
                "probe": lambda command: self.probe(command.get("timeout", 10)),
                "run": self.run_load,
                "close": lambda command: self.close(),
            },
            token=self.token,
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_load_arguments(
        argv, prog="python -m bench.msgload", description=__doc__, modes=MODES
    )


def main(argv: list[str] | None = None) -> int:
    asyncio.run(Generator(parse_args(argv)).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
