from datetime import timedelta
from email import message_from_bytes

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from p2p_sandbox import emails
from p2p_sandbox.models import OutboundEmail
from p2p_sandbox.tasks import relay_email_outbox_task, send_email_task
from p2p_sandbox.testing import celery_broker, free_port, wait_until

pytestmark = pytest.mark.django_db

CONTEXT = {
    "subject": "Your plant visit is confirmed",
    "heading": "See you on Sunday",
    "paragraphs": ["Gate 3 opens at 8:00.", "Bring safety shoes & a badge."],
    "action_url": "https://p2p.example/visits/7",
    "action_label": "Open the visit",
    "reason": "You asked for a plant visit on P2P Sandbox.",
}


def queue(**overrides: object) -> OutboundEmail:
    arguments = {"to": "omar@gulfprecision.example", "template": "message", "context": CONTEXT}
    return emails.queue_email(**{**arguments, **overrides})


def smtp_mailer(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }


def test_queue_email_records_the_rendered_email_before_anything_is_sent(
    django_capture_on_commit_callbacks: object,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        email = queue()

    email.refresh_from_db()
    assert email.state == OutboundEmail.State.PENDING
    assert email.subject == "Your plant visit is confirmed"
    assert "Bring safety shoes & a badge." in email.text_body
    assert "Bring safety shoes &amp; a badge." in email.html_body
    assert "https://p2p.example/visits/7" in email.text_body
    assert mail.outbox == []
    assert len(callbacks) == 1


def test_queued_email_is_sent_after_commit(django_capture_on_commit_callbacks: object) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        email = queue()

    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT
    assert email.attempts == 1
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert (sent.to, sent.subject) == (["omar@gulfprecision.example"], CONTEXT["subject"])
    assert sent.alternatives[0].mimetype == "text/html"


UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://p2p.example/notifications/unsubscribe/abc/>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def test_queued_headers_reach_the_delivered_message_and_message_id_stays_ours(
    django_capture_on_commit_callbacks: object,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        email = queue(headers={**UNSUBSCRIBE, "Message-ID": "<forged@example>"})

    email.refresh_from_db()
    assert email.headers == {**UNSUBSCRIBE, "Message-ID": "<forged@example>"}
    parsed = mail.outbox[0].message()
    assert parsed["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"].startswith(f"<outbox.{email.pk}.")


def test_email_without_headers_stores_none() -> None:
    email = queue()

    email.refresh_from_db()
    assert email.headers == {}


def test_rolled_back_transaction_queues_and_sends_nothing(
    django_capture_on_commit_callbacks: object,
) -> None:
    def queue_then_fail() -> None:
        with transaction.atomic():
            queue()
            raise RuntimeError("the caller's write failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,  # type: ignore[operator]
        pytest.raises(RuntimeError),
    ):
        queue_then_fail()

    assert OutboundEmail.objects.count() == 0
    assert callbacks == []
    assert mail.outbox == []


def test_send_email_task_twice_sends_once() -> None:
    email = queue()

    send_email_task(email.pk)
    send_email_task(email.pk)

    email.refresh_from_db()
    assert len(mail.outbox) == 1
    assert (email.state, email.attempts) == (OutboundEmail.State.SENT, 1)


def test_idempotency_key_stores_one_email(django_capture_on_commit_callbacks: object) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        first = queue(idempotency_key="visit-7-confirmation")
        second = queue(idempotency_key="visit-7-confirmation")

    assert first.pk == second.pk
    assert OutboundEmail.objects.count() == 1
    assert len(mail.outbox) == 1


def test_broker_down_request_succeeds_and_relay_delivers_once_later(
    django_capture_on_commit_callbacks: object,
) -> None:
    with (
        celery_broker(f"redis://127.0.0.1:{free_port()}/0"),
        django_capture_on_commit_callbacks(execute=True),  # type: ignore[operator]
    ):
        email = queue()

    email.refresh_from_db()
    assert email.state == OutboundEmail.State.PENDING
    assert email.next_attempt_at <= timezone.now()
    assert mail.outbox == []

    # The broker is back (tasks run in-process again): the periodic relay sends it, once.
    relayed_first = relay_email_outbox_task()
    relayed_again = relay_email_outbox_task()

    email.refresh_from_db()
    assert (relayed_first, relayed_again) == (1, 0)
    assert email.state == OutboundEmail.State.SENT
    assert len(mail.outbox) == 1


def test_relay_leaves_emails_whose_task_is_still_on_its_way() -> None:
    email = queue()  # not committed-and-sent: its task is, as far as the relay knows, queued

    relayed = relay_email_outbox_task()

    email.refresh_from_db()
    assert relayed == 0
    assert email.state == OutboundEmail.State.PENDING
    assert mail.outbox == []


def test_smtp_failure_keeps_the_email_for_a_later_attempt(settings: object) -> None:
    settings.MAILERS = smtp_mailer(free_port())  # type: ignore[attr-defined]
    email = queue()

    with pytest.raises(emails.EmailDeliveryError):
        emails.deliver_email(email.pk)

    email.refresh_from_db()
    assert email.state == OutboundEmail.State.PENDING
    assert email.attempts == 1
    assert email.last_error.startswith("ConnectionRefusedError")
    assert email.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert email.claimed_until is None


def test_email_fails_for_good_after_the_last_attempt(settings: object) -> None:
    settings.MAILERS = smtp_mailer(free_port())  # type: ignore[attr-defined]
    email = queue()
    OutboundEmail.objects.filter(pk=email.pk).update(attempts=settings.OUTBOX_MAX_ATTEMPTS - 1)  # type: ignore[attr-defined]

    with pytest.raises(emails.EmailDeliveryError):
        emails.deliver_email(email.pk)

    email.refresh_from_db()
    assert email.state == OutboundEmail.State.FAILED
    assert relay_email_outbox_task() == 0


def test_live_claim_blocks_a_second_sender_and_an_expired_one_is_relayed() -> None:
    email = queue()
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENDING, claimed_until=timezone.now() + timedelta(minutes=1)
    )

    assert emails.deliver_email(email.pk) is False
    assert relay_email_outbox_task() == 0

    OutboundEmail.objects.filter(pk=email.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert relay_email_outbox_task() == 1
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT
    assert len(mail.outbox) == 1


def test_email_is_delivered_over_smtp_to_a_real_server(
    settings: object, smtp_inbox: object
) -> None:
    settings.MAILERS = smtp_mailer(smtp_inbox.port)  # type: ignore[attr-defined]
    email = queue(headers=UNSUBSCRIBE)

    send_email_task(email.pk)

    received = smtp_inbox.wait_for(1, timeout=10)  # type: ignore[attr-defined]
    assert received[0].rcpt_tos == ["omar@gulfprecision.example"]
    message = message_from_bytes(received[0].content)
    assert message["Subject"] == CONTEXT["subject"]
    assert message["Message-ID"].startswith(f"<outbox.{email.pk}.")
    assert message["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sorted(part.get_content_type() for part in message.walk()) == [
        "multipart/alternative",
        "text/html",
        "text/plain",
    ]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_real_worker_delivers_queued_email_over_smtp_once(
    celery_worker_process: object, smtp_inbox: object
) -> None:
    with transaction.atomic():
        email = queue()

    received = smtp_inbox.wait_for(1, timeout=60)  # type: ignore[attr-defined]
    assert received[0].rcpt_tos == ["omar@gulfprecision.example"]

    wait_until(
        lambda: OutboundEmail.objects.get(pk=email.pk).state == OutboundEmail.State.SENT,
        timeout=30,
        message="the worker did not mark the email sent",
    )
    # Deliver the first email again, then a second one: the solo worker takes tasks in order,
    # so once the second arrives the repeat has been handled.
    send_email_task.delay(email.pk)
    with transaction.atomic():
        queue(to="khalid@najdfoods.example")

    received = smtp_inbox.wait_for(2, timeout=60)  # type: ignore[attr-defined]
    assert [envelope.rcpt_tos for envelope in received] == [
        ["omar@gulfprecision.example"],
        ["khalid@najdfoods.example"],
    ]
    email.refresh_from_db()
    assert email.attempts == 1
