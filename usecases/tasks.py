import logging

from celery import Task, shared_task

from p2p_sandbox.queueing import delay_safely
from usecases import media

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 300
STORAGE_UNAVAILABLE = "The file could not be processed because the storage was unavailable."


@shared_task(
    bind=True, name="usecases.process_media_task", ignore_result=True, max_retries=MAX_RETRIES
)
def process_media_task(self: Task, media_id: int) -> None:
    """Process one uploaded media; a storage outage is retried with backoff, then the media is
    marked failed so the author is not left waiting."""
    try:
        media.process_media(media_id)
    except media.TRANSIENT_STORAGE_ERRORS as error:
        if not media.is_transient_storage_error(error):
            raise
        if self.request.retries >= self.max_retries:
            logger.warning("Media %s: storage still failing, giving up: %s", media_id, error)
            media.fail_media(media_id, reason=STORAGE_UNAVAILABLE)
            return
        countdown = min(RETRY_BASE_SECONDS * 2**self.request.retries, RETRY_MAX_SECONDS)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(name="usecases.requeue_stale_media_task", ignore_result=True)
def requeue_stale_media_task() -> int:
    """Queue again the media left pending (their task was lost: the broker was down when they
    were uploaded, or their worker died). Processing is idempotent, so a duplicate does no
    harm."""
    ids = media.claim_stale_media_ids()
    for media_id in ids:
        delay_safely(process_media_task, media_id)
    return len(ids)
