import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from messaging import emails, services
from messaging.exceptions import InvalidUnsubscribeTokenError
from messaging.models import (
    Conversation,
    EmailFrequency,
    Message,
    Notification,
    NotificationPreference,
    Participant,
)
from messaging.notification_types import ADDED_TO_GROUP, DIRECT_MESSAGE
from p2p_sandbox.models import OutboundEmail

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.get_fixed_timezone(180))
DELAY = timedelta(minutes=5)


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def people(user_factory: Any) -> tuple[Any, Any, Any]:
    """Aisha and Khalid write to Omar."""
    return (
        user_factory(first_name="Aisha", last_name="Rahman"),
        user_factory(first_name="Omar", last_name="Saleh"),
        user_factory(first_name="Khalid", last_name="Nasser"),
    )


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    return lambda: django_capture_on_commit_callbacks(execute=True)


def send(actor: Any, to: Any, content: str) -> Message:
    message, _ = services.send_direct_message(actor=actor, receiver_id=to.pk, content=content)
    return message


def send_due(on_commit: Callable[[], Any]) -> int:
    with on_commit():
        return emails.send_due_message_emails()


def send_digests(on_commit: Callable[[], Any]) -> int:
    with on_commit():
        return emails.send_daily_digests()


def participant(user: Any, conversation_id: int) -> Participant:
    return Participant.objects.get(user=user, conversation_id=conversation_id)


# Direct messages


def test_message_email_waits_for_the_delay(people: tuple, clock: Any, on_commit: Any) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Did the rollout go well?")

    clock.move_to(START + DELAY - timedelta(seconds=1))
    assert send_due(on_commit) == 0
    assert (OutboundEmail.objects.count(), mail.outbox) == (0, [])

    clock.move_to(START + DELAY)
    assert send_due(on_commit) == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [omar.email]


def test_message_read_within_the_delay_is_not_emailed(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    message = send(aisha, omar, "Did the rollout go well?")
    clock.move_to(START + timedelta(minutes=2))
    services.mark_conversation_read(actor=omar, conversation_id=message.conversation_id)

    clock.move_to(START + timedelta(hours=1))
    sent = send_due(on_commit)

    assert sent == 0
    assert (OutboundEmail.objects.count(), mail.outbox) == (0, [])
    assert participant(omar, message.conversation_id).emailed_through_id == 0


def test_three_unread_messages_make_one_email_with_three_excerpts(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, khalid = people
    first = send(aisha, omar, "Did the **rollout** go well?")
    second = send(aisha, omar, "We start in _Jubail_ next week.")
    clock.move_to(START + timedelta(minutes=1))
    third = send(khalid, omar, "Can you share the <b>vendor list</b>?")

    clock.move_to(START + timedelta(minutes=7))
    sent = send_due(on_commit)

    assert sent == 1
    assert len(mail.outbox) == 1
    email = OutboundEmail.objects.get()
    assert (email.to, email.template, email.state) == (
        omar.email,
        "unread_messages",
        OutboundEmail.State.SENT,
    )
    assert email.subject == "3 unread messages on P2P Sandbox"
    delivered = mail.outbox[0]
    assert delivered.subject == "3 unread messages on P2P Sandbox"
    body = delivered.body
    assert "Aisha Rahman (Direct message):\nDid the rollout go well?\n" in body
    assert "Aisha Rahman (Direct message):\nWe start in Jubail next week.\n" in body
    assert "Khalid Nasser (Direct message):\nCan you share the <b>vendor list</b>?\n" in body
    assert body.index("rollout") < body.index("Jubail") < body.index("vendor list")
    assert f"http://127.0.0.1:8000/messages/{first.conversation_id}/" in body
    assert f"http://127.0.0.1:8000/messages/{third.conversation_id}/" in body
    assert "still unread 5 minutes after they were sent" in body
    assert "your email preference for “Direct messages” is “Right away”" in body
    html = delivered.alternatives[0].content
    assert "Can you share the &lt;b&gt;vendor list&lt;/b&gt;?" in html
    assert participant(omar, first.conversation_id).emailed_through_id == second.pk
    assert participant(omar, third.conversation_id).emailed_through_id == third.pk


def test_one_message_email_names_its_sender(people: tuple, clock: Any, on_commit: Any) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Hello")

    clock.move_to(START + DELAY)
    send_due(on_commit)

    assert [m.subject for m in mail.outbox] == ["New message from Aisha Rahman"]


def test_message_email_runs_twice_and_sends_once_then_only_new_messages(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "First question")
    clock.move_to(START + DELAY)

    assert (send_due(on_commit), send_due(on_commit)) == (1, 0)
    assert len(mail.outbox) == 1

    send(aisha, omar, "Second question")
    clock.move_to(START + 2 * DELAY)
    assert (send_due(on_commit), send_due(on_commit)) == (1, 0)
    assert len(mail.outbox) == 2
    assert "Second question" in mail.outbox[1].body
    assert "First question" not in mail.outbox[1].body


def test_message_email_leaves_out_what_was_read(people: tuple, clock: Any, on_commit: Any) -> None:
    aisha, omar, _ = people
    first = send(aisha, omar, "One")
    send(aisha, omar, "Two")
    third = send(aisha, omar, "Three")
    services.mark_conversation_read(
        actor=omar, conversation_id=first.conversation_id, message_id=third.pk - 1
    )

    clock.move_to(START + DELAY)
    send_due(on_commit)

    assert len(mail.outbox) == 1
    assert "\nThree\n" in mail.outbox[0].body
    assert "\nOne\n" not in mail.outbox[0].body
    assert "\nTwo\n" not in mail.outbox[0].body


def test_message_email_waits_for_a_conversation_whose_newest_message_is_too_recent(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    """A message can be stored with a larger id but an earlier time than another; the email
    never passes a message it did not include."""
    aisha, omar, _ = people
    early = send(aisha, omar, "Early")
    clock.move_to(START + timedelta(minutes=3))
    late = send(aisha, omar, "Late")
    Message.objects.filter(pk=early.pk).update(created_at=START + timedelta(minutes=4))
    Message.objects.filter(pk=late.pk).update(created_at=START)

    clock.move_to(START + timedelta(minutes=6))
    assert send_due(on_commit) == 0
    clock.move_to(START + timedelta(minutes=9))
    assert send_due(on_commit) == 1

    assert "\nEarly\n" in mail.outbox[0].body
    assert "\nLate\n" in mail.outbox[0].body


def test_message_email_goes_out_for_group_messages_too(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, khalid = people
    group = services.create_group_conversation(
        actor=aisha, title="Jubail rollout", participant_ids=[omar.pk, khalid.pk]
    )
    services.send_direct_message(actor=aisha, conversation_id=group.pk, content="Kick-off at 9")

    clock.move_to(START + DELAY)
    send_due(on_commit)

    assert sorted(m.to[0] for m in mail.outbox) == sorted([omar.email, khalid.email])
    assert "Aisha Rahman (Jubail rollout):\nKick-off at 9\n" in mail.outbox[0].body


@pytest.mark.parametrize(
    "situation", ["muted", "left", "blocked", "deleted", "email_off", "email_daily", "inactive"]
)
def test_message_email_is_not_sent(
    situation: str, people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    message = send(aisha, omar, "Hello")
    conversation_id = message.conversation_id
    if situation == "muted":
        services.update_participation(actor=omar, conversation_id=conversation_id, is_muted=True)
    elif situation == "left":
        Participant.objects.filter(user=omar).update(left_at=timezone.now())
    elif situation == "blocked":
        services.block_user(actor=omar, user_id=aisha.pk)
    elif situation == "deleted":
        services.delete_message(actor=aisha, message_id=message.pk)
    elif situation == "email_off":
        services.update_notification_preference(
            actor=omar, type=DIRECT_MESSAGE.key, email=EmailFrequency.OFF
        )
    elif situation == "email_daily":
        services.update_notification_preference(
            actor=omar, type=DIRECT_MESSAGE.key, email=EmailFrequency.DAILY
        )
    elif situation == "inactive":
        type(omar).objects.filter(pk=omar.pk).update(is_active=False)

    clock.move_to(START + timedelta(hours=1))
    sent = send_due(on_commit)

    assert sent == 0
    assert (OutboundEmail.objects.count(), mail.outbox) == (0, [])
    assert participant(omar, conversation_id).emailed_through_id == 0


def test_message_email_never_goes_to_the_sender(people: tuple, clock: Any, on_commit: Any) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Hello")
    send(omar, aisha, "Hi")  # Omar read Aisha's message by answering it

    clock.move_to(START + DELAY)
    send_due(on_commit)

    assert [m.to for m in mail.outbox] == [[aisha.email]]
    assert "\nHi\n" in mail.outbox[0].body


def test_message_email_lists_the_newest_messages_and_counts_the_rest(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    for number in range(emails.MAX_LISTED + 3):
        send(aisha, omar, f"Message number {number}.")

    clock.move_to(START + DELAY)
    send_due(on_commit)

    body = mail.outbox[0].body
    assert mail.outbox[0].subject == f"{emails.MAX_LISTED + 3} unread messages on P2P Sandbox"
    assert "Message number 2." not in body
    assert "Message number 3." in body
    assert f"Message number {emails.MAX_LISTED + 2}." in body
    assert "and 3 earlier messages" in body


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_message_email_skips_participants_another_worker_holds(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    message = send(aisha, omar, "Hello")
    clock.move_to(START + DELAY)
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                list(Participant.objects.select_for_update().filter(user=omar))
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(timeout=10)
        assert send_due(on_commit) == 0
    finally:
        release.set()
        worker.join(timeout=10)

    assert send_due(on_commit) == 1
    assert len(mail.outbox) == 1
    assert participant(omar, message.conversation_id).emailed_through_id == message.pk


# Unsubscribing


def test_message_email_unsubscribe_link_turns_direct_message_emails_off(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Hello")
    clock.move_to(START + DELAY)
    send_due(on_commit)
    header = mail.outbox[0].extra_headers["List-Unsubscribe"]
    token = header.rstrip("/>").rsplit("/", 1)[1]

    assert services.unsubscribe_from_email(token=token) == (omar, DIRECT_MESSAGE.key)
    assert services.unsubscribe_from_email(token=token) == (omar, DIRECT_MESSAGE.key)

    preference = NotificationPreference.objects.get(user=omar)
    assert (preference.type, preference.email, preference.in_app) == (
        DIRECT_MESSAGE.key,
        EmailFrequency.OFF,
        True,
    )
    send(aisha, omar, "Are you there?")
    clock.move_to(START + 2 * DELAY)
    assert send_due(on_commit) == 0
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "",
        emails.make_unsubscribe_token(1, DIRECT_MESSAGE.key) + "x",
        "signed-elsewhere",
    ],
)
def test_unsubscribe_from_email_with_a_bad_token_changes_nothing(token: str, people: tuple) -> None:
    if token == "signed-elsewhere":
        from django.core import signing

        token = signing.dumps({"u": people[1].pk, "t": DIRECT_MESSAGE.key}, salt="other")

    with pytest.raises(InvalidUnsubscribeTokenError):
        services.unsubscribe_from_email(token=token)

    assert NotificationPreference.objects.count() == 0


def test_unsubscribe_from_email_token_of_an_unknown_type_or_user_is_refused(people: tuple) -> None:
    omar = people[1]
    for token in (
        emails.make_unsubscribe_token(omar.pk, "no_such_type"),
        emails.make_unsubscribe_token(omar.pk + 1000, DIRECT_MESSAGE.key),
    ):
        with pytest.raises(InvalidUnsubscribeTokenError):
            services.unsubscribe_from_email(token=token)

    assert NotificationPreference.objects.count() == 0


def test_unsubscribe_from_email_from_the_daily_digest_turns_off_every_daily_type(
    people: tuple,
) -> None:
    omar = people[1]
    services.update_notification_preference(
        actor=omar, type=DIRECT_MESSAGE.key, email=EmailFrequency.DAILY
    )

    user, type = services.unsubscribe_from_email(
        token=emails.make_unsubscribe_token(omar.pk, emails.DAILY_DIGEST)
    )

    assert (user, type) == (omar, emails.DAILY_DIGEST)
    assert emails.unsubscribe_label(type) == "The daily digest"
    assert dict(NotificationPreference.objects.filter(user=omar).values_list("type", "email")) == {
        DIRECT_MESSAGE.key: EmailFrequency.OFF,
        ADDED_TO_GROUP.key: EmailFrequency.OFF,
    }


def test_instant_notification_email_says_why_and_carries_unsubscribe_headers(
    people: tuple, on_commit: Any
) -> None:
    aisha, omar, _ = people
    with on_commit():
        notification = services.notify(
            recipient=omar,
            type=DIRECT_MESSAGE.key,
            actor=aisha,
            text="Aisha Rahman mentioned you",
            link="/messages/1/",
        )

    assert len(mail.outbox) == 1
    delivered = mail.outbox[0]
    url = emails.unsubscribe_url(omar.pk, DIRECT_MESSAGE.key)
    assert delivered.subject == "Aisha Rahman mentioned you"
    assert delivered.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert delivered.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parsed = delivered.message()
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "your email preference for “Direct messages” is “Right away”" in delivered.body
    assert f"Stop emails about “Direct messages”: {url}" in delivered.body
    assert f'href="{url}"' in delivered.alternatives[0].content
    assert "http://127.0.0.1:8000/messages/1/" in delivered.body
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_message_email_headers_reach_the_delivered_message(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Hello")
    clock.move_to(START + DELAY)
    send_due(on_commit)

    url = emails.unsubscribe_url(omar.pk, DIRECT_MESSAGE.key)
    parsed = mail.outbox[0].message()
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"].startswith("<outbox.")
    assert f"Stop emails about “Direct messages”: {url}" in mail.outbox[0].body


def test_one_click_post_to_the_list_unsubscribe_url_unsubscribes(
    people: tuple, clock: Any, on_commit: Any, client: Any
) -> None:
    aisha, omar, _ = people
    send(aisha, omar, "Hello")
    clock.move_to(START + DELAY)
    send_due(on_commit)
    url = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")

    response = client.post(
        url.removeprefix("http://127.0.0.1:8000"),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    preference = NotificationPreference.objects.get(user=omar, type=DIRECT_MESSAGE.key)
    assert preference.email == EmailFrequency.OFF


# The daily digest


def add_to_group(actor: Any, *members: Any, title: str = "Jubail rollout") -> Conversation:
    """Each member gets an `added_to_group` notification, emailed daily by default."""
    return services.create_group_conversation(
        actor=actor, title=title, participant_ids=[m.pk for m in members]
    )


def test_daily_digest_sends_waiting_notifications_once_a_day(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, khalid = people
    group = add_to_group(aisha, omar, khalid)
    services.mark_notifications_read(actor=khalid)

    clock.move_to(START + timedelta(hours=22))
    assert (send_digests(on_commit), send_digests(on_commit)) == (1, 0)

    assert len(mail.outbox) == 1
    digest = mail.outbox[0]
    assert digest.to == [omar.email]
    assert digest.subject == "Your P2P Sandbox digest for March 2, 2026"
    assert "- Aisha Rahman added you to “Jubail rollout” (Added to a group conversation)" in (
        digest.body
    )
    assert f"http://127.0.0.1:8000/messages/{group.pk}/" in digest.body
    assert (
        "your email preference for “Added to a group conversation” is “Daily digest”" in digest.body
    )
    digest_url = emails.unsubscribe_url(omar.pk, emails.DAILY_DIGEST)
    assert digest.extra_headers["List-Unsubscribe"] == f"<{digest_url}>"
    assert f"Stop the daily digest: {digest_url}" in digest.body
    type_url = emails.unsubscribe_url(omar.pk, ADDED_TO_GROUP.key)
    assert f"Stop emails about “Added to a group conversation”: {type_url}" in digest.body
    omar_notification = Notification.objects.get(recipient=omar)
    assert omar_notification.emailed_at == START + timedelta(hours=22)
    assert Notification.objects.get(recipient=khalid).emailed_at is None
    assert OutboundEmail.objects.get().idempotency_key == f"digest:{omar.pk}:2026-03-02"

    # Later the same day: what is new waits for tomorrow's digest.
    add_to_group(khalid, omar, title="Vendors")
    clock.move_to(START + timedelta(hours=23))
    assert send_digests(on_commit) == 0
    clock.move_to(START + timedelta(hours=46))
    assert send_digests(on_commit) == 1
    assert "Khalid Nasser added you to “Vendors”" in mail.outbox[1].body
    assert "Jubail rollout" not in mail.outbox[1].body


def test_daily_digest_leaves_out_instant_read_and_turned_off_notifications(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, khalid = people
    services.notify(recipient=omar, type=DIRECT_MESSAGE.key, actor=aisha, text="Instant one")
    add_to_group(aisha, omar)
    services.update_notification_preference(
        actor=khalid, type=ADDED_TO_GROUP.key, email=EmailFrequency.OFF
    )
    Notification.objects.create(
        recipient=khalid, type=ADDED_TO_GROUP.key, text="Made daily", email_frequency="daily"
    )
    services.mark_notifications_read(actor=omar)

    clock.move_to(START + timedelta(hours=22))
    with on_commit():
        assert emails.send_daily_digests() == 0

    assert OutboundEmail.objects.filter(template="daily_digest").count() == 0


def test_daily_digest_includes_unread_messages_for_a_daily_preference(
    people: tuple, clock: Any, on_commit: Any
) -> None:
    aisha, omar, khalid = people
    services.update_notification_preference(
        actor=omar, type=DIRECT_MESSAGE.key, email=EmailFrequency.DAILY
    )
    first = send(aisha, omar, "Morning question")
    second = send(khalid, omar, "Afternoon question")
    read = send(khalid, omar, "Already read")
    services.mark_conversation_read(actor=omar, conversation_id=read.conversation_id)
    add_to_group(aisha, omar)

    clock.move_to(START + timedelta(hours=1))
    assert send_due(on_commit) == 0
    clock.move_to(START + timedelta(hours=22))
    assert (send_digests(on_commit), send_digests(on_commit)) == (1, 0)

    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Aisha Rahman (Direct message):\nMorning question\n" in body
    assert "Afternoon question" not in body  # read, together with "Already read"
    assert "Already read" not in body
    assert "Aisha Rahman added you to “Jubail rollout”" in body
    assert (
        "your email preference for “Added to a group conversation”, “Direct messages” is "
        "“Daily digest”" in body
    )
    assert participant(omar, first.conversation_id).emailed_through_id == first.pk
    assert participant(omar, second.conversation_id).emailed_through_id == 0
