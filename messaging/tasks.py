"""Periodic work of messaging (CELERY_BEAT_SCHEDULE). Each task is safe to run twice or on two
workers at once: the email functions claim their rows and record what they sent."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from messaging import emails
from messaging.models import StreamEvent

PRUNE_BATCH = 5000


def prune_stream_events(*, batch_size: int = PRUNE_BATCH) -> int:
    """Delete stream events older than STREAM_EVENT_RETENTION, in batches so no single
    statement holds locks for long. Answers how many were deleted."""
    cutoff = timezone.now() - settings.STREAM_EVENT_RETENTION
    deleted = 0
    while True:
        ids = list(
            StreamEvent.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += StreamEvent.objects.filter(pk__in=ids).delete()[0]


@shared_task(name="messaging.send_message_emails_task", ignore_result=True)
def send_message_emails_task() -> int:
    return emails.send_due_message_emails()


@shared_task(name="messaging.send_daily_digests_task", ignore_result=True)
def send_daily_digests_task() -> int:
    return emails.send_daily_digests()


@shared_task(name="messaging.prune_stream_events_task", ignore_result=True)
def prune_stream_events_task() -> int:
    return prune_stream_events()
