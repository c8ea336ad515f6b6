from celery import shared_task

from p2p_sandbox import emails


@shared_task(name="p2p_sandbox.send_email_task", ignore_result=True)
def send_email_task(email_id: int) -> None:
    """Deliver one outbox email. A transient failure is retried by the relay, with backoff."""
    try:
        emails.deliver_email(email_id)
    except emails.EmailDeliveryError:
        pass  # deliver_email recorded the failure and the next attempt; the relay retries it.


@shared_task(name="p2p_sandbox.relay_email_outbox_task", ignore_result=True)
def relay_email_outbox_task() -> int:
    return emails.relay_due_emails()
