"""What the forums send on the channel layer: the only module that touches it.

Groups: `forum.topic.<id>` (one topic's live thread) and `forum.all` (new topics, for lists).
What reaches a consumer:
    {"type": "forum.event", "event": {"type": ..., "topic_id": ..., ...}}
and the consumer sends `event` to its socket as is.

Stored events (post_created, post_updated, post_deleted, post_liked, best_answer,
topic_updated, topic_deleted, topic_created) are built when published, inside the write's
transaction, and sent after it commits. Ephemeral ones (typing, presence) are sent at once by
the consumers. A layer that is down loses only the live copy: posts come back with `resume`.
"""

import logging
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from forums.models import Post, Topic
from forums.schemas import PostOut, TopicListItemOut

logger = logging.getLogger(__name__)

ALL_TOPICS_GROUP = "forum.all"
MESSAGE_TYPE = "forum.event"
MAX_LISTED_VIEWERS = 20

Event = dict[str, Any]


def topic_group(topic_id: int) -> str:
    return f"forum.topic.{topic_id}"


def post_payload(post: Post) -> dict[str, Any]:
    """PostOut of a post (author, organization and reply_to__author loaded) as everyone sees
    it: per-viewer state is not broadcast."""
    return {**PostOut.from_orm(post).model_dump(mode="json"), "is_liked": False}


def topic_list_item_payload(topic: Topic) -> dict[str, Any]:
    return {
        **TopicListItemOut.from_orm(topic).model_dump(mode="json"),
        "is_liked": False,
        "is_bookmarked": False,
    }


def send_to_group(group: str, event: Event) -> None:
    """Send one event now. A channel layer that is down is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "event": event})
    except Exception:  # noqa: BLE001 - any layer failure; the database keeps the post
        logger.warning("Could not send %s to %s", event.get("type"), group)


def publish(group: str, event: Event) -> None:
    """Send `event` to `group` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(send_to_group, group, event), robust=True)


def publish_post_created(post: Post) -> None:
    publish(
        topic_group(post.topic_id),
        {"type": "post_created", "topic_id": post.topic_id, "post": post_payload(post)},
    )


def publish_post_updated(post: Post) -> None:
    publish(
        topic_group(post.topic_id),
        {"type": "post_updated", "topic_id": post.topic_id, "post": post_payload(post)},
    )


def publish_post_deleted(post: Post) -> None:
    publish(
        topic_group(post.topic_id),
        {
            "type": "post_deleted",
            "topic_id": post.topic_id,
            "post_id": post.pk,
            "post": post_payload(post),
        },
    )


def publish_post_liked(*, topic_id: int, post_id: int, like_count: int) -> None:
    publish(
        topic_group(topic_id),
        {"type": "post_liked", "topic_id": topic_id, "post_id": post_id, "like_count": like_count},
    )


def publish_best_answer(*, topic_id: int, post_id: int | None) -> None:
    publish(
        topic_group(topic_id), {"type": "best_answer", "topic_id": topic_id, "post_id": post_id}
    )


def publish_topic_updated(topic: Topic) -> None:
    """The topic's state shown around the thread (category loaded)."""
    category = topic.category
    publish(
        topic_group(topic.pk),
        {
            "type": "topic_updated",
            "topic_id": topic.pk,
            "is_pinned": topic.is_pinned,
            "is_locked": topic.is_locked,
            "category": {"id": category.pk, "name": category.name, "slug": category.slug},
            "title": topic.title,
        },
    )


def publish_topic_deleted(topic_id: int) -> None:
    publish(topic_group(topic_id), {"type": "topic_deleted", "topic_id": topic_id})


def publish_topic_created(topic: Topic) -> None:
    """To `forum.all`: the new topic as a list shows it (loaded as the selectors load it)."""
    publish(
        ALL_TOPICS_GROUP,
        {"type": "topic_created", "topic_id": topic.pk, "topic": topic_list_item_payload(topic)},
    )


async def asend_to_group(group: str, event: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "event": event})
    except Exception:  # noqa: BLE001 - ephemeral: a lost copy is of no value later
        logger.warning("Could not send %s to %s", event.get("type"), group)


async def asend_typing(topic_id: int, user_id: int, name: str) -> None:
    """`{"type": "typing", "topic_id", "user": {"id", "name"}}`; consumers leave out the typist's
    own sockets."""
    await asend_to_group(
        topic_group(topic_id),
        {"type": "typing", "topic_id": topic_id, "user": {"id": user_id, "name": name}},
    )


async def asend_presence(topic_id: int, count: int, viewers: list[dict[str, Any]]) -> None:
    """`{"type": "presence", "topic_id", "count", "viewers": [{"id", "name"}, ...]}` with at most
    MAX_LISTED_VIEWERS viewers listed; `count` counts them all."""
    listed = [{"id": v["id"], "name": v["name"]} for v in viewers[:MAX_LISTED_VIEWERS]]
    await asend_to_group(
        topic_group(topic_id),
        {"type": "presence", "topic_id": topic_id, "count": count, "viewers": listed},
    )
