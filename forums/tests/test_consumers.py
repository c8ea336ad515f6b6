"""The live forum sockets `/ws/forum/<topic_id>/` and `/ws/forum/all/` through the real ASGI
application (origin check, session auth, routing) on the Redis channel layer, with presence in
Redis.

Absence is proven with a barrier: a later event sent to the same group arrives as the next
frame, so anything wrongly sent before it would have come first.
"""

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import ChannelLock
from django.conf import settings
from django.test import Client

from accounts.consumers import UnknownTypeError
from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.tests.frames import unparsable_frames
from forums import consumers, events, presence, selectors, services
from forums.exceptions import InvalidContentError, InvalidReplyToError, TopicLockedError
from forums.models import Category, Post, Topic
from messaging.models import Notification
from p2p_sandbox.asgi import application

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT = 5
ALLOWED_ORIGIN = b"http://testserver"
Frame = dict[str, Any]


def signed_in_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Sockets:
    """Opens forum sockets and disconnects every one of them when the test ends."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def connect(
        self, path: str, cookie: str | None, *, origin: bytes = ALLOWED_ORIGIN
    ) -> tuple[WebsocketCommunicator, bool, int | None]:
        headers = [(b"origin", origin), (b"host", b"testserver")]
        if cookie is not None:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        self.opened.append(communicator)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        return communicator, connected, code

    async def open(self, user: User, topic: Topic) -> WebsocketCommunicator:
        """A signed-in viewer of `topic`, past the presence broadcast of its arrival."""
        client = await sync_to_async(signed_in_client)(user)
        return await self.open_with(session_cookie(client), topic)

    async def open_with(self, cookie: str, topic: Topic) -> WebsocketCommunicator:
        communicator, connected, code = await self.connect(f"/ws/forum/{topic.pk}/", cookie)
        assert (connected, code) == (True, None)
        await receive_until(communicator, lambda frame: frame["type"] == "presence")
        return communicator

    async def open_all(self, user: User) -> WebsocketCommunicator:
        client = await sync_to_async(signed_in_client)(user)
        communicator, connected, code = await self.connect("/ws/forum/all/", session_cookie(client))
        assert (connected, code) == (True, None)
        return communicator

    async def close_all(self) -> None:
        for communicator in self.opened:
            await communicator.disconnect(timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def fresh_receive_locks() -> None:
    """channels_redis keeps per-channel asyncio locks across event loops: a receive cancelled
    while it waited for one (a socket closed by the previous test) leaves that lock behind,
    bound to the previous test's loop, and the next receive on it fails."""
    get_channel_layer().receive_clean_locks = ChannelLock()


@pytest.fixture(autouse=True)
def immediate_presence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every join and leave is broadcast at once (coalescing is tested in test_presence.py),
    starting from no presence left by earlier runs."""
    monkeypatch.setattr(consumers, "PRESENCE_BROADCAST_INTERVAL", 0)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(f"{presence.KEY_PREFIX}:*"):
        client.delete(key)
    client.close()


@pytest.fixture
async def sockets(transactional_db: None) -> AsyncIterator[Sockets]:
    opened = Sockets()
    try:
        yield opened
    finally:
        await opened.close_all()


@pytest.fixture
def alice(user_factory: Any) -> User:
    return user_factory(first_name="Alice", last_name="Haddad")


@pytest.fixture
def bob(user_factory: Any) -> User:
    return user_factory(first_name="Bob", last_name="Saleh")


@pytest.fixture
def carol(user_factory: Any) -> User:
    return user_factory(first_name="Carol", last_name="Nasser")


@pytest.fixture
def category(category_factory: Any) -> Category:
    return category_factory()


@pytest.fixture
def topic(category: Category, alice: User) -> Topic:
    return services.create_topic(
        actor=alice, category=category, title="Kiln 3 overshoots after restart"
    )


async def receive_until(
    communicator: WebsocketCommunicator, done: Callable[[Frame], bool]
) -> list[Frame]:
    """Every frame up to and including the first for which `done` holds."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        frames.append(frame)
        if done(frame):
            return frames


def post_created_for(post: Post) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == "post_created" and frame["post"]["id"] == post.pk


async def reply(actor: User, topic: Topic, content: str, **fields: Any) -> Post:
    return await sync_to_async(services.create_post)(
        actor=actor, topic_id=topic.pk, content=content, **fields
    )


async def created(post: Post) -> Frame:
    """The `post_created` event every viewer gets for `post`."""
    stored = await sync_to_async(selectors.post_queryset().get)(pk=post.pk)
    return {"type": "post_created", "topic_id": post.topic_id, "post": events.post_payload(stored)}


def post_ids(frames: list[Frame]) -> list[int]:
    return [frame["post"]["id"] for frame in frames if frame["type"] == "post_created"]


async def receive_close(communicator: WebsocketCommunicator) -> Frame:
    return await communicator.receive_output(timeout=TIMEOUT)


# Connecting


async def test_topic_socket_refuses_an_anonymous_socket_with_4401(
    sockets: Sockets, topic: Topic
) -> None:
    _, connected, code = await sockets.connect(f"/ws/forum/{topic.pk}/", None)
    _, all_connected, all_code = await sockets.connect("/ws/forum/all/", None)

    assert (connected, code) == (False, 4401)
    assert (all_connected, all_code) == (False, 4401)
    assert presence.get_viewer_ids(topic.pk) == set()


async def test_topic_socket_refuses_a_signed_out_or_deactivated_session_with_4401(
    sockets: Sockets, topic: Topic, bob: User, carol: User
) -> None:
    signed_out = await sync_to_async(signed_in_client)(bob)
    cookie = session_cookie(signed_out)
    await sync_to_async(signed_out.logout)()
    deactivated = await sync_to_async(signed_in_client)(carol)
    await User.objects.filter(pk=carol.pk).aupdate(is_active=False)

    _, after_logout, logout_code = await sockets.connect(f"/ws/forum/{topic.pk}/", cookie)
    _, inactive, inactive_code = await sockets.connect(
        f"/ws/forum/{topic.pk}/", session_cookie(deactivated)
    )

    assert (after_logout, logout_code) == (False, 4401)
    assert (inactive, inactive_code) == (False, 4401)


async def test_topic_socket_refuses_an_unverified_user_with_4403(
    sockets: Sockets, topic: Topic, user_factory: Any
) -> None:
    unverified = await sync_to_async(user_factory)(unverified=True)
    client = await sync_to_async(signed_in_client)(unverified)

    _, connected, code = await sockets.connect(f"/ws/forum/{topic.pk}/", session_cookie(client))
    _, all_connected, all_code = await sockets.connect("/ws/forum/all/", session_cookie(client))

    assert (connected, code) == (False, 4403)
    assert (all_connected, all_code) == (False, 4403)
    assert presence.get_viewer_ids(topic.pk) == set()


async def test_topic_socket_refuses_a_foreign_origin_even_with_a_valid_session(
    sockets: Sockets, topic: Topic, bob: User
) -> None:
    client = await sync_to_async(signed_in_client)(bob)

    _, connected, _ = await sockets.connect(
        f"/ws/forum/{topic.pk}/", session_cookie(client), origin=b"https://evil.example"
    )
    _, all_connected, _ = await sockets.connect(
        "/ws/forum/all/", session_cookie(client), origin=b"https://evil.example"
    )

    assert connected is False
    assert all_connected is False
    assert presence.get_viewer_ids(topic.pk) == set()


async def test_topic_socket_refuses_a_missing_or_deleted_topic_with_4404(
    sockets: Sockets, topic: Topic, alice: User, bob: User, user_factory: Any
) -> None:
    staff = await sync_to_async(user_factory)(is_staff=True)
    await sync_to_async(services.delete_topic)(actor=alice, topic_id=topic.pk)
    client = await sync_to_async(signed_in_client)(bob)

    _, missing, missing_code = await sockets.connect(
        f"/ws/forum/{topic.pk + 1000}/", session_cookie(client)
    )
    _, deleted, deleted_code = await sockets.connect(
        f"/ws/forum/{topic.pk}/", session_cookie(client)
    )
    staff_tab = await sockets.open(staff, topic)

    assert (missing, missing_code) == (False, 4404)
    assert (deleted, deleted_code) == (False, 4404)
    assert presence.get_viewer_ids(topic.pk) == {staff.pk}
    assert staff_tab is not None


# Posting


async def test_topic_socket_post_reaches_every_viewer_the_sender_too(
    sockets: Sockets, topic: Topic, alice: User, bob: User, carol: User
) -> None:
    alice_tab = await sockets.open(alice, topic)
    bob_tab = await sockets.open(bob, topic)
    await receive_until(alice_tab, lambda frame: frame["type"] == "presence")

    await bob_tab.send_json_to({"type": "new_post", "content": "Check the **derivative** gain."})
    bob_frames = await receive_until(bob_tab, lambda frame: frame["type"] == "post_created")
    alice_frames = await receive_until(alice_tab, lambda frame: frame["type"] == "post_created")

    post = await Post.objects.aget(topic=topic)
    assert (post.author_id, post.content) == (bob.pk, "Check the **derivative** gain.")
    assert bob_frames == [await created(post)]
    assert alice_frames == [await created(post)]
    assert alice_frames[0]["post"]["content_html"] == (
        "<p>Check the <strong>derivative</strong> gain.</p>"
    )
    assert alice_frames[0]["post"]["author"]["id"] == bob.pk


async def test_topic_socket_reply_over_the_socket_quotes_the_post_replied_to(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    first = await reply(alice, topic, "Which burner model?")
    bob_tab = await sockets.open(bob, topic)

    await bob_tab.send_json_to(
        {"type": "new_post", "content": "The old one.", "reply_to": first.pk}
    )
    frames = await receive_until(bob_tab, lambda frame: frame["type"] == "post_created")

    post = await Post.objects.aget(author=bob)
    assert post.reply_to_id == first.pk
    assert frames[0]["post"]["reply_to"] == {
        "id": first.pk,
        "author_name": "Alice Haddad",
        "excerpt": "Which burner model?",
    }


async def test_topic_socket_post_over_http_reaches_every_viewer(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    alice_tab = await sockets.open(alice, topic)
    bob_tab = await sockets.open(bob, topic)
    await receive_until(alice_tab, lambda frame: frame["type"] == "presence")
    client = await sync_to_async(signed_in_client)(bob)

    response = await sync_to_async(client.post)(
        f"/api/v1/forums/topics/{topic.pk}/posts",
        {"content": "Posted over *HTTP*"},
        content_type="application/json",
    )
    alice_frames = await receive_until(alice_tab, lambda frame: frame["type"] == "post_created")
    bob_frames = await receive_until(bob_tab, lambda frame: frame["type"] == "post_created")

    post = await Post.objects.aget(topic=topic)
    assert response.status_code == 201
    assert response.json()["id"] == post.pk
    assert alice_frames == [await created(post)]
    assert bob_frames == [await created(post)]
    assert alice_frames[0]["post"]["content_html"] == "<p>Posted over <em>HTTP</em></p>"


async def test_topic_socket_bad_post_answers_an_error_and_stores_nothing(
    sockets: Sockets, topic: Topic, alice: User, bob: User, user_factory: Any
) -> None:
    staff = await sync_to_async(user_factory)(is_staff=True)
    locked = await sync_to_async(services.create_topic)(
        actor=alice, category=topic.category_id, title="A locked topic for the test"
    )
    await sync_to_async(services.set_locked)(actor=staff, topic_id=locked.pk, locked=True)
    alice_tab = await sockets.open(alice, topic)
    bob_tab = await sockets.open(bob, topic)
    locked_tab = await sockets.open(bob, locked)
    await receive_until(alice_tab, lambda frame: frame["type"] == "presence")

    answers = []
    for frame in (
        {"type": "new_post", "content": "   "},
        {"type": "new_post", "content": "x" * 5001},
        {"type": "new_post", "content": 42},
        {"type": "new_post"},
        {"type": "new_post", "content": "Fine text", "reply_to": 999_999},
        {"type": "new_post", "content": "Fine text", "reply_to": "7"},
    ):
        await bob_tab.send_json_to(frame)
        answers.append(await bob_tab.receive_json_from(timeout=TIMEOUT))
    await locked_tab.send_json_to({"type": "new_post", "content": "Let me in"})
    locked_answer = await locked_tab.receive_json_from(timeout=TIMEOUT)
    barrier = await reply(alice, topic, "Barrier")
    alice_frames = await receive_until(alice_tab, post_created_for(barrier))

    invalid_content = {
        "type": "error",
        "code": "invalid_content",
        "detail": InvalidContentError.message,
    }
    assert answers[:4] == [invalid_content] * 4
    assert answers[4] == {
        "type": "error",
        "code": "invalid_reply_to",
        "detail": InvalidReplyToError.message,
    }
    assert (answers[5]["type"], answers[5]["code"]) == ("error", "invalid_frame")
    assert locked_answer == {
        "type": "error",
        "code": "topic_locked",
        "detail": TopicLockedError.message,
    }
    assert [frame["type"] for frame in alice_frames] == ["post_created"]
    assert await Post.objects.filter(author=bob).acount() == 0
    refreshed = await Topic.objects.aget(pk=topic.pk)
    assert refreshed.reply_count == 1


async def test_topic_socket_answers_malformed_and_unknown_frames_with_errors(
    sockets: Sockets, topic: Topic, bob: User
) -> None:
    tab = await sockets.open(bob, topic)

    await tab.send_to(text_data="{not json")
    not_json = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to(["resume"])
    not_an_object = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "dance"})
    unknown = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume"})
    no_after = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "after": 2**70})
    huge_after = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "after": True})
    boolean_after = await tab.receive_json_from(timeout=TIMEOUT)

    assert [
        frame["code"] for frame in (not_json, not_an_object, no_after, huge_after, boolean_after)
    ] == ["invalid_frame"] * 5
    assert unknown == {
        "type": "error",
        "code": "unknown_type",
        "detail": UnknownTypeError.message,
    }


# Resuming


async def test_topic_socket_resume_sends_exactly_the_missed_posts_then_resumed(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    seen = await reply(alice, topic, "Seen before the page loaded")
    missed = [await reply(alice, topic, text) for text in ("Missed one", "Missed two")]
    await sync_to_async(services.delete_post)(actor=alice, post_id=missed[0].pk)
    tab = await sockets.open(bob, topic)

    await tab.send_json_to({"type": "resume", "after": seen.pk})
    replay = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    live = await reply(alice, topic, "After the resume")
    after = await receive_until(tab, post_created_for(live))

    assert replay == [
        await created(missed[0]),
        await created(missed[1]),
        {"type": "resumed", "topic_id": topic.pk, "last_post_id": missed[1].pk},
    ]
    assert replay[0]["post"]["is_deleted"] is True
    assert (replay[0]["post"]["content"], replay[0]["post"]["content_html"]) == ("", "")
    assert after == [await created(live)]


async def test_topic_socket_resume_overlapping_live_posts_sends_each_post_once(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    before = [await reply(alice, topic, text) for text in ("one", "two")]
    tab = await sockets.open(bob, topic)
    live = await reply(alice, topic, "three")
    live_frames = await receive_until(tab, post_created_for(live))

    await tab.send_json_to({"type": "resume", "after": 0})
    replay = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    await tab.send_json_to({"type": "resume", "after": before[0].pk})
    again = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    barrier = await reply(alice, topic, "four")
    rest = await receive_until(tab, post_created_for(barrier))

    assert post_ids(live_frames) == [live.pk]
    assert post_ids(replay) == [post.pk for post in before]
    assert replay[-1] == {"type": "resumed", "topic_id": topic.pk, "last_post_id": live.pk}
    assert again == [{"type": "resumed", "topic_id": topic.pk, "last_post_id": live.pk}]
    assert post_ids(rest) == [barrier.pk]


async def test_topic_socket_drops_the_live_copy_of_a_post_committed_during_the_resume_query(
    sockets: Sockets, topic: Topic, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    missed = await reply(alice, topic, "one")
    tab = await sockets.open(bob, topic)
    list_posts = selectors.list_posts
    racing: list[Post] = []

    def commit_a_post_then_list(user: User, topic_id: int, **kwargs: Any) -> list[Post]:
        if not racing:
            # Committed and sent to the group while the consumer is busy with this resume: the
            # live copy is handled after it, and the query below already returns the post.
            racing.append(services.create_post(actor=alice, topic_id=topic_id, content="two"))
        return list_posts(user, topic_id, **kwargs)

    monkeypatch.setattr(selectors, "list_posts", commit_a_post_then_list)
    await tab.send_json_to({"type": "resume", "after": 0})
    frames = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    barrier = await reply(alice, topic, "three")
    frames += await receive_until(tab, post_created_for(barrier))

    assert post_ids(frames) == [missed.pk, racing[0].pk, barrier.pk]
    assert frames[2] == {"type": "resumed", "topic_id": topic.pk, "last_post_id": racing[0].pk}


async def test_topic_socket_resume_pages_through_posts_and_asks_for_a_resync_past_the_limit(
    sockets: Sockets, topic: Topic, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = [await reply(alice, topic, f"Reply {n}") for n in range(5)]
    tab = await sockets.open(bob, topic)
    monkeypatch.setattr(consumers, "RESUME_PAGE_SIZE", 2)
    monkeypatch.setattr(consumers, "RESUME_LIMIT", 4)

    await tab.send_json_to({"type": "resume", "after": 0})
    too_far = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "after": posts[0].pk})
    paged = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    await tab.send_json_to({"type": "resume", "after": posts[-1].pk + 1000})
    ahead = await tab.receive_json_from(timeout=TIMEOUT)

    resync = {"type": "resync_required", "topic_id": topic.pk, "last_post_id": posts[-1].pk}
    assert too_far == resync
    assert post_ids(paged) == [post.pk for post in posts[1:]]
    assert ahead == resync


async def test_topic_socket_fills_a_gap_left_by_lost_live_copies_from_the_database(
    sockets: Sockets, topic: Topic, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = await sockets.open(bob, topic)
    deliver = events.send_to_group
    monkeypatch.setattr(events, "send_to_group", lambda group, event: None)
    lost = [await reply(alice, topic, text) for text in ("lost one", "lost two")]
    last = await reply(alice, topic, "three")
    monkeypatch.setattr(events, "send_to_group", deliver)
    # The one live copy that arrives names the post before it: the socket sees the gap.
    await sync_to_async(events.send_to_group)(
        events.topic_group(topic.pk), {**await created(last), "previous_post_id": lost[1].pk}
    )
    frames = await receive_until(tab, post_created_for(last))
    barrier = await reply(alice, topic, "four")
    frames += await receive_until(tab, post_created_for(barrier))

    assert post_ids(frames) == [lost[0].pk, lost[1].pk, last.pk, barrier.pk]
    assert frames[2] == await created(last)
    assert "previous_post_id" not in frames[3]


async def test_topic_socket_sends_a_live_copy_that_arrives_after_a_newer_post_once(
    sockets: Sockets, topic: Topic, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two web processes publishing at once: the copies may cross on the way."""
    tab = await sockets.open(bob, topic)
    deliver = events.send_to_group
    monkeypatch.setattr(events, "send_to_group", lambda group, event: None)
    first, second = [await reply(alice, topic, text) for text in ("first", "second")]
    monkeypatch.setattr(events, "send_to_group", deliver)
    group = events.topic_group(topic.pk)
    for post in (second, first, second, first):
        await sync_to_async(events.send_to_group)(group, await created(post))
    barrier = await reply(alice, topic, "third")
    frames = await receive_until(tab, post_created_for(barrier))
    await tab.send_json_to({"type": "resume", "after": 0})
    replay = await receive_until(tab, lambda frame: frame["type"] == "resumed")

    assert post_ids(frames) == [second.pk, first.pk, barrier.pk]
    assert replay == [{"type": "resumed", "topic_id": topic.pk, "last_post_id": barrier.pk}]


# Typing and presence


async def test_typing_reaches_the_other_viewers_once_per_two_seconds_and_not_the_typist(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    alice_tab = await sockets.open(alice, topic)
    alice_phone = await sockets.open(alice, topic)
    bob_tab = await sockets.open(bob, topic)
    for tab in (alice_tab, alice_phone):
        await receive_until(tab, lambda frame: frame["type"] == "presence" and frame["count"] == 2)

    await alice_tab.send_json_to({"type": "typing"})
    await alice_tab.send_json_to({"type": "typing"})
    first = await bob_tab.receive_json_from(timeout=TIMEOUT)
    await bob_tab.send_json_to({"type": "typing"})
    alice_frames = await receive_until(alice_tab, lambda frame: frame["type"] == "typing")
    barrier = await reply(alice, topic, "Barrier")
    bob_frames = await receive_until(bob_tab, post_created_for(barrier))
    phone_frames = await receive_until(alice_phone, post_created_for(barrier))

    typing_of = {"type": "typing", "topic_id": topic.pk}
    assert first == {**typing_of, "user": {"id": alice.pk, "name": "Alice Haddad"}}
    assert alice_frames == [{**typing_of, "user": {"id": bob.pk, "name": "Bob Saleh"}}]
    assert [frame["type"] for frame in bob_frames] == ["post_created"]
    assert phone_frames == [
        {**typing_of, "user": {"id": bob.pk, "name": "Bob Saleh"}},
        await created(barrier),
    ]


async def test_presence_counts_viewers_as_they_come_and_go(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)
    communicator, _, _ = await sockets.connect(f"/ws/forum/{topic.pk}/", session_cookie(client))
    alone = await communicator.receive_json_from(timeout=TIMEOUT)
    bob_tab = await sockets.open(bob, topic)
    together = await communicator.receive_json_from(timeout=TIMEOUT)
    bob_phone = await sockets.open(bob, topic)
    second_tab = await communicator.receive_json_from(timeout=TIMEOUT)
    viewing_before = presence.get_viewer_ids(topic.pk)

    await bob_tab.disconnect(timeout=TIMEOUT)
    one_tab_left = await communicator.receive_json_from(timeout=TIMEOUT)
    await bob_phone.disconnect(timeout=TIMEOUT)
    bob_gone = await communicator.receive_json_from(timeout=TIMEOUT)

    alice_seen = {"id": alice.pk, "name": "Alice Haddad"}
    bob_seen = {"id": bob.pk, "name": "Bob Saleh"}
    both = {"type": "presence", "topic_id": topic.pk, "count": 2, "viewers": [alice_seen, bob_seen]}
    alone_frame = {"type": "presence", "topic_id": topic.pk, "count": 1, "viewers": [alice_seen]}
    assert alone == alone_frame
    assert together == both
    assert second_tab == both
    assert one_tab_left == both
    assert bob_gone == alone_frame
    assert viewing_before == {alice.pk, bob.pk}
    assert presence.get_viewer_ids(topic.pk) == {alice.pk}


async def test_presence_of_a_viewer_skips_their_reply_notification(
    sockets: Sockets, topic: Topic, alice: User, bob: User, carol: User
) -> None:
    """Alice follows her topic; while she views it a reply does not notify her."""
    await sockets.open(alice, topic)

    await reply(bob, topic, "Replied while Alice watches")
    await sync_to_async(services.set_subscription)(
        actor=carol, topic_id=topic.pk, level="following"
    )
    await reply(bob, topic, "Carol is not watching")

    recipients = [n.recipient_id async for n in Notification.objects.order_by("id")]
    assert recipients == [carol.pk]


# The list socket and sessions ending


async def test_all_topics_socket_relays_new_topics(
    sockets: Sockets, category: Category, alice: User, bob: User
) -> None:
    tab = await sockets.open_all(bob)

    topic = await sync_to_async(services.create_topic)(
        actor=alice, category=category, title="Which vision sensor for labels?"
    )
    frame = await tab.receive_json_from(timeout=TIMEOUT)

    listed = await sync_to_async(selectors.topic_queryset().get)(pk=topic.pk)
    assert frame == {
        "type": "topic_created",
        "topic_id": topic.pk,
        "topic": events.topic_list_item_payload(listed),
    }
    assert frame["topic"]["title"] == "Which vision sensor for labels?"


async def test_logout_closes_the_users_forum_sockets_with_4001(
    sockets: Sockets, topic: Topic, alice: User, bob: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)
    thread = await sockets.open_with(session_cookie(client), topic)
    bob_tab = await sockets.open(bob, topic)
    await receive_until(thread, lambda frame: frame["type"] == "presence" and frame["count"] == 2)
    communicator, _, _ = await sockets.connect("/ws/forum/all/", session_cookie(client))

    response = await sync_to_async(client.post)("/api/v1/auth/logout")
    thread_closed = await receive_close(thread)
    list_closed = await receive_close(communicator)
    barrier = await reply(bob, topic, "Still here?")
    bob_frames = await receive_until(bob_tab, post_created_for(barrier))

    assert response.status_code == 204
    assert thread_closed == {"type": "websocket.close", "code": 4001}
    assert list_closed == {"type": "websocket.close", "code": 4001}
    assert bob_frames[-1] == await created(barrier)


async def test_password_change_closes_the_users_forum_socket_with_4001(
    sockets: Sockets, topic: Topic, alice: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)
    thread = await sockets.open_with(session_cookie(client), topic)

    response = await sync_to_async(client.post)(
        "/api/v1/users/me/password",
        {"current_password": PASSWORD, "new_password": "Fresh-Bearings-42"},
        content_type="application/json",
    )
    closed = await receive_close(thread)

    assert response.status_code == 204
    assert closed == {"type": "websocket.close", "code": 4001}


TOPIC_BAD_FRAMES = unparsable_frames("new_post")


@pytest.mark.parametrize("text", TOPIC_BAD_FRAMES.values(), ids=TOPIC_BAD_FRAMES.keys())
async def test_topic_socket_answers_an_unparsable_frame_with_invalid_frame_and_stays_open(
    sockets: Sockets, topic: Topic, bob: User, text: str
) -> None:
    tab = await sockets.open(bob, topic)

    await tab.send_to(text_data=text)
    answer = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "new_post", "content": "Still here."})
    frames = await receive_until(tab, lambda frame: frame["type"] == "post_created")

    assert (answer["type"], answer["code"]) == ("error", "invalid_frame")
    assert [frame["post"]["content"] for frame in frames] == ["Still here."]
    assert [post.content async for post in Post.objects.filter(topic=topic)] == ["Still here."]
