"""A Redis outage under the real server: the test's own Redis (channel layer, cache and broker of
the Daphne it starts) is stopped and started again while two people exchange direct messages and
forum posts over sockets and over HTTP.

Sends over HTTP keep working during the outage (the database is the source of truth); sockets
may drop and their sends fail. Once Redis is back each client reconnects and sends `resume` with
the last id it holds, and every message and post that was stored reaches the other person
exactly once.
"""

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from accounts.models import User
from forums import services
from forums.models import Post, Topic
from messaging.models import Message
from p2p_sandbox.testing import (
    BIN,
    RedisServer,
    free_port,
    process_env,
    redis_server,
    start_process,
    wait_for_child_connections_to_close,
    wait_for_health,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10
DAPHNE_NAME = "p2p-test-outage-daphne"
Frame = dict[str, Any]


@pytest.fixture
def outage_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def outage_daphne(outage_redis: RedisServer, tmp_path: Path) -> Iterator[str]:
    """The real ASGI application under Daphne, on the test database and the test's Redis; yields
    its URL."""
    port = free_port()
    running = start_process(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "p2p_sandbox.asgi:application"],
        env=process_env(
            DAPHNE_NAME,
            REDIS_URL=outage_redis.url,
            CELERY_BROKER_URL=outage_redis.url,
            TEST_CELERY_EAGER="0",
        ),
        log_path=tmp_path / "daphne.log",
    )
    url = f"http://127.0.0.1:{port}"

    try:
        wait_for_health(running, url, name="Daphne")
        yield url
    finally:
        running.stop()
        wait_for_child_connections_to_close(DAPHNE_NAME)


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@dataclass
class Person:
    """One person's browser: a stream socket, a thread socket and HTTP, and what reached it.

    `messages` and `posts` count the other person's messages and posts by content, per frame
    received; the last ids are what a page holds and sends in `resume`.
    """

    name: str
    user: User
    server_url: str
    topic_id: int
    session: str
    http: httpx.AsyncClient
    csrf_token: str
    other_id: int = 0
    stream: ClientConnection | None = None
    thread: ClientConnection | None = None
    readers: list[asyncio.Task] = field(default_factory=list)
    # None until the first `ready`: a page holds the stream's head from when it loaded.
    last_event_id: int | None = None
    last_post_id: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    posts: Counter[str] = field(default_factory=Counter)
    acknowledged_messages: set[str] = field(default_factory=set)
    acknowledged_posts: set[str] = field(default_factory=set)
    own_posts_seen: set[str] = field(default_factory=set)
    refused: list[Frame] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    attempted: set[str] = field(default_factory=set)
    number: int = 0
    resumed: set[str] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    # Sockets

    async def open(self, path: str) -> ClientConnection:
        ws_url = "ws" + self.server_url.removeprefix("http")
        return await connect(
            f"{ws_url}{path}",
            origin=self.server_url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.session}"},
            open_timeout=TIMEOUT,
        )

    async def connect(self, *, resume: bool) -> None:
        """Open both sockets; with `resume`, ask each for what came after the last id held and
        wait until it answers `resumed`."""
        self.resumed.clear()
        self.stream = await self.open("/ws/messaging/")
        self.thread = await self.open(f"/ws/forum/{self.topic_id}/")
        self.readers = [
            asyncio.create_task(self.read(self.stream, self.on_stream_frame)),
            asyncio.create_task(self.read(self.thread, self.on_thread_frame)),
        ]
        await self.wait(lambda: "ready" in self.resumed, "no ready on the stream")
        if resume:
            await self.stream.send(
                json.dumps({"type": "resume", "last_event_id": self.last_event_id or 0})
            )
            await self.thread.send(json.dumps({"type": "resume", "after": self.last_post_id}))
            await self.wait(
                lambda: {"stream", "thread"} <= self.resumed, f"{self.name} was not resumed"
            )

    async def read(self, socket: ClientConnection, on_frame: Callable[[Frame], None]) -> None:
        try:
            async for raw in socket:
                on_frame(json.loads(raw))
                async with self.changed:
                    self.changed.notify_all()
        except ConnectionClosed:
            pass
        async with self.changed:
            self.changed.notify_all()

    def on_stream_frame(self, frame: Frame) -> None:
        if frame["type"] == "ready":
            self.resumed.add("ready")
            if self.last_event_id is None:
                self.last_event_id = frame["last_event_id"]
        elif frame["type"] == "resumed":
            self.resumed.add("stream")
        elif frame["type"] == "sent":
            self.acknowledged_messages.add(frame["message"]["content"])
        elif frame["type"] in ("error", "resync_required"):
            self.refused.append(frame)
        if frame.get("event_id") is not None:
            self.last_event_id = max(self.last_event_id or 0, frame["event_id"])
        if frame["type"] == "new_message" and frame["message"]["sender"]["id"] == self.other_id:
            self.messages[frame["message"]["content"]] += 1

    def on_thread_frame(self, frame: Frame) -> None:
        if frame["type"] == "resumed":
            self.resumed.add("thread")
        elif frame["type"] in ("error", "resync_required"):
            self.refused.append(frame)
        elif frame["type"] == "post_created":
            post = frame["post"]
            self.last_post_id = max(self.last_post_id, post["id"])
            if post["author"]["id"] == self.other_id:
                self.posts[post["content"]] += 1
            else:
                self.own_posts_seen.add(post["content"])

    def sockets_open(self) -> bool:
        return not any(task.done() for task in self.readers)

    def sockets_stopped(self) -> bool:
        return all(task.done() for task in self.readers)

    async def wait(self, condition: Callable[[], bool], message: str) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(condition), timeout=TIMEOUT)
            except TimeoutError:
                raise AssertionError(message) from None

    async def close(self) -> None:
        for socket in (self.stream, self.thread):
            if socket is not None:
                await socket.close()
        await asyncio.gather(*self.readers)

    # Sending: each send is numbered, and answers whether it was acknowledged

    def next_number(self) -> int:
        self.number += 1
        return self.number

    async def send_everyway(self) -> list[bool]:
        return [
            await self.send_message_over_socket(self.next_number()),
            await self.send_post_over_socket(self.next_number()),
            await self.send_message_over_http(self.next_number()),
            await self.send_post_over_http(self.next_number()),
        ]

    async def send_message_over_socket(self, number: int) -> bool:
        content = f"{self.name} message {number}"
        self.attempted.add(content)
        frame = {
            "type": "send",
            "receiver_id": self.other_id,
            "content": content,
            "client_msg_id": f"{self.name}-{number}",
        }
        if not await self.try_send(self.stream, frame):
            return False
        await self.wait(
            lambda: content in self.acknowledged_messages or not self.sockets_open(),
            f"{content} was neither acknowledged nor refused",
        )
        return content in self.acknowledged_messages

    async def send_post_over_socket(self, number: int) -> bool:
        content = f"{self.name} post {number}"
        self.attempted.add(content)
        if not await self.try_send(self.thread, {"type": "new_post", "content": content}):
            return False
        await self.wait(
            lambda: content in self.own_posts_seen or not self.sockets_open(),
            f"{content} was neither acknowledged nor refused",
        )
        if content in self.own_posts_seen:
            self.acknowledged_posts.add(content)
        return content in self.acknowledged_posts

    async def try_send(self, socket: ClientConnection | None, frame: Frame) -> bool:
        if socket is None or not self.sockets_open():
            return False
        try:
            await socket.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    async def send_message_over_http(self, number: int) -> bool:
        content = f"{self.name} message {number}"
        self.attempted.add(content)
        response = await self.http.post(
            "/api/v1/messages",
            json={
                "receiverId": self.other_id,
                "content": content,
                "clientMsgId": f"{self.name}-{number}",
            },
            headers={"X-CSRFToken": self.csrf_token},
        )
        self.statuses.append(response.status_code)
        if response.status_code == 201:
            self.acknowledged_messages.add(content)
        return response.status_code == 201

    async def send_post_over_http(self, number: int) -> bool:
        content = f"{self.name} post {number}"
        self.attempted.add(content)
        response = await self.http.post(
            f"/api/v1/forums/topics/{self.topic_id}/posts",
            json={"content": content},
            headers={"X-CSRFToken": self.csrf_token},
        )
        self.statuses.append(response.status_code)
        if response.status_code == 201:
            self.acknowledged_posts.add(content)
        return response.status_code == 201


async def make_person(name: str, user: User, server_url: str, topic: Topic) -> Person:
    session = await sync_to_async(session_cookie)(user)
    csrf_token = secrets.token_hex(16)
    http = httpx.AsyncClient(
        base_url=server_url,
        timeout=TIMEOUT,
        cookies={settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf_token},
    )
    return Person(name, user, server_url, topic.pk, session, http, csrf_token)


def stored_contents(user: User, topic: Topic) -> tuple[Counter[str], Counter[str]]:
    messages = Message.objects.filter(sender=user).values_list("content", flat=True)
    posts = Post.objects.filter(topic=topic, author=user).values_list("content", flat=True)
    return Counter(messages), Counter(posts)


async def test_redis_outage_loses_and_duplicates_no_message_or_post(
    outage_redis: RedisServer,
    outage_daphne: str,
    user_factory: Any,
    organization_factory: Any,
    category_factory: Any,
) -> None:
    organization = await sync_to_async(organization_factory)()
    alice_user = await sync_to_async(user_factory)(organization=organization, first_name="Alice")
    bob_user = await sync_to_async(user_factory)(organization=organization, first_name="Bob")
    category = await sync_to_async(category_factory)()
    topic = await sync_to_async(services.create_topic)(
        actor=alice_user, category=category, title="Conveyor downtime during the Redis outage"
    )
    alice = await make_person("alice", alice_user, outage_daphne, topic)
    bob = await make_person("bob", bob_user, outage_daphne, topic)
    alice.other_id, bob.other_id = bob_user.pk, alice_user.pk
    people = (alice, bob)
    pairs = ((alice, bob), (bob, alice))

    try:
        for person in people:
            await person.connect(resume=False)
        before = [await person.send_everyway() for person in people]
        for person, other in pairs:
            await other.wait(
                lambda p=person, o=other: (
                    set(o.messages) == p.acknowledged_messages
                    and set(o.posts) == p.acknowledged_posts
                ),
                f"{other.name} did not get {person.name}'s sends live",
            )

        # The outage. A socket send racing the stop may or may not be stored and acknowledged;
        # the sockets must then drop (they no longer get live events), and HTTP sends succeed.
        outage_redis.stop()
        for person in people:
            await person.send_message_over_socket(person.next_number())
            await person.send_post_over_socket(person.next_number())
        for person in people:
            await person.wait(lambda p=person: p.sockets_stopped(), f"{person.name} still open")
        # A socket could not get live events now: it is refused at once, not left hanging.
        with pytest.raises(InvalidStatus):
            await alice.open("/ws/messaging/")
        statuses_before_outage = {person.name: len(person.statuses) for person in people}
        for _ in range(3):
            for person in people:
                await person.send_message_over_http(person.next_number())
                await person.send_post_over_http(person.next_number())
        during = {
            person.name: person.statuses[statuses_before_outage[person.name] :] for person in people
        }

        # Redis is back, empty: reconnect, resume, and send live again.
        outage_redis.start()
        for person in people:
            await person.connect(resume=True)
        after = [await person.send_everyway() for person in people]

        stored = {
            person.name: await sync_to_async(stored_contents)(person.user, topic)
            for person in people
        }
        # The last sends are live: once they are in, resume and live delivery are done.
        for person, other in pairs:
            messages, posts = stored[person.name]
            await other.wait(
                lambda o=other, m=messages, p=posts: (
                    set(o.messages) == set(m) and set(o.posts) == set(p)
                ),
                f"{other.name} did not get every stored send of {person.name}",
            )
    finally:
        for person in people:
            await person.close()
            await person.http.aclose()

    assert before == after == [[True] * 4, [True] * 4]
    assert during == {"alice": [201] * 6, "bob": [201] * 6}
    for person, other in pairs:
        messages, posts = stored[person.name]
        acknowledged = person.acknowledged_messages | person.acknowledged_posts
        # Only the two socket sends racing the stop may have gone unacknowledged.
        assert acknowledged <= set(messages) | set(posts) <= person.attempted
        assert len(person.attempted) == 16
        assert len(person.attempted - acknowledged) <= 2
        assert max(messages.values()) == max(posts.values()) == 1
        assert other.messages == messages
        assert other.posts == posts
        assert other.refused == []
