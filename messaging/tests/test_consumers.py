"""The personal stream `/ws/messaging/` through the real ASGI application (origin check, session
auth, routing) on the Redis channel layer.

Absence is proven with a barrier: a later event sent to the same group arrives as the next
frame, so anything wrongly sent before it would have come first.
"""

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import consumers as accounts_consumers
from accounts import middleware
from accounts.consumers import UnknownTypeError
from accounts.middleware import ACTIVE_AT, STARTED_AT
from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.tests.frames import unparsable_frames
from messaging import events, selectors, services
from messaging.exceptions import BlockedError, ConversationNotFoundError
from messaging.models import Message, Participant, StreamEvent
from messaging.services import InvalidContentError
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
    """Opens `/ws/messaging/` tabs and disconnects every one of them when the test ends."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def connect(
        self, cookie: str | None, *, origin: bytes = ALLOWED_ORIGIN
    ) -> tuple[WebsocketCommunicator, bool, int | None]:
        headers = [(b"origin", origin), (b"host", b"testserver")]
        if cookie is not None:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/messaging/", headers=headers)
        self.opened.append(communicator)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        return communicator, connected, code

    async def open(self, user: User) -> tuple[WebsocketCommunicator, Frame]:
        """A signed-in tab of `user`, past its `ready` and first `unread_counts`; answers the
        tab and its `ready` frame."""
        client = await sync_to_async(signed_in_client)(user)
        return await self.open_with(session_cookie(client))

    async def open_with(self, cookie: str) -> tuple[WebsocketCommunicator, Frame]:
        communicator, connected, code = await self.connect(cookie)
        assert (connected, code) == (True, None)
        ready = await communicator.receive_json_from(timeout=TIMEOUT)
        counts = await communicator.receive_json_from(timeout=TIMEOUT)
        assert ready["type"] == "ready"
        assert counts["type"] == "unread_counts"
        return communicator, ready

    async def close_all(self) -> None:
        for communicator in self.opened:
            await communicator.disconnect(timeout=TIMEOUT)


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


def new_message_for(message: Message) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == "new_message" and frame["message"]["id"] == message.pk


async def send(actor: User, content: str, **destination: int) -> Message:
    message, created = await sync_to_async(services.send_direct_message)(
        actor=actor, content=content, **destination
    )
    assert created is True
    return message


async def payload(message: Message) -> Frame:
    return await sync_to_async(events.message_payload)(
        await Message.objects.select_related("sender__organization").aget(pk=message.pk)
    )


def stored(frames: list[Frame]) -> list[tuple[str, int]]:
    return [(frame["type"], frame["event_id"]) for frame in frames if frame["event_id"]]


async def receive_close(communicator: WebsocketCommunicator) -> Frame:
    return await communicator.receive_output(timeout=TIMEOUT)


# Connecting


async def test_stream_ready_reports_the_head_of_the_stream_and_unread_counts(
    sockets: Sockets, alice: User, bob: User
) -> None:
    await send(alice, "one", receiver_id=bob.pk)
    await send(alice, "two", receiver_id=bob.pk)
    client = await sync_to_async(signed_in_client)(bob)

    tab, connected, code = await sockets.connect(session_cookie(client))
    ready = await tab.receive_json_from(timeout=TIMEOUT)
    counts = await tab.receive_json_from(timeout=TIMEOUT)

    assert (connected, code) == (True, None)
    assert ready == {"type": "ready", "event_id": None, "last_event_id": 2}
    assert counts == {
        "type": "unread_counts",
        "event_id": None,
        "messages": 2,
        "conversations": 1,
        "notifications": 0,
    }


async def test_stream_refuses_an_anonymous_socket_with_4401(sockets: Sockets) -> None:
    _, connected, code = await sockets.connect(None)

    assert (connected, code) == (False, 4401)


async def test_stream_refuses_a_signed_out_or_deactivated_session_with_4401(
    sockets: Sockets, alice: User, bob: User
) -> None:
    signed_out = await sync_to_async(signed_in_client)(alice)
    cookie = session_cookie(signed_out)
    await sync_to_async(signed_out.logout)()
    deactivated = await sync_to_async(signed_in_client)(bob)
    await User.objects.filter(pk=bob.pk).aupdate(is_active=False)

    _, after_logout, logout_code = await sockets.connect(cookie)
    _, inactive, inactive_code = await sockets.connect(session_cookie(deactivated))

    assert (after_logout, logout_code) == (False, 4401)
    assert (inactive, inactive_code) == (False, 4401)


async def test_stream_refuses_an_unverified_user_with_4403(
    sockets: Sockets, user_factory: Any
) -> None:
    unverified = await sync_to_async(user_factory)(unverified=True)
    client = await sync_to_async(signed_in_client)(unverified)

    _, connected, code = await sockets.connect(session_cookie(client))

    assert (connected, code) == (False, 4403)


async def test_stream_refuses_a_foreign_origin_even_with_a_valid_session(
    sockets: Sockets, alice: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)

    _, connected, _ = await sockets.connect(session_cookie(client), origin=b"https://evil.example")

    assert connected is False


# Delivery


async def test_new_message_reaches_every_tab_of_the_recipient_and_the_senders_other_tab(
    sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    bob_laptop, _ = await sockets.open(bob)
    bob_phone, _ = await sockets.open(bob)
    alice_tab, _ = await sockets.open(alice)
    carol_tab, _ = await sockets.open(carol)

    message = await send(alice, "How did the **rollout** go?", receiver_id=bob.pk)
    laptop = await receive_until(bob_laptop, lambda frame: frame["type"] == "unread_counts")
    phone = await receive_until(bob_phone, lambda frame: frame["type"] == "unread_counts")
    barrier = await send(alice, "And for you, Carol?", receiver_id=carol.pk)
    carol_frames = await receive_until(carol_tab, new_message_for(barrier))
    alice_frames = await receive_until(alice_tab, new_message_for(barrier))

    expected = [
        {"type": "new_message", "event_id": 1, "message": await payload(message)},
        {
            "type": "unread_counts",
            "event_id": None,
            "messages": 1,
            "conversations": 1,
            "notifications": 0,
            "conversation_id": message.conversation_id,
            "conversation_unread": 1,
        },
    ]
    assert laptop == expected
    assert phone == expected
    assert laptop[0]["message"]["content_html"] == "<p>How did the <strong>rollout</strong> go?</p>"
    assert carol_frames == [
        {"type": "new_message", "event_id": 1, "message": await payload(barrier)}
    ]
    assert alice_frames == [
        {"type": "new_message", "event_id": 1, "message": await payload(message)},
        {"type": "new_message", "event_id": 2, "message": await payload(barrier)},
    ]


async def test_stream_resume_replays_exactly_the_missed_events_in_order(
    sockets: Sockets, alice: User, bob: User
) -> None:
    tab, ready = await sockets.open(bob)
    seen = await send(alice, "first", receiver_id=bob.pk)
    live = await receive_until(tab, lambda frame: frame["type"] == "unread_counts")
    await tab.disconnect(timeout=TIMEOUT)
    missed = [await send(alice, text, receiver_id=bob.pk) for text in ("second", "third")]

    tab, ready_again = await sockets.open(bob)
    await tab.send_json_to({"type": "resume", "last_event_id": 1})
    replay = await receive_until(tab, lambda frame: frame["type"] == "unread_counts")
    after = await send(alice, "fourth", receiver_id=bob.pk)
    next_frames = await receive_until(tab, lambda frame: frame["type"] == "unread_counts")

    assert ready["last_event_id"] == 0
    assert stored(live) == [("new_message", 1)]
    assert live[0]["message"]["id"] == seen.pk
    assert ready_again["last_event_id"] == 3
    assert replay == [
        {"type": "new_message", "event_id": 2, "message": await payload(missed[0])},
        {"type": "new_message", "event_id": 3, "message": await payload(missed[1])},
        {"type": "resumed", "event_id": None, "last_event_id": 3},
        {
            "type": "unread_counts",
            "event_id": None,
            "messages": 3,
            "conversations": 1,
            "notifications": 0,
        },
    ]
    assert stored(next_frames) == [("new_message", 4)]
    assert next_frames[0]["message"]["id"] == after.pk


async def test_stream_resume_overlapping_live_events_sends_each_event_once(
    sockets: Sockets, alice: User, bob: User
) -> None:
    before = [await send(alice, text, receiver_id=bob.pk) for text in ("one", "two")]
    tab, ready = await sockets.open(bob)
    live = await send(alice, "three", receiver_id=bob.pk)
    live_frames = await receive_until(tab, new_message_for(live))

    await tab.send_json_to({"type": "resume", "last_event_id": 0})
    replay = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    barrier = await send(alice, "four", receiver_id=bob.pk)
    rest = await receive_until(tab, new_message_for(barrier))

    assert ready["last_event_id"] == 2
    assert stored(live_frames) == [("new_message", 3)]
    assert [frame["message"]["id"] for frame in replay if frame["type"] == "new_message"] == [
        message.pk for message in before
    ]
    assert stored(replay) == [("new_message", 1), ("new_message", 2)]
    assert replay[-1] == {"type": "resumed", "event_id": None, "last_event_id": 3}
    assert stored(rest) == [("new_message", 4)]


async def test_stream_drops_the_live_copy_of_an_event_committed_during_the_resume_query(
    sockets: Sockets, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    missed = await send(alice, "one", receiver_id=bob.pk)
    tab, _ = await sockets.open(bob)
    list_events = selectors.alist_stream_events
    racing: list[Message] = []

    async def commit_an_event_then_list(user_id: int, after: int) -> list:
        if not racing:
            # Committed and sent to the group while the consumer is busy with this resume: the
            # live copy is handled after it, and the query below already returns the event.
            racing.append(await send(alice, "two", receiver_id=bob.pk))
        return await list_events(user_id, after)

    monkeypatch.setattr(selectors, "alist_stream_events", commit_an_event_then_list)
    await tab.send_json_to({"type": "resume", "last_event_id": 0})
    frames = await receive_until(tab, lambda frame: frame["type"] == "resumed")
    barrier = await send(alice, "three", receiver_id=bob.pk)
    frames += await receive_until(tab, new_message_for(barrier))

    assert [frame["message"]["id"] for frame in frames if frame["type"] == "new_message"] == [
        missed.pk,
        racing[0].pk,
        barrier.pk,
    ]
    assert stored(frames) == [("new_message", 1), ("new_message", 2), ("new_message", 3)]


async def test_stream_fills_a_gap_left_by_lost_live_copies_from_the_database(
    sockets: Sockets, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab, _ = await sockets.open(bob)
    deliver = events.send_to_users
    monkeypatch.setattr(events, "send_to_users", lambda deliveries: None)
    for media_id in (1, 2):
        await sync_to_async(services.push_to_stream)(
            user_id=bob.pk, type="media_ready", payload={"media_id": media_id}
        )
    monkeypatch.setattr(events, "send_to_users", deliver)

    await sync_to_async(services.push_to_stream)(
        user_id=bob.pk, type="media_ready", payload={"media_id": 3}
    )
    frames = await receive_until(tab, lambda frame: frame["event_id"] == 3)

    assert frames == [
        {"type": "media_ready", "event_id": event_id, "media_id": event_id}
        for event_id in (1, 2, 3)
    ]


async def test_stream_resume_too_far_behind_asks_for_a_resync(
    sockets: Sockets, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in ("one", "two", "three"):
        await send(alice, text, receiver_id=bob.pk)
    tab, _ = await sockets.open(bob)
    monkeypatch.setattr(selectors, "RESUME_LIMIT", 2)

    await tab.send_json_to({"type": "resume", "last_event_id": 0})
    too_far = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "last_event_id": 1})
    replay = await receive_until(tab, lambda frame: frame["type"] == "unread_counts")
    await tab.send_json_to({"type": "resume", "last_event_id": 99})
    ahead = await tab.receive_json_from(timeout=TIMEOUT)

    assert too_far == {"type": "resync_required", "event_id": None, "last_event_id": 3}
    assert stored(replay) == [("new_message", 2), ("new_message", 3)]
    assert replay[-2] == {"type": "resumed", "event_id": None, "last_event_id": 3}
    assert ahead == {"type": "resync_required", "event_id": None, "last_event_id": 3}


async def test_stream_resume_past_pruned_events_asks_for_a_resync(
    sockets: Sockets, alice: User, bob: User
) -> None:
    for text in ("one", "two", "three"):
        await send(alice, text, receiver_id=bob.pk)
    tab, _ = await sockets.open(bob)
    await StreamEvent.objects.filter(user=bob, event_id__lte=2).adelete()

    await tab.send_json_to({"type": "resume", "last_event_id": 0})
    partly_pruned = await tab.receive_json_from(timeout=TIMEOUT)
    await StreamEvent.objects.filter(user=bob).adelete()
    await tab.send_json_to({"type": "resume", "last_event_id": 2})
    all_pruned = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "last_event_id": 3})
    up_to_date = await receive_until(tab, lambda frame: frame["type"] == "unread_counts")

    assert partly_pruned == {"type": "resync_required", "event_id": None, "last_event_id": 3}
    assert all_pruned == {"type": "resync_required", "event_id": None, "last_event_id": 3}
    assert up_to_date[0] == {"type": "resumed", "event_id": None, "last_event_id": 3}


# Typing


async def test_typing_reaches_the_other_participant_once_per_two_seconds_and_not_the_sender(
    sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    conversation = await sync_to_async(services.start_direct_conversation)(
        actor=alice, other_id=bob.pk
    )
    alice_tab, _ = await sockets.open(alice)
    bob_tab, _ = await sockets.open(bob)

    await alice_tab.send_json_to({"type": "typing", "conversation_id": conversation.pk})
    await alice_tab.send_json_to({"type": "typing", "conversation_id": conversation.pk})
    first = await bob_tab.receive_json_from(timeout=TIMEOUT)
    await bob_tab.send_json_to({"type": "typing", "conversation_id": conversation.pk})
    alice_frames = await receive_until(alice_tab, lambda frame: frame["type"] == "typing")
    barrier = await send(carol, "Barrier", receiver_id=bob.pk)
    bob_frames = await receive_until(bob_tab, new_message_for(barrier))

    assert first == {
        "type": "typing",
        "event_id": None,
        "conversation_id": conversation.pk,
        "user_id": alice.pk,
        "name": "Alice Haddad",
    }
    assert alice_frames == [
        {
            "type": "typing",
            "event_id": None,
            "conversation_id": conversation.pk,
            "user_id": bob.pk,
            "name": "Bob Saleh",
        }
    ]
    assert [frame["type"] for frame in bob_frames] == ["new_message"]


async def test_typing_never_crosses_a_block_in_either_direction(
    sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    conversation = await sync_to_async(services.start_direct_conversation)(
        actor=alice, other_id=bob.pk
    )
    await sync_to_async(services.block_user)(actor=bob, user_id=alice.pk)
    alice_tab, _ = await sockets.open(alice)
    bob_tab, _ = await sockets.open(bob)

    await alice_tab.send_json_to({"type": "typing", "conversation_id": conversation.pk})
    await bob_tab.send_json_to({"type": "typing", "conversation_id": conversation.pk})
    to_bob = await send(carol, "Barrier for Bob", receiver_id=bob.pk)
    to_alice = await send(carol, "Barrier for Alice", receiver_id=alice.pk)
    bob_frames = await receive_until(bob_tab, new_message_for(to_bob))
    alice_frames = await receive_until(alice_tab, new_message_for(to_alice))

    assert [frame["type"] for frame in bob_frames] == ["new_message"]
    assert [frame["type"] for frame in alice_frames] == ["new_message"]


# Reading and sending over the socket


async def test_read_over_the_socket_sends_message_read_to_the_other_side(
    sockets: Sockets, alice: User, bob: User
) -> None:
    await send(alice, "one", receiver_id=bob.pk)
    newest = await send(alice, "two", receiver_id=bob.pk)
    alice_tab, _ = await sockets.open(alice)
    bob_tab, _ = await sockets.open(bob)

    await bob_tab.send_json_to({"type": "read", "conversation_id": newest.conversation_id})
    receipt = await alice_tab.receive_json_from(timeout=TIMEOUT)
    bob_frames = await receive_until(bob_tab, lambda frame: frame["type"] == "unread_counts")

    expected = {
        "conversation_id": newest.conversation_id,
        "user_id": bob.pk,
        "message_id": newest.pk,
    }
    assert receipt == {"type": "message_read", "event_id": 3, **expected}
    assert bob_frames == [
        {"type": "message_read", "event_id": 3, **expected},
        {
            "type": "unread_counts",
            "event_id": None,
            "messages": 0,
            "conversations": 0,
            "notifications": 0,
            "conversation_id": newest.conversation_id,
            "conversation_unread": 0,
        },
    ]
    participant = await Participant.objects.aget(conversation_id=newest.conversation_id, user=bob)
    assert participant.last_read_message_id == newest.pk


async def test_send_over_the_socket_stores_a_retried_client_msg_id_once(
    sockets: Sockets, alice: User, bob: User
) -> None:
    alice_tab, _ = await sockets.open(alice)
    bob_tab, _ = await sockets.open(bob)
    frame = {
        "type": "send",
        "receiver_id": bob.pk,
        "content": "Hello **Bob**",
        "client_msg_id": "tab-1-0001",
    }

    await alice_tab.send_json_to(frame)
    first = await receive_until(alice_tab, lambda frame: frame["type"] == "new_message")
    await alice_tab.send_json_to(frame)
    retried = await alice_tab.receive_json_from(timeout=TIMEOUT)
    barrier = await send(bob, "Barrier", receiver_id=alice.pk)
    after_retry = await receive_until(alice_tab, new_message_for(barrier))
    bob_frames = await receive_until(bob_tab, new_message_for(barrier))

    message = await Message.objects.aget(sender=alice)
    stored_message = await payload(message)
    assert first == [
        {
            "type": "sent",
            "event_id": None,
            "client_msg_id": "tab-1-0001",
            "message": stored_message,
        },
        {"type": "new_message", "event_id": 1, "message": stored_message},
    ]
    assert retried == first[0]
    assert stored(after_retry) == [("new_message", 2)]
    assert message.content_html == "<p>Hello <strong>Bob</strong></p>"
    assert message.client_msg_id == "tab-1-0001"
    assert stored(bob_frames) == [("new_message", 1), ("new_message", 2)]
    assert bob_frames[0]["message"] == stored_message


async def test_send_over_the_socket_into_a_conversation(
    sockets: Sockets, alice: User, bob: User
) -> None:
    conversation = await sync_to_async(services.start_direct_conversation)(
        actor=alice, other_id=bob.pk
    )
    bob_tab, _ = await sockets.open(bob)

    await bob_tab.send_json_to(
        {"type": "send", "conversation_id": conversation.pk, "content": "Went well"}
    )
    frames = await receive_until(bob_tab, lambda frame: frame["type"] == "new_message")

    message = await Message.objects.aget()
    assert (message.conversation_id, message.sender_id) == (conversation.pk, bob.pk)
    assert frames == [
        {
            "type": "sent",
            "event_id": None,
            "client_msg_id": None,
            "message": await payload(message),
        },
        {"type": "new_message", "event_id": 1, "message": await payload(message)},
    ]


async def test_a_bad_send_answers_an_error_with_its_code_and_stores_nothing(
    sockets: Sockets, alice: User, bob: User
) -> None:
    await sync_to_async(services.block_user)(actor=bob, user_id=alice.pk)
    alice_tab, _ = await sockets.open(alice)

    await alice_tab.send_json_to(
        {"type": "send", "receiver_id": bob.pk, "content": "   ", "client_msg_id": "c-1"}
    )
    empty = await alice_tab.receive_json_from(timeout=TIMEOUT)
    await alice_tab.send_json_to(
        {"type": "send", "receiver_id": bob.pk, "content": "Hi", "client_msg_id": "c-2"}
    )
    blocked = await alice_tab.receive_json_from(timeout=TIMEOUT)
    await alice_tab.send_json_to({"type": "send", "content": "Where to?", "client_msg_id": "c-3"})
    nowhere = await alice_tab.receive_json_from(timeout=TIMEOUT)
    await alice_tab.send_json_to(
        {"type": "send", "receiver_id": bob.pk, "content": "Hi", "client_msg_id": "x" * 65}
    )
    too_long_id = await alice_tab.receive_json_from(timeout=TIMEOUT)

    assert empty == {
        "type": "error",
        "event_id": None,
        "code": "invalid_content",
        "detail": InvalidContentError.message,
        "client_msg_id": "c-1",
    }
    assert blocked == {
        "type": "error",
        "event_id": None,
        "code": "blocked",
        "detail": BlockedError.message,
        "client_msg_id": "c-2",
    }
    assert (nowhere["code"], nowhere["client_msg_id"]) == ("invalid_destination", "c-3")
    assert (too_long_id["type"], too_long_id["code"]) == ("error", "invalid_frame")
    assert await Message.objects.acount() == 0


async def test_stream_answers_malformed_and_unknown_frames_with_errors(
    sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    others = await sync_to_async(services.start_direct_conversation)(actor=bob, other_id=carol.pk)
    tab, _ = await sockets.open(alice)

    await tab.send_to(text_data="{not json")
    not_json = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to(["resume"])
    not_an_object = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "dance"})
    unknown = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "read"})
    no_conversation = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "resume", "last_event_id": "7"})
    text_id = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "typing", "conversation_id": 2**70})
    huge_id = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "typing", "conversation_id": others.pk})
    outsider_typing = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "read", "conversation_id": others.pk})
    outsider_read = await tab.receive_json_from(timeout=TIMEOUT)

    codes = [
        frame["code"]
        for frame in (not_json, not_an_object, unknown, no_conversation, text_id, huge_id)
    ]
    assert codes == [
        "invalid_frame",
        "invalid_frame",
        "unknown_type",
        "invalid_frame",
        "invalid_frame",
        "invalid_frame",
    ]
    assert unknown == {
        "type": "error",
        "event_id": None,
        "code": "unknown_type",
        "detail": UnknownTypeError.message,
    }
    not_found = {
        "type": "error",
        "event_id": None,
        "code": "conversation_not_found",
        "detail": ConversationNotFoundError.message,
    }
    assert outsider_typing == not_found
    assert outsider_read == not_found
    assert await Participant.objects.filter(last_read_message_id__gt=0).acount() == 0


# Sessions ending


async def test_logout_through_the_api_closes_every_socket_of_the_user_with_4001(
    sockets: Sockets, alice: User, bob: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)
    laptop, _ = await sockets.open_with(session_cookie(client))
    phone, _ = await sockets.open(alice)
    bob_tab, _ = await sockets.open(bob)

    response = await sync_to_async(client.post)("/api/v1/auth/logout")
    laptop_closed = await receive_close(laptop)
    phone_closed = await receive_close(phone)
    barrier = await send(alice, "Still here?", receiver_id=bob.pk)
    bob_frames = await receive_until(bob_tab, new_message_for(barrier))

    assert response.status_code == 204
    assert laptop_closed == {"type": "websocket.close", "code": 4001}
    assert phone_closed == {"type": "websocket.close", "code": 4001}
    assert [frame["type"] for frame in bob_frames] == ["new_message"]


async def test_password_change_closes_the_users_sockets_with_4001(
    sockets: Sockets, alice: User
) -> None:
    client = await sync_to_async(signed_in_client)(alice)
    tab, _ = await sockets.open_with(session_cookie(client))

    response = await sync_to_async(client.post)(
        "/api/v1/users/me/password",
        {"current_password": PASSWORD, "new_password": "Fresh-Bearings-42"},
        content_type="application/json",
    )
    closed = await receive_close(tab)

    assert response.status_code == 204
    assert closed == {"type": "websocket.close", "code": 4001}


# Frames the parser refuses


@pytest.mark.parametrize("name", unparsable_frames("send").keys())
async def test_stream_answers_an_unparsable_frame_with_invalid_frame_and_stays_open(
    sockets: Sockets, alice: User, bob: User, name: str
) -> None:
    tab, _ = await sockets.open(alice)

    await tab.send_to(text_data=unparsable_frames("send", receiver_id=str(bob.pk))[name])
    answer = await tab.receive_json_from(timeout=TIMEOUT)
    await tab.send_json_to({"type": "send", "receiver_id": bob.pk, "content": "Still here."})
    sent = await receive_until(tab, lambda frame: frame["type"] == "sent")

    assert (answer["type"], answer["code"]) == ("error", "invalid_frame")
    assert sent[-1]["message"]["content"] == "Still here."
    assert [message.content async for message in Message.objects.all()] == ["Still here."]


# Session limits


def move_session_clock(cookie: str, **seconds_ago: float) -> None:
    """Set the stored session's STARTED_AT (`started`) and ACTIVE_AT (`active`) into the past."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(cookie)
    keys = {"started": STARTED_AT, "active": ACTIVE_AT}
    for name, ago in seconds_ago.items():
        session[keys[name]] = time.time() - ago
    session.save()


def stored_active_at(cookie: str) -> float | None:
    return import_module(settings.SESSION_ENGINE).SessionStore(cookie).get(ACTIVE_AT)


async def signed_in_cookie(user: User) -> str:
    return session_cookie(await sync_to_async(signed_in_client)(user))


async def test_stream_refuses_a_session_past_its_idle_or_absolute_limit_and_ends_it(
    sockets: Sockets, alice: User
) -> None:
    idle = settings.SESSION_IDLE_TIMEOUT.total_seconds()
    idle_cookie = await signed_in_cookie(alice)
    await sync_to_async(move_session_clock)(idle_cookie, active=idle + 1)
    old_cookie = await signed_in_cookie(alice)
    await sync_to_async(move_session_clock)(
        old_cookie, started=settings.SESSION_MAX_AGE.total_seconds() + 1
    )

    _, idle_connected, idle_code = await sockets.connect(idle_cookie)
    _, old_connected, old_code = await sockets.connect(old_cookie)

    assert (idle_connected, idle_code) == (False, 4401)
    assert (old_connected, old_code) == (False, 4401)
    assert await Session.objects.filter(session_key__in=[idle_cookie, old_cookie]).acount() == 0


async def test_stream_closes_a_socket_at_its_sessions_idle_limit_with_4001(
    sockets: Sockets, alice: User, bob: User, settings: Any
) -> None:
    settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=1)
    cookie = await signed_in_cookie(alice)
    tab, _ = await sockets.open_with(cookie)

    closed = await receive_close(tab)
    await tab.send_json_to({"type": "send", "receiver_id": bob.pk, "content": "Too late"})

    assert closed == {"type": "websocket.close", "code": 4001}
    assert await tab.receive_nothing(timeout=0.5) is True
    assert await Message.objects.acount() == 0
    assert await Session.objects.filter(session_key=cookie).aexists() is False


async def test_stream_closes_a_socket_at_its_sessions_absolute_limit_despite_activity(
    sockets: Sockets, alice: User, bob: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SESSION_MAX_AGE = timedelta(seconds=2)
    monkeypatch.setattr(middleware, "ACTIVITY_RESOLUTION", 0)
    tab, _ = await sockets.open(alice)

    await tab.send_json_to({"type": "send", "receiver_id": bob.pk, "content": "Before"})
    outputs = [await receive_close(tab)]
    while outputs[-1]["type"] != "websocket.close":
        outputs.append(await receive_close(tab))

    assert "sent" in [json.loads(output["text"])["type"] for output in outputs[:-1]]
    assert outputs[-1] == {"type": "websocket.close", "code": 4001}


async def test_stream_closes_a_socket_whose_session_was_deleted_and_acts_on_no_frame(
    sockets: Sockets, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts_consumers, "SESSION_RECHECK_SECONDS", 0)
    cookie = await signed_in_cookie(alice)
    tab, _ = await sockets.open_with(cookie)
    await Session.objects.filter(session_key=cookie).adelete()

    await tab.send_json_to({"type": "send", "receiver_id": bob.pk, "content": "After"})
    closed = await receive_close(tab)
    await tab.send_json_to({"type": "send", "receiver_id": bob.pk, "content": "Again"})

    assert closed == {"type": "websocket.close", "code": 4001}
    assert await tab.receive_nothing(timeout=0.5) is True
    assert await Message.objects.acount() == 0


async def test_stream_frames_keep_an_active_session_open_past_the_idle_limit(
    sockets: Sockets, alice: User, bob: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation_id = (await send(alice, "Hello", receiver_id=bob.pk)).conversation_id
    settings.SESSION_IDLE_TIMEOUT = timedelta(seconds=2)
    monkeypatch.setattr(middleware, "ACTIVITY_RESOLUTION", 0.5)
    cookie = await signed_in_cookie(alice)
    tab, _ = await sockets.open_with(cookie)
    opened_at = time.time()

    stayed_open = []
    for _ in range(4):
        await tab.send_json_to({"type": "typing", "conversation_id": conversation_id})
        stayed_open.append(await tab.receive_nothing(timeout=0.8))
    active_at = await sync_to_async(stored_active_at)(cookie)
    closed = await receive_close(tab)

    assert time.time() - opened_at > 3
    assert stayed_open == [True] * 4
    assert active_at > opened_at + 1.5
    assert closed == {"type": "websocket.close", "code": 4001}
