"""Background work of the forums."""

from celery import shared_task

from forums import services


@shared_task(name="forums.notify_reply_followers_task", ignore_result=True)
def notify_reply_followers_task(post_id: int) -> int:
    return services.notify_reply_followers(post_id)
