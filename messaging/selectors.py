"""Reads of direct messages, notifications and the personal stream.

What a participant sees of a conversation: every message, except those sent by someone they
had blocked at the time (a block hides what is new, not what was said before).
"""

from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from accounts.models import User
from messaging.exceptions import ConversationNotFoundError
from messaging.models import (
    Block,
    Conversation,
    Message,
    Notification,
    NotificationPreference,
    Participant,
    Stream,
    StreamEvent,
)
from messaging.notification_types import NOTIFICATION_TYPES

MESSAGE_PAGE_SIZE = 50
RESUME_LIMIT = 500


def hidden_by_block(user_id: int) -> Exists:
    """True for a message whose sender `user_id` had blocked when it was sent."""
    return Exists(
        Block.objects.filter(
            blocker_id=user_id,
            blocked_id=OuterRef("sender_id"),
            created_at__lte=OuterRef("created_at"),
        )
    )


def visible_messages(user_id: int) -> QuerySet[Message]:
    return Message.objects.exclude(hidden_by_block(user_id))


def get_participant(user_id: int, conversation_id: int) -> Participant:
    """The caller's active participation, or ConversationNotFoundError (also for outsiders, so
    a conversation's existence is not revealed)."""
    participant = (
        Participant.objects.select_related("conversation")
        .filter(user_id=user_id, conversation_id=conversation_id, left_at__isnull=True)
        .first()
    )
    if participant is None:
        raise ConversationNotFoundError
    return participant


async def aget_participant(user_id: int, conversation_id: int) -> Participant:
    participant = (
        await Participant.objects.select_related("conversation")
        .filter(user_id=user_id, conversation_id=conversation_id, left_at__isnull=True)
        .afirst()
    )
    if participant is None:
        raise ConversationNotFoundError
    return participant


def list_messages(
    *, user_id: int, conversation_id: int, before: int | None = None, after: int | None = None
) -> QuerySet[Message]:
    """A conversation's messages as `user_id` sees them, oldest first in the answer's order.

    `before`: the newest page older than that id (scrolling back); `after`: everything newer
    than that id (catching up), oldest first. Without either: the newest page. The caller must
    have checked participation and slices the queryset (newest-first for `before`/none).
    """
    messages = (
        visible_messages(user_id)
        .filter(conversation_id=conversation_id)
        .select_related("sender__organization")
    )
    if after is not None:
        return messages.filter(id__gt=after).order_by("id")
    if before is not None:
        messages = messages.filter(id__lt=before)
    return messages.order_by("-id")


def unread_messages(user_id: int, *, include_muted: bool = True) -> QuerySet[Message]:
    """Messages to `user_id` newer than what they read, not sent by them, not deleted, in
    conversations they are still in."""
    # One filter() call, so every condition applies to the same participant row.
    participant = {
        "conversation__participants__user_id": user_id,
        "conversation__participants__left_at__isnull": True,
        "id__gt": F("conversation__participants__last_read_message_id"),
    }
    if not include_muted:
        participant["conversation__participants__is_muted"] = False
    return (
        visible_messages(user_id)
        .filter(deleted_at__isnull=True, **participant)
        .exclude(sender_id=user_id)
    )


def get_unread_counts(user_id: int) -> dict[str, int]:
    """`messages` and `conversations` leave muted conversations out, as the header badge does."""
    unread = unread_messages(user_id, include_muted=False)
    totals = unread.aggregate(
        messages=Count("id"), conversations=Count("conversation_id", distinct=True)
    )
    notifications = Notification.objects.filter(
        recipient_id=user_id, is_shown_in_app=True, read_at__isnull=True
    ).count()
    return {
        "messages": totals["messages"],
        "conversations": totals["conversations"],
        "notifications": notifications,
    }


def count_unread_in(user_id: int, conversation_id: int) -> int:
    return unread_messages(user_id).filter(conversation_id=conversation_id).count()


def list_conversations(user_id: int, *, archived: bool = False) -> QuerySet[Participant]:
    """The caller's conversations, most recent first, each annotated with `unread_count` and
    `last_message_id`. Participants and last messages are fetched by `describe_conversations`."""
    unread = (
        visible_messages(user_id)
        .filter(
            conversation_id=OuterRef("conversation_id"),
            id__gt=OuterRef("last_read_message_id"),
            deleted_at__isnull=True,
        )
        .exclude(sender_id=user_id)
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    last_message = (
        visible_messages(user_id)
        .filter(conversation_id=OuterRef("conversation_id"))
        .order_by("-id")
        .values("id")[:1]
    )
    return (
        Participant.objects.filter(user_id=user_id, left_at__isnull=True, is_archived=archived)
        .select_related("conversation")
        .annotate(unread_count=Subquery(unread), last_message_id=Subquery(last_message))
        .order_by(F("conversation__last_message_at").desc(nulls_last=True), "-conversation_id")
    )


def describe_conversations(participations: list[Participant]) -> list[dict[str, Any]]:
    """ConversationOut dicts for a page of `list_conversations`, in three queries whatever the
    page size: the other participants, the last messages, and that is all."""
    conversation_ids = [p.conversation_id for p in participations]
    members: dict[int, list[Participant]] = {i: [] for i in conversation_ids}
    for member in (
        Participant.objects.filter(conversation_id__in=conversation_ids, left_at__isnull=True)
        .select_related("user__organization")
        .order_by("joined_at", "id")
    ):
        members[member.conversation_id].append(member)
    last_ids = [p.last_message_id for p in participations if p.last_message_id]
    last_messages = {
        m.pk: m
        for m in Message.objects.filter(pk__in=last_ids).select_related("sender__organization")
    }
    answer = []
    for participation in participations:
        conversation = participation.conversation
        others = [m for m in members[conversation.pk] if m.user_id != participation.user_id]
        answer.append(
            {
                "id": conversation.pk,
                "kind": conversation.kind,
                "title": conversation.title,
                "participants": [m.user for m in members[conversation.pk]],
                "last_message": last_messages.get(participation.last_message_id),
                "last_message_at": conversation.last_message_at,
                "unread_count": participation.unread_count or 0,
                "is_archived": participation.is_archived,
                "is_muted": participation.is_muted,
                "read_up_to": {m.user_id: m.last_read_message_id for m in others},
            }
        )
    return answer


def get_conversation(user_id: int, conversation_id: int) -> dict[str, Any]:
    participation = (
        list_conversations(user_id, archived=False).filter(conversation_id=conversation_id).first()
        or list_conversations(user_id, archived=True)
        .filter(conversation_id=conversation_id)
        .first()
    )
    if participation is None:
        raise ConversationNotFoundError
    return describe_conversations([participation])[0]


def get_direct_conversation(user_id: int, other_id: int) -> Conversation | None:
    low, high = sorted((user_id, other_id))
    return Conversation.objects.filter(kind="direct", user_low_id=low, user_high_id=high).first()


def search_messages(user_id: int, query: str) -> QuerySet[Message]:
    """Messages in the caller's conversations whose text contains every word of `query`."""
    messages = visible_messages(user_id).filter(
        conversation__participants__user_id=user_id,
        conversation__participants__left_at__isnull=True,
        deleted_at__isnull=True,
    )
    for term in query.split():
        messages = messages.filter(content__icontains=term)
    return messages.select_related("sender__organization", "conversation").order_by("-id")


def list_blocks(user_id: int) -> QuerySet[Block]:
    return (
        Block.objects.filter(blocker_id=user_id)
        .select_related("blocked__organization")
        .order_by("-created_at", "-id")
    )


def is_blocked_between(user_id: int, other_id: int) -> bool:
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def list_notifications(user_id: int, *, unread_only: bool = False) -> QuerySet[Notification]:
    """Newest first; those kept only for email (in-app turned off) are left out."""
    notifications = Notification.objects.filter(
        recipient_id=user_id, is_shown_in_app=True
    ).select_related("actor__organization")
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-id")


def get_preferences(user_id: int) -> list[dict[str, Any]]:
    """Every registered notification type with the user's choice or the type's default."""
    stored = {p.type: p for p in NotificationPreference.objects.filter(user_id=user_id)}
    answer = []
    for key, kind in NOTIFICATION_TYPES.items():
        preference = stored.get(key)
        answer.append(
            {
                "type": key,
                "label": str(kind.label),
                "description": str(kind.description),
                "in_app": preference.in_app if preference else kind.default_in_app,
                "email": preference.email if preference else kind.default_email,
            }
        )
    return answer


def get_preference(user_id: int, type: str) -> tuple[bool, str]:
    """(in_app, email) for one type."""
    kind = NOTIFICATION_TYPES[type]
    preference = NotificationPreference.objects.filter(user_id=user_id, type=type).first()
    if preference is None:
        return kind.default_in_app, kind.default_email
    return preference.in_app, preference.email


async def aget_last_event_id(user_id: int) -> int:
    """The id of the newest event of the user's stream; 0 before the first."""
    last = await (
        Stream.objects.filter(user_id=user_id).values_list("last_event_id", flat=True).afirst()
    )
    return last or 0


async def alist_stream_events(user_id: int, after: int) -> list[StreamEvent]:
    """Up to RESUME_LIMIT + 1 stored events after `after`, oldest first; one more than the
    limit tells the caller that the client is too far behind to replay."""
    return [
        event
        async for event in StreamEvent.objects.filter(user_id=user_id, event_id__gt=after).order_by(
            "event_id"
        )[: RESUME_LIMIT + 1]
    ]


def get_user_brief(user_id: int) -> User:
    return User.objects.select_related("organization").get(pk=user_id)
