"""The email outbox: every email the platform sends goes through `queue_email`.

The email is rendered and stored in the caller's transaction; its delivery task is queued after
commit. If the broker is unreachable the caller still succeeds and the periodic relay queues
the email later. Delivery claims the row first, so running it twice sends once.
"""

import logging
import smtplib
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from p2p_sandbox.models import OutboundEmail
from p2p_sandbox.queueing import delay_safely

logger = logging.getLogger(__name__)


class EmailDeliveryError(Exception):
    """A transient failure: the email stays in the outbox for a later attempt."""


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render templates/emails/<template>_subject.txt, <template>.txt and <template>.html."""
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    text_body = render_to_string(f"emails/{template}.txt", context)
    html_body = render_to_string(f"emails/{template}.html", context)
    return " ".join(subject.split()), text_body, html_body


def queue_email(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> OutboundEmail:
    """Record an email and schedule its delivery after the current transaction commits.

    With an `idempotency_key`, queueing the same email again returns the stored one. `headers`
    are added to the delivered message (List-Unsubscribe, ...); Message-ID is set by delivery.
    """
    if idempotency_key is not None:
        existing = OutboundEmail.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    subject, text_body, html_body = render_email(template, context)
    try:
        with transaction.atomic():
            email = OutboundEmail.objects.create(
                to=to,
                subject=subject,
                text_body=text_body,
                html_body=html_body,
                template=template,
                headers=dict(headers or {}),
                idempotency_key=idempotency_key,
                next_attempt_at=timezone.now() + settings.OUTBOX_RELAY_AFTER,
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        return OutboundEmail.objects.get(idempotency_key=idempotency_key)
    # robust: a failure to queue is logged and never undoes or fails the caller's request.
    transaction.on_commit(partial(enqueue_delivery, email.pk), robust=True)
    return email


def enqueue_delivery(email_id: int) -> bool:
    """Queue the delivery task; with the broker down, leave the email due for the relay."""
    from p2p_sandbox.tasks import send_email_task

    if delay_safely(send_email_task, email_id):
        return True
    OutboundEmail.objects.filter(pk=email_id, state=OutboundEmail.State.PENDING).update(
        next_attempt_at=timezone.now()
    )
    return False


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after each failed attempt, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def deliver_email(email_id: int) -> bool:
    """Send one outbox email. Returns False when there is nothing to do.

    Nothing to do: the email was sent or failed for good, or another worker holds a live claim.
    Raises EmailDeliveryError on a transient failure, after scheduling the next attempt.
    """
    now = timezone.now()
    claimable = Q(state=OutboundEmail.State.PENDING) | Q(
        state=OutboundEmail.State.SENDING, claimed_until__lt=now
    )
    claimed = (
        OutboundEmail.objects.filter(claimable, pk=email_id).update(
            state=OutboundEmail.State.SENDING,
            claimed_until=now + settings.OUTBOX_CLAIM_TIMEOUT,
            attempts=F("attempts") + 1,
        )
        == 1
    )
    if not claimed:
        return False
    email = OutboundEmail.objects.get(pk=email_id)
    extra_headers = {k: v for k, v in email.headers.items() if k.lower() != "message-id"}
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        to=[email.to],
        # A stable Message-ID lets receiving servers drop a copy if a crash ever re-sends it.
        headers={
            **extra_headers,
            "Message-ID": f"<outbox.{email.pk}.{email.created_at:%Y%m%d%H%M%S}@{DNS_NAME}>",
        },
    )
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        gave_up = email.attempts >= settings.OUTBOX_MAX_ATTEMPTS
        OutboundEmail.objects.filter(pk=email_id).update(
            state=OutboundEmail.State.FAILED if gave_up else OutboundEmail.State.PENDING,
            claimed_until=None,
            next_attempt_at=timezone.now() + retry_delay(email.attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        logger.warning("Email %s attempt %s failed: %s", email_id, email.attempts, exc)
        raise EmailDeliveryError(str(exc)) from exc
    OutboundEmail.objects.filter(pk=email_id).update(
        state=OutboundEmail.State.SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
    )
    return True


def relay_due_emails(*, limit: int = 500) -> int:
    """Queue delivery for emails whose task never ran (broker down, lost task, dead worker).

    Each relayed email gets a fresh grace period first, so the next relay does not queue it
    again while its task waits in the broker. Returns how many were queued.
    """
    from p2p_sandbox.tasks import send_email_task

    now = timezone.now()
    due = OutboundEmail.objects.filter(
        Q(state=OutboundEmail.State.PENDING, next_attempt_at__lte=now)
        | Q(state=OutboundEmail.State.SENDING, claimed_until__lt=now)
    ).order_by("next_attempt_at")
    email_ids = list(due.values_list("pk", flat=True)[:limit])
    OutboundEmail.objects.filter(pk__in=email_ids).update(
        next_attempt_at=now + settings.OUTBOX_RELAY_AFTER
    )
    for email_id in email_ids:
        send_email_task.delay(email_id)
    return len(email_ids)
