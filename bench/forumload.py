"""Load generator of the `forum_viewers` scenario: N viewers' sockets on one topic, numbered
posts at a fixed rate, every post timed to its arrival at every viewer.

    python -m bench.forumload --url http://127.0.0.1:8000 --mode socket --sessions sessions.json

Run by bench/forum.py (pinned to the load generator's CPU with taskset) for one server, and
driven by JSON commands on stdin, one a line, each answered by one line `BENCH_RESULT {...}`:

    {"cmd": "connect", "timeout": 10, "concurrency": 10}
        open every viewer's socket on the topic (session cookie, allowed Origin), at most
        `concurrency` handshakes at once; the handshake is timed from the start of the connect
        to the server's 101 answer
    {"cmd": "settle", "quiet": 3, "limit": 120}
        wait until no `presence` frame has come for `quiet` seconds (each viewer who joins
        makes the server broadcast `presence` to the topic): how long the ramp's flood lasted,
        and what count each viewer was last shown
    {"cmd": "probe", "timeout": 10}   one post, checked field by field at every viewer
    {"cmd": "run", "rate": 1, "duration": 30, "timeout": 10, "drain_limit": 30,
     "arrival": "uniform", "hold": false}
        posts at `rate` per second (0: none); with `hold`, the run lasts `duration` seconds
        even after its last post (the sockets are held)
    {"cmd": "close"}                  close the sockets and exit

Modes (what is loaded):
- `socket`: the project's /ws/forum/<topic_id>/; a post is the frame {"type": "new_post",
  "content"} on the poster's socket (one of the viewers); every viewer, the poster too, gets
  `post_created`.
- `http`: the same sockets; a post is POST /api/v1/forums/topics/<id>/posts {"content"} with the
  poster's session cookie and CSRF token, a new connection each (`Connection: close`),
  answered by 201 and its PostOut.
- `echo`: the baseline bench/servers/channels_echo.py, /ws/echo/forum/<topic_id>/?user=<id>; a
  post is a `new_post` frame, relayed by one group_send as `post_created`.

Post i of a run is due at start + i / rate (`poisson`: exponential gaps, same mean). Its content
starts with `Bench post <token>.<run>.<i>:` (unique over the benchmark), which is how each
viewer's `post_created` is matched to it. Latency runs from the due time to the frame's arrival
at a viewer (a late send is in it); a post's fan-out latency is that of its last receiver, once
every viewer whose socket was open when the run started has it.

After the last due time the generator waits for every (post, viewer) pair: until all are in
(then 0.5 s more, for duplicates), or none has come for `timeout` seconds, or `drain_limit`
seconds after the last due time. A pair not in by then is lost; frames of a run that come later
are counted by run in the next answer's `late_frames_of_earlier_runs`. A second `post_created`
of one post at one viewer is a duplicate; a post whose id is below one the viewer already had
is counted as reordered (possible over HTTP, where requests overlap). A socket the server
closes is an error `closed_<code>` (a dropped viewer).
"""

import argparse
import asyncio
import json
import math
import sys
import time
from array import array
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

POST_PREFIX = "Bench post "
MISSING = math.nan


@dataclass(frozen=True)
class Mode:
    # The socket's path; {topic} is the topic's id.
    path: str
    send: str  # socket | http
    # The project renders Markdown (content_html has <strong>); the echo escapes it.
    rendered: bool


MODES = {
    "socket": Mode("/ws/forum/{topic}/", "socket", True),
    "http": Mode("/ws/forum/{topic}/", "http", True),
    "echo": Mode("/ws/echo/forum/{topic}/", "socket", False),
}


@dataclass
class Viewer:
    index: int
    id: int
    session_key: str
    socket: ClientConnection | None = None
    closed: bool = False
    # The `count` of the last `presence` frame, and how many came.
    presence_count: int | None = None
    presence_frames: int = 0
    # The highest post id this socket has had (to see reordering).
    last_post_id: int = 0


@dataclass(kw_only=True)
class Run(BaseRun):
    content: list[str]
    tags: list[str]
    # Indexes of the viewers whose sockets were open when the run started.
    expected: list[int]
    viewers: int
    # received[seq][viewer index]: arrival time (the loop's clock), NaN until then.
    received: list[array] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    post_ids: list[int | None] = field(default_factory=list)
    acked: list[float | None] = field(default_factory=list)
    refused: list[bool] = field(default_factory=list)
    duplicated: int = 0
    reordered: int = 0

    def __post_init__(self) -> None:
        count = len(self.due)
        self.is_expected = [False] * self.viewers
        for index in self.expected:
            self.is_expected[index] = True
        self.received = [array("d", [MISSING]) * self.viewers for _ in range(count)]
        self.delivered = [0] * count
        self.post_ids = [None] * count
        self.acked = [None] * count
        self.refused = [False] * count
        self.outstanding = count * len(self.expected)
        if self.outstanding == 0:
            self.complete.set()

    def arrived(self, seq: int, viewer: int, now: float) -> None:
        arrivals = self.received[seq]
        if not math.isnan(arrivals[viewer]):
            self.duplicated += 1
            return
        arrivals[viewer] = now
        self.delivered[seq] += 1
        if self.is_expected[viewer] and not self.refused[seq]:
            self.outstanding -= 1
            self.last_progress = time.monotonic()
            if self.outstanding == 0:
                self.complete.set()

    def give_up(self, seq: int) -> None:
        if self.refused[seq]:
            return
        self.refused[seq] = True
        arrivals = self.received[seq]
        self.outstanding -= sum(1 for index in self.expected if math.isnan(arrivals[index]))
        self.last_progress = time.monotonic()
        if self.outstanding == 0:
            self.complete.set()


class Generator(SocketLoad[Run, Viewer]):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.mode = MODES[args.mode]
        with open(args.sessions) as sessions:
            document = json.load(sessions)
        self.cookie_name = document["cookie_name"]
        self.topic_id = int(document["topic_id"])
        self.viewers = [
            Viewer(index=entry["index"], id=entry["id"], session_key=entry["session_key"])
            for entry in document["users"]
        ]
        self.poster = self.viewers[document["poster_index"]]
        self.connect_started = 0.0
        self.first_presence: float | None = None
        self.last_presence: float | None = None
        self.presence_frames = 0

    # ---- sockets ----------------------------------------------------------------------------

    def connections(self) -> list[Viewer]:
        return self.viewers

    def socket_url(self, viewer: Viewer) -> str:
        path = self.mode.path.format(topic=self.topic_id)
        query = f"?user={viewer.id}" if self.mode.path.startswith("/ws/echo/") else ""
        return self.address.socket_url(path + query)

    def cookie(self, viewer: Viewer) -> str:
        return session_cookie(self.cookie_name, viewer.session_key, self.csrf_token)

    async def open_viewer(
        self, viewer: Viewer, limit: asyncio.Semaphore, wait_s: float, report: dict[str, Any]
    ) -> None:
        loop = asyncio.get_running_loop()
        async with limit:
            started = loop.time()
            viewer.socket, failure = await open_socket(
                self.socket_url(viewer),
                origin=self.address.origin,
                cookie=self.cookie(viewer),
                wait_s=wait_s,
            )
            if failure is not None:
                report["errors"][failure] += 1
                return
            report["handshake_ms"].append(round((loop.time() - started) * 1000, 3))
            report["last_open"] = loop.time()
            self.listen(viewer)

    async def connect_all(self, command: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        concurrency = int(command.get("concurrency", 10))
        report: dict[str, Any] = {"handshake_ms": [], "errors": Counter(), "last_open": None}
        limit = asyncio.Semaphore(concurrency)
        self.connect_started = started = loop.time()
        await asyncio.gather(
            *(
                self.open_viewer(viewer, limit, command.get("timeout", 10), report)
                for viewer in self.viewers
            )
        )
        last_open = report["last_open"]
        return {
            "viewers": len(self.viewers),
            "connected": len(report["handshake_ms"]),
            "concurrency": concurrency,
            # From the first connect to the last 101 answer.
            "seconds": round((last_open or loop.time()) - started, 3),
            "handshake_ms": latency_summary(report["handshake_ms"]),
            "errors": dict(report["errors"]),
            "frames": dict(self.frames),
        }

    async def settle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Wait for the presence broadcasts of the ramp to stop, then describe them."""
        loop = asyncio.get_running_loop()
        quiet, limit = float(command.get("quiet", 3)), float(command.get("limit", 120))
        started = loop.time()
        while loop.time() - started < limit:
            last = max(self.last_presence or 0.0, started)
            if loop.time() - last >= quiet:
                break
            await asyncio.sleep(min(0.2, quiet))
        open_viewers = [viewer for viewer in self.viewers if self.is_open(viewer)]
        shown = Counter(viewer.presence_count for viewer in open_viewers)
        per_viewer = sorted(viewer.presence_frames for viewer in open_viewers)

        def since_connect(moment: float | None) -> float | None:
            return None if moment is None else round(moment - self.connect_started, 3)

        return {
            "waited_s": round(loop.time() - started, 3),
            "quiet_s": quiet,
            "ended": "quiet" if loop.time() - started < limit else "limit",
            "open": len(open_viewers),
            "presence_frames": self.presence_frames,
            "presence_frames_per_viewer": latency_summary(per_viewer),
            "first_presence_s": since_connect(self.first_presence),
            # When the last presence frame of the ramp came, from the first connect.
            "last_presence_s": since_connect(self.last_presence),
            # How many open viewers were last shown each count ("null": never a presence).
            "last_count_shown": {str(count): number for count, number in shown.most_common()},
            "shown_all": shown.get(len(open_viewers), 0) if self.presence_frames else None,
            "errors": dict(self.outside),
            "frames": self.take_frames(),
        }

    def is_open(self, viewer: Viewer) -> bool:
        return viewer.socket is not None and not viewer.closed

    def find(self, content: object) -> tuple[Run, int] | None:
        """The open run and post number a post's content names, or None."""
        if not isinstance(content, str) or not content.startswith(POST_PREFIX):
            return None
        tag = content[len(POST_PREFIX) :].split(":", 1)[0]
        parts = tag.split(".")
        if len(parts) != 3 or parts[0] != self.token:
            return None
        try:
            number, seq = int(parts[1]), int(parts[2])
        except ValueError:
            return None
        run = self.runs.get(number)
        if run is None or not 0 <= seq < len(run.due) or run.tags[seq] != tag:
            if number < self.next_run:
                self.late[str(number)] += 1
            return None
        return run, seq

    def handle(self, viewer: Viewer, raw: str | bytes, now: float) -> None:
        decoded = self.decode(raw)
        if decoded is None:
            return
        kind, frame = decoded
        if kind == "post_created":
            self.on_post_created(viewer, frame, now)
        elif kind == "presence":
            viewer.presence_frames += 1
            viewer.presence_count = frame.get("count")
            self.presence_frames += 1
            self.first_presence = self.first_presence or now
            self.last_presence = now
        elif kind == "error":
            self.count_error(f"error_{frame.get('code')}")

    def on_post_created(self, viewer: Viewer, frame: dict[str, Any], now: float) -> None:
        post = frame.get("post")
        if not isinstance(post, dict):
            self.count_error("post_created_without_post")
            return
        found = self.find(post.get("content"))
        if found is None:
            return
        run, seq = found
        if run.keep_frames:
            run.frames.append((viewer.index, frame))
        if (
            frame.get("topic_id") != self.topic_id
            or post.get("topic_id") != self.topic_id
            or not isinstance(post.get("author"), dict)
            or post["author"].get("id") != self.poster.id
            or post.get("content") != run.content[seq]
        ):
            run.errors["wrong_post"] += 1
        post_id = post.get("id")
        if not isinstance(post_id, int):
            run.errors["post_without_id"] += 1
        else:
            if run.post_ids[seq] is None:
                run.post_ids[seq] = post_id
            elif run.post_ids[seq] != post_id:
                run.errors["post_id_differs"] += 1
            if post_id < viewer.last_post_id:
                run.reordered += 1
            viewer.last_post_id = max(viewer.last_post_id, post_id)
        run.arrived(seq, viewer.index, now)

    # ---- posting ----------------------------------------------------------------------------

    def plan(self, number: int, offsets: list[float], start: float, keep: bool) -> Run:
        tags = [f"{self.token}.{number}.{seq}" for seq in range(len(offsets))]
        run = Run(
            number=number,
            due=[start + offset for offset in offsets],
            content=[
                f"{POST_PREFIX}{tag}: is **line {seq % 9}** back up after the night shift?"
                for seq, tag in enumerate(tags)
            ],
            tags=tags,
            expected=[viewer.index for viewer in self.viewers if self.is_open(viewer)],
            viewers=len(self.viewers),
            keep_frames=keep,
        )
        self.runs[number] = run
        return run

    async def send_frame(self, run: Run, seq: int) -> None:
        frame = {"type": "new_post", "content": run.content[seq]}
        await self.send_json(run, seq, self.poster, frame)

    async def send_request(
        self, run: Run, seq: int, limit: asyncio.Semaphore, wait_s: float
    ) -> None:
        loop = asyncio.get_running_loop()
        answer = await self.post(
            run,
            seq,
            f"/api/v1/forums/topics/{self.topic_id}/posts",
            {"content": run.content[seq]},
            self.cookie(self.poster),
            limit=limit,
            wait_s=wait_s,
        )
        if answer is None:
            return
        try:
            body = json.loads(answer)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("content") != run.content[seq]:
            run.errors["http_wrong_answer"] += 1
        if run.keep_frames:
            run.frames.append((self.poster.index, {"type": "http_201", "body": body}))
        run.acked[seq] = loop.time()

    def report(
        self, run: Run, started: float, drained_at: float, finished: float, cpu: float
    ) -> dict[str, Any]:
        count = len(run.due)
        expected = run.expected
        # Per post: its first and last receivers (the last only when every expected viewer has
        # it), from the due time.
        first_ms, last_ms, pairs_ms = [], [], []
        lost_pairs = incomplete = unseen = 0
        for seq in range(count):
            due = run.due[seq]
            arrivals = [run.received[seq][index] for index in expected]
            present = [moment for moment in arrivals if not math.isnan(moment)]
            pairs_ms += [(moment - due) * 1000 for moment in present]
            missing = len(arrivals) - len(present)
            lost_pairs += missing
            if present:
                first_ms.append(round((min(present) - due) * 1000, 3))
            else:
                unseen += 1
            if missing:
                incomplete += 1
            elif present:
                last_ms.append(round((max(present) - due) * 1000, 3))
        errors = self.take_errors(run)
        late = self.take_late()
        window = (run.due[-1] - run.due[0]) if count > 1 else 0.0
        elapsed = finished - started
        result = {
            "run": run.number,
            "scheduled": count,
            "sent": run.sent,
            "acked": sum(1 for moment in run.acked if moment is not None),
            "refused": sum(run.refused),
            "viewers_expected": len(expected),
            "viewers_open_at_end": sum(1 for viewer in self.viewers if self.is_open(viewer)),
            "pairs_expected": count * len(expected),
            "pairs_delivered": len(pairs_ms),
            "lost": lost_pairs,
            "posts_incomplete": incomplete,
            "posts_unseen": unseen,
            "duplicated": run.duplicated,
            "reordered": run.reordered,
            # Per post, in order: the fan-out latency (last receiver; complete posts only) and
            # the first receiver's.
            "fanout_ms": last_ms,
            "first_ms": first_ms,
            "fanout_latency_ms": latency_summary(last_ms),
            "first_latency_ms": latency_summary(first_ms),
            "delivery_latency_ms": latency_summary(pairs_ms),
            "ack_latency_ms": latency_summary(
                [
                    (moment - run.due[seq]) * 1000
                    for seq, moment in enumerate(run.acked)
                    if moment is not None
                ]
            ),
            "post_ids": [run.post_ids[0], run.post_ids[-1]] if count else None,
            "errors": errors,
            "frames": self.take_frames(),
            "late_frames_of_earlier_runs": late,
            "max_send_lag_ms": round(run.max_lag * 1000, 3),
            "peak_open_requests": run.requests.peak,
            "window_s": round(window, 3),
            "drain_s": round(drained_at - (run.due[-1] if run.due else drained_at), 3),
            "elapsed_s": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3),
            "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None,
        }
        if run.keep_frames:
            result["frames_seen"] = [
                {"viewer": index, "frame": frame} for index, frame in run.frames
            ]
        return result

    async def run_load(self, command: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        number = self.next_run
        rate = float(command["rate"])
        offsets = (
            schedule(rate, command["duration"], command["arrival"], number) if rate > 0 else []
        )
        run = self.plan(number, offsets, loop.time() + 0.05, keep=False)
        hold_s = float(command["duration"]) if command.get("hold") else 0.0
        result = await self.execute(run, command["timeout"], command["drain_limit"], hold_s)
        return {"rate": rate, "arrival": command["arrival"], **result}

    async def probe(self, command: dict[str, Any]) -> dict[str, Any]:
        """One post, checked exactly at every viewer."""
        loop = asyncio.get_running_loop()
        wait_s = command.get("timeout", 10)
        run = self.plan(self.next_run, [0.0], loop.time() + 0.01, keep=True)
        result = await self.execute(run, wait_s, wait_s)
        result["problem"] = self.check_probe(run)
        # Every frame would be a lot: keep the poster's and one other viewer's.
        result["frames_seen"] = [
            seen for seen in result.get("frames_seen", []) if seen["viewer"] in {0, 1}
        ]
        return result

    def check_probe(self, run: Run) -> str | None:
        if run.errors:
            return f"errors: {dict(run.errors)}"
        if not run.expected:
            return "no viewer is connected"
        created = [(index, frame) for index, frame in run.frames if frame["type"] == "post_created"]
        by_viewer = Counter(index for index, _ in created)
        missing = [index for index in run.expected if by_viewer[index] != 1]
        if missing:
            return (
                f"{len(missing)} viewers did not get exactly one post_created (viewer "
                f"{missing[0]} got {by_viewer[missing[0]]})"
            )
        if run.post_ids[0] is None:
            return "post_created carries no post id"
        frame = next(frame for index, frame in created if index == self.poster.index)
        post = frame["post"]
        checks = {
            "topic_id": (frame.get("topic_id"), self.topic_id),
            "post.topic_id": (post.get("topic_id"), self.topic_id),
            "post.content": (post.get("content"), run.content[0]),
            "post.author.id": ((post.get("author") or {}).get("id"), self.poster.id),
            "post.is_deleted": (post.get("is_deleted"), False),
            "post.reply_to": (post.get("reply_to"), None),
        }
        for name, (value, expected) in checks.items():
            if value != expected:
                return f"post_created {name} is {value!r}, expected {expected!r}"
        html = str(post.get("content_html"))
        if self.mode.rendered and "<strong>line 0</strong>" not in html:
            return f"post.content_html is not the rendered Markdown: {html!r}"
        if self.mode.send == "http":
            answers = [frame for _, frame in run.frames if frame["type"] == "http_201"]
            if len(answers) != 1 or (answers[0]["body"] or {}).get("id") != run.post_ids[0]:
                return f"the POST's answers {answers!r} do not name post {run.post_ids[0]}"
        return None

    async def serve(self) -> None:
        await serve_commands(
            {
                "connect": self.connect_all,
                "settle": self.settle,
                "probe": self.probe,
                "run": self.run_load,
                "close": lambda command: self.close(),
            },
            token=self.token,
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_load_arguments(
        argv, prog="python -m bench.forumload", description=__doc__, modes=MODES
    )


def main(argv: list[str] | None = None) -> int:
    asyncio.run(Generator(parse_args(argv)).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
