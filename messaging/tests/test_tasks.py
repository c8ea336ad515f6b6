from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core import mail

from messaging import services
from messaging.models import Notification, Participant, StreamEvent
from messaging.tasks import (
    prune_stream_events_task,
    send_daily_digests_task,
    send_message_emails_task,
)
from messaging.tests.test_emails import START
from p2p_sandbox.celery import app
from p2p_sandbox.models import OutboundEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def pair(user_factory: Any) -> tuple[Any, Any]:
    return user_factory(first_name="Aisha"), user_factory(first_name="Omar")


def test_beat_schedule_names_registered_tasks() -> None:
    app.loader.import_default_modules()  # what a worker does: autodiscover every app's tasks
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "messaging.send_message_emails_task",
        "messaging.send_daily_digests_task",
        "messaging.prune_stream_events_task",
    } <= scheduled
    assert scheduled <= set(app.tasks)


def test_send_message_emails_task_twice_sends_once(
    pair: tuple, clock: Any, django_capture_on_commit_callbacks: Any
) -> None:
    aisha, omar = pair
    message, _ = services.send_direct_message(actor=aisha, receiver_id=omar.pk, content="Hello")
    clock.move_to(START + settings.MESSAGE_EMAIL_DELAY)

    with django_capture_on_commit_callbacks(execute=True):
        results = (send_message_emails_task(), send_message_emails_task())

    assert results == (1, 0)
    assert [m.to for m in mail.outbox] == [[omar.email]]
    emailed_through = Participant.objects.get(user=omar).emailed_through_id
    assert emailed_through == message.pk


def test_send_daily_digests_task_twice_sends_once(
    pair: tuple, clock: Any, django_capture_on_commit_callbacks: Any
) -> None:
    aisha, omar = pair
    services.create_group_conversation(actor=aisha, title="Vendors", participant_ids=[omar.pk])
    clock.move_to(START + timedelta(hours=22))

    with django_capture_on_commit_callbacks(execute=True):
        results = (send_daily_digests_task(), send_daily_digests_task())

    assert results == (1, 0)
    assert [m.to for m in mail.outbox] == [[omar.email]]
    assert OutboundEmail.objects.get().template == "daily_digest"
    assert Notification.objects.get(recipient=omar).emailed_at is not None


def test_tasks_with_nothing_to_do_send_nothing(pair: tuple, clock: Any) -> None:
    assert (send_message_emails_task(), send_daily_digests_task()) == (0, 0)
    assert (OutboundEmail.objects.count(), mail.outbox) == (0, [])


def test_prune_stream_events_task_deletes_only_old_events_and_twice_is_harmless(
    pair: tuple, clock: Any
) -> None:
    aisha, omar = pair
    retention = settings.STREAM_EVENT_RETENTION
    assert retention == timedelta(days=7)
    StreamEvent.objects.bulk_create(
        [
            StreamEvent(user=aisha, event_id=1, type="old", payload={}, created_at=START),
            StreamEvent(user=omar, event_id=1, type="old", payload={}, created_at=START),
            StreamEvent(
                user=aisha,
                event_id=2,
                type="kept",
                payload={},
                created_at=START + timedelta(days=1),
            ),
        ]
    )
    clock.move_to(START + retention + timedelta(seconds=1))

    assert (prune_stream_events_task(), prune_stream_events_task()) == (2, 0)

    assert list(StreamEvent.objects.values_list("user_id", "event_id", "type")) == [
        (aisha.pk, 2, "kept")
    ]


def test_prune_stream_events_deletes_in_batches(pair: tuple, clock: Any) -> None:
    from messaging.tasks import prune_stream_events

    aisha, _ = pair
    StreamEvent.objects.bulk_create(
        StreamEvent(user=aisha, event_id=i, type="old", payload={}, created_at=START)
        for i in range(1, 8)
    )
    clock.move_to(START + timedelta(days=8))

    assert prune_stream_events(batch_size=3) == 7
    assert StreamEvent.objects.count() == 0
