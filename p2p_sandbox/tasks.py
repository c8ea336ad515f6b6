from contextlib import suppress

from celery import shared_task

from p2p_sandbox import emails


@shared_task(name="p2p_sandbox.send_email_task", ignore_result=True)
def send_email_task(email_id: int) -> None:
    """Deliver one outbox email.

    A transient failure was recorded by deliver_email with the time of the next attempt; the
    relay retries it then, with backoff, up to OUTBOX_MAX_ATTEMPTS.
    """
    with suppress(emails.EmailDeliveryError):
        emails.deliver_email(email_id)


@shared_task(name="p2p_sandbox.relay_email_outbox_task", ignore_result=True)
def relay_email_outbox_task() -> int:
    return emails.relay_due_emails()
