"""The personal stream: what is sent to each user's group `messaging.user.<id>`.

Stored events (`new_message`, `message_updated`, `message_read`, `notification`, and any type
another app records, such as `media_ready`) are written as StreamEvent rows in the caller's
transaction, each with the next `event_id` of its user, and sent after commit, so a client
that reconnects replays them with `resume`. Ephemeral events (`typing`, `unread_counts`) are
only sent: a missed one has no value later (unread counts are sent afresh on resume).

What reaches the consumer on the channel layer:
    {"type": "stream.event", "event": {"type": ..., "event_id": N | None, ...payload}}
and the consumer sends `event` to the socket as is.
"""

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from messaging.models import Message, Notification, Stream, StreamEvent
from messaging.schemas import MessageOut, NotificationOut

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"messaging.user.{user_id}"


def message_payload(message: Message) -> dict[str, Any]:
    """The message as MessageOut renders it (sender and organization must be loaded)."""
    return MessageOut.from_orm(message).model_dump(mode="json")


def notification_payload(notification: Notification) -> dict[str, Any]:
    return NotificationOut.from_orm(notification).model_dump(mode="json")


def send_to_users(deliveries: list[tuple[int, dict[str, Any]]]) -> None:
    """Send each event to its user's group now. A channel layer that is down loses only the
    live copy: stored events come back with `resume`."""
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id, event in deliveries:
        try:
            async_to_sync(layer.group_send)(
                user_group(user_id), {"type": "stream.event", "event": event}
            )
        except Exception:  # noqa: BLE001 - any layer failure; the database keeps the event
            logger.warning("Could not send %s to user %s", event.get("type"), user_id)


def record_events(user_ids: Iterable[int], type: str, payload: dict[str, Any]) -> dict[int, int]:
    """Store `payload` as event `type` in each user's stream and send it after commit.

    Answers {user_id: event_id}. Must run inside a transaction: the Stream rows are locked in
    user id order until commit, which keeps each user's event ids in commit order.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    Stream.objects.bulk_create([Stream(user_id=i) for i in ids], ignore_conflicts=True)
    streams = list(Stream.objects.select_for_update().filter(user_id__in=ids).order_by("user_id"))
    for stream in streams:
        stream.last_event_id += 1
    Stream.objects.bulk_update(streams, ["last_event_id"])
    StreamEvent.objects.bulk_create(
        [
            StreamEvent(user_id=s.user_id, event_id=s.last_event_id, type=type, payload=payload)
            for s in streams
        ]
    )
    deliveries = [
        (s.user_id, {"type": type, "event_id": s.last_event_id, **payload}) for s in streams
    ]
    transaction.on_commit(partial(send_to_users, deliveries), robust=True)
    return {s.user_id: s.last_event_id for s in streams}


def send_after_commit(user_ids: Iterable[int], type: str, payload: dict[str, Any]) -> None:
    """An ephemeral event for each user, sent once the transaction commits."""
    deliveries = [(i, {"type": type, "event_id": None, **payload}) for i in sorted(set(user_ids))]
    transaction.on_commit(partial(send_to_users, deliveries), robust=True)


def stored_event(event: StreamEvent) -> dict[str, Any]:
    """A stored event as the socket receives it."""
    return {"type": event.type, "event_id": event.event_id, **event.payload}


def publish_new_message(message: Message, recipient_ids: Iterable[int]) -> None:
    record_events(recipient_ids, "new_message", {"message": message_payload(message)})


def publish_message_updated(message: Message, recipient_ids: Iterable[int]) -> None:
    record_events(recipient_ids, "message_updated", {"message": message_payload(message)})


def publish_message_read(
    *, conversation_id: int, reader_id: int, message_id: int, recipient_ids: Iterable[int]
) -> None:
    record_events(
        recipient_ids,
        "message_read",
        {"conversation_id": conversation_id, "user_id": reader_id, "message_id": message_id},
    )


def publish_notification(notification: Notification) -> None:
    record_events(
        [notification.recipient_id],
        "notification",
        {"notification": notification_payload(notification)},
    )


def publish_unread_counts(user_id: int, counts: dict[str, Any]) -> None:
    send_after_commit([user_id], "unread_counts", counts)


async def asend_typing(*, conversation_id: int, user_id: int, name: str, to: list[int]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    event = {
        "type": "typing",
        "event_id": None,
        "conversation_id": conversation_id,
        "user_id": user_id,
        "name": name,
    }
    for recipient_id in to:
        await layer.group_send(user_group(recipient_id), {"type": "stream.event", "event": event})
