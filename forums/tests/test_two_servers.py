"""Two web processes behind one load balancer: two Daphne servers sharing PostgreSQL and Redis.
A viewer on one server sees posts made through the other, and presence counts both."""

import asyncio
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect

from accounts.models import User
from forums import presence, services
from forums.models import Post, Topic
from p2p_sandbox.testing import (
    BIN,
    RunningProcess,
    free_port,
    process_env,
    start_process,
    wait_for_child_connections_to_close,
    wait_for_health,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10
Frame = dict[str, Any]


@dataclass
class Server:
    url: str
    running: RunningProcess

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


def start_daphne(name: str, log_path: Path) -> Server:
    port = free_port()
    running = start_process(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "p2p_sandbox.asgi:application"],
        env=process_env(name),
        log_path=log_path,
    )
    server = Server(f"http://127.0.0.1:{port}", running)

    wait_for_health(running, server.url, name=f"Daphne {name}")
    return server


@pytest.fixture(scope="module")
def two_servers(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    names = ("p2p-test-forum-a", "p2p-test-forum-b")
    logs = tmp_path_factory.mktemp("forum-daphne")
    servers: list[Server] = []
    try:
        with django_db_blocker.unblock():
            for name in names:
                servers.append(start_daphne(name, logs / f"{name}.log"))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.running.stop()
        with django_db_blocker.unblock():
            for name in names:
                wait_for_child_connections_to_close(name)


@pytest.fixture(autouse=True)
def no_presence_left_over() -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(f"{presence.KEY_PREFIX}:*"):
        client.delete(key)
    client.close()


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def open_thread(server: Server, topic: Topic, session: str) -> Any:
    return connect(
        f"{server.ws_url}/ws/forum/{topic.pk}/",
        origin=server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
        open_timeout=TIMEOUT,
    )


async def receive_until(socket: ClientConnection, done: Callable[[Frame], bool]) -> list[Frame]:
    frames: list[Frame] = []
    while not frames or not done(frames[-1]):
        frames.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT)))
    return frames


def presence_of(count: int) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == "presence" and frame["count"] == count


async def test_a_viewer_on_one_server_sees_a_post_made_through_the_other(
    two_servers: tuple[Server, Server], user_factory: Any, category_factory: Any
) -> None:
    server_a, server_b = two_servers
    alice = await sync_to_async(user_factory)(first_name="Alice", last_name="Haddad")
    bob = await sync_to_async(user_factory)(first_name="Bob", last_name="Saleh")
    category = await sync_to_async(category_factory)()
    topic = await sync_to_async(services.create_topic)(
        actor=alice, category=category, title="Which servo drive for the palletizer?"
    )
    alice_session = await sync_to_async(session_cookie)(alice)
    bob_session = await sync_to_async(session_cookie)(bob)
    csrf_token = secrets.token_hex(16)

    async with (
        open_thread(server_a, topic, alice_session) as alice_socket,
        open_thread(server_b, topic, bob_session) as bob_socket,
    ):
        alice_presence = await receive_until(alice_socket, presence_of(2))
        bob_presence = await receive_until(bob_socket, presence_of(2))
        async with httpx.AsyncClient(
            base_url=server_b.url,
            timeout=TIMEOUT,
            cookies={
                settings.SESSION_COOKIE_NAME: bob_session,
                settings.CSRF_COOKIE_NAME: csrf_token,
            },
        ) as http:
            response = await http.post(
                f"/api/v1/forums/topics/{topic.pk}/posts",
                json={"content": "The **Sigma-7** series, through server B"},
                headers={"X-CSRFToken": csrf_token},
            )
        alice_frames = await receive_until(alice_socket, lambda f: f["type"] == "post_created")
        bob_frames = await receive_until(bob_socket, lambda f: f["type"] == "post_created")
        await alice_socket.send(json.dumps({"type": "new_post", "content": "Thanks, from A"}))
        from_a = await receive_until(bob_socket, lambda f: f["type"] == "post_created")
        viewing = await sync_to_async(presence.get_viewer_ids)(topic.pk)
        await bob_socket.close()
        alice_after = await receive_until(alice_socket, presence_of(1))

    posts = [post async for post in Post.objects.filter(topic=topic).order_by("id")]
    assert response.status_code == 201
    assert [(post.author_id, post.content) for post in posts] == [
        (bob.pk, "The **Sigma-7** series, through server B"),
        (alice.pk, "Thanks, from A"),
    ]
    assert alice_presence[-1]["viewers"] == [
        {"id": alice.pk, "name": "Alice Haddad"},
        {"id": bob.pk, "name": "Bob Saleh"},
    ]
    assert bob_presence[-1] == alice_presence[-1]
    assert viewing == {alice.pk, bob.pk}
    assert alice_frames[-1]["post"]["id"] == response.json()["id"] == posts[0].pk
    assert alice_frames[-1]["post"]["content_html"] == (
        "<p>The <strong>Sigma-7</strong> series, through server B</p>"
    )
    assert bob_frames[-1] == alice_frames[-1]
    assert from_a[-1]["post"]["id"] == posts[1].pk
    assert alice_after[-1]["viewers"] == [{"id": alice.pk, "name": "Alice Haddad"}]
