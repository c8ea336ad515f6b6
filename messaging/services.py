"""Every write of direct messaging and notifications. HTTP, pages and the personal-stream
socket all come here, so a message takes one path whichever way it was sent."""

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from messaging import emails, events, selectors
from messaging.exceptions import (
    BlockedError,
    ClientMessageIdReusedError,
    MessageDeletedError,
    MessageNotFoundError,
    NotMessageSenderError,
    RecipientInactiveError,
    RecipientNotFoundError,
    SelfBlockError,
    SelfMessageError,
    TooManyParticipantsError,
    UnknownNotificationTypeError,
    YouBlockedError,
)
from messaging.models import (
    MAX_GROUP_PARTICIPANTS,
    MAX_MESSAGE_LENGTH,
    Block,
    Conversation,
    EmailFrequency,
    Message,
    Notification,
    NotificationPreference,
    Participant,
)
from messaging.notification_types import ADDED_TO_GROUP, NOTIFICATION_TYPES
from p2p_sandbox.errors import AppError
from p2p_sandbox.markdown import render_markdown, to_plain_text


class InvalidContentError(AppError):
    code = "invalid_content"
    status = 422
    message = f"A message has 1 to {MAX_MESSAGE_LENGTH} characters."


def clean_content(content: object) -> str:
    if not isinstance(content, str) or not content.strip() or len(content) > MAX_MESSAGE_LENGTH:
        raise InvalidContentError
    return content.strip()


def get_recipient(user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise RecipientNotFoundError
    return user


def check_can_message(actor: User, other: User) -> None:
    """Deactivated people and blocked pairs (in either direction) cannot exchange messages."""
    if not other.is_active:
        raise RecipientInactiveError
    blocks = set(
        Block.objects.filter(
            models.Q(blocker=actor, blocked=other) | models.Q(blocker=other, blocked=actor)
        ).values_list("blocker_id", flat=True)
    )
    if other.pk in blocks:
        raise BlockedError
    if actor.pk in blocks:
        raise YouBlockedError


def start_direct_conversation(*, actor: User, other_id: int) -> Conversation:
    """The one conversation between `actor` and `other_id`, created on first use."""
    if other_id == actor.pk:
        raise SelfMessageError
    other = get_recipient(other_id)
    check_can_message(actor, other)
    existing = selectors.get_direct_conversation(actor.pk, other.pk)
    if existing is not None:
        Participant.objects.filter(conversation=existing, left_at__isnull=False).update(
            left_at=None
        )
        return existing
    low, high = sorted((actor.pk, other.pk))
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, created_by=actor, user_low_id=low, user_high_id=high
            )
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user_id=low),
                    Participant(conversation=conversation, user_id=high),
                ]
            )
    except IntegrityError:
        # Both people started it at the same moment: use the one that was stored.
        conversation = selectors.get_direct_conversation(actor.pk, other.pk)
        if conversation is None:
            raise
    return conversation


def create_group_conversation(
    *, actor: User, title: str, participant_ids: Iterable[int]
) -> Conversation:
    """A named group of the actor and up to nine others, each told by a notification."""
    others = sorted(set(participant_ids) - {actor.pk})
    if len(others) + 1 > MAX_GROUP_PARTICIPANTS:
        raise TooManyParticipantsError
    if not others:
        raise SelfMessageError("A group needs at least one other participant.")
    people = {u.pk: u for u in User.objects.filter(pk__in=others)}
    if len(people) != len(others):
        raise RecipientNotFoundError
    for person in people.values():
        check_can_message(actor, person)
    with transaction.atomic():
        conversation = Conversation.objects.create(
            kind=Conversation.Kind.GROUP, title=title.strip()[:100], created_by=actor
        )
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, user_id=i) for i in [actor.pk, *others]]
        )
        for person in people.values():
            notify(
                recipient=person,
                type=ADDED_TO_GROUP.key,
                actor=actor,
                target=conversation,
                text=f"{actor} added you to “{conversation.title}”",
                link=f"/messages/{conversation.pk}/",
            )
    return conversation


def find_retried_message(
    actor: User, client_msg_id: str, receiver_id: int | None, conversation_id: int | None
) -> Message | None:
    """The message already stored under this client_msg_id, if it went to the same place."""
    message = (
        Message.objects.filter(sender=actor, client_msg_id=client_msg_id)
        .select_related("sender__organization", "conversation")
        .first()
    )
    if message is None:
        return None
    conversation = message.conversation
    same_place = (
        conversation.pk == conversation_id
        if conversation_id is not None
        else conversation.is_direct
        and receiver_id in {conversation.user_low_id, conversation.user_high_id}
    )
    if not same_place:
        raise ClientMessageIdReusedError
    return message


def message_recipients(conversation_id: int, sender_id: int) -> list[int]:
    """Active participants (the sender too, for their other tabs), less anyone who blocked the
    sender."""
    blockers = Block.objects.filter(blocked_id=sender_id).values("blocker_id")
    return list(
        Participant.objects.filter(conversation_id=conversation_id, left_at__isnull=True)
        .exclude(user_id__in=blockers)
        .values_list("user_id", flat=True)
    )


def publish_unread_counts(user_ids: Iterable[int], conversation_id: int | None = None) -> None:
    for user_id in user_ids:
        counts: dict[str, Any] = selectors.get_unread_counts(user_id)
        if conversation_id is not None:
            counts["conversation_id"] = conversation_id
            counts["conversation_unread"] = selectors.count_unread_in(user_id, conversation_id)
        events.publish_unread_counts(user_id, counts)


def send_direct_message(
    *,
    actor: User,
    content: str,
    receiver_id: int | None = None,
    conversation_id: int | None = None,
    client_msg_id: str | None = None,
) -> tuple[Message, bool]:
    """Store a message to a person (their 1:1 conversation) or into a conversation.

    Answers (message, created): a retry with a stored `client_msg_id` answers the stored
    message and False, and changes nothing.
    """
    content = clean_content(content)
    if (receiver_id is None) == (conversation_id is None):
        raise AppError("Give either receiver_id or conversation_id.", code="invalid_destination")
    if client_msg_id:
        retried = find_retried_message(actor, client_msg_id, receiver_id, conversation_id)
        if retried is not None:
            return retried, False

    if receiver_id is not None:
        conversation = start_direct_conversation(actor=actor, other_id=receiver_id)
    else:
        participant = selectors.get_participant(actor.pk, conversation_id)  # type: ignore[arg-type]
        conversation = participant.conversation
        if conversation.is_direct:
            other_id = (
                conversation.user_high_id
                if conversation.user_low_id == actor.pk
                else conversation.user_low_id
            )
            check_can_message(actor, get_recipient(other_id))  # type: ignore[arg-type]

    with transaction.atomic():
        now = timezone.now()
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    sender=actor,
                    content=content,
                    content_html=render_markdown(content),
                    client_msg_id=client_msg_id or None,
                    created_at=now,
                )
        except IntegrityError:
            if not client_msg_id:
                raise
            # The same retry arrived twice at once and the other one was stored first.
            retried = find_retried_message(actor, client_msg_id, receiver_id, conversation_id)
            if retried is None:
                raise
            return retried, False
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
        Participant.objects.filter(conversation=conversation, user=actor).update(
            last_read_message_id=message.pk, last_read_at=now, is_archived=False
        )
        Participant.objects.filter(
            conversation=conversation, is_archived=True, is_muted=False, left_at__isnull=True
        ).update(is_archived=False)
        message = Message.objects.select_related("sender__organization").get(pk=message.pk)
        recipients = message_recipients(conversation.pk, actor.pk)
        events.publish_new_message(message, recipients)
        publish_unread_counts([i for i in recipients if i != actor.pk], conversation.pk)
    return message, True


def get_own_message(actor: User, message_id: int) -> Message:
    message = (
        Message.objects.select_for_update()
        .filter(
            pk=message_id,
            conversation__participants__user=actor,
            conversation__participants__left_at__isnull=True,
        )
        .first()
    )
    if message is None:
        raise MessageNotFoundError
    if message.sender_id != actor.pk:
        raise NotMessageSenderError
    if message.is_deleted:
        raise MessageDeletedError
    return message


def edit_message(*, actor: User, message_id: int, content: str) -> Message:
    content = clean_content(content)
    with transaction.atomic():
        message = get_own_message(actor, message_id)
        if content == message.content:
            return Message.objects.select_related("sender__organization").get(pk=message.pk)
        message.content = content
        message.content_html = render_markdown(content)
        message.edited_at = timezone.now()
        message.save(update_fields=["content", "content_html", "edited_at"])
        message = Message.objects.select_related("sender__organization").get(pk=message.pk)
        events.publish_message_updated(
            message, message_recipients(message.conversation_id, actor.pk)
        )
    return message


def delete_message(*, actor: User, message_id: int) -> Message:
    """Soft delete: the message keeps its place as "message deleted"."""
    with transaction.atomic():
        message = get_own_message(actor, message_id)
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
        message = Message.objects.select_related("sender__organization").get(pk=message.pk)
        recipients = message_recipients(message.conversation_id, actor.pk)
        events.publish_message_updated(message, recipients)
        publish_unread_counts([i for i in recipients if i != actor.pk], message.conversation_id)
    return message


def mark_conversation_read(
    *, actor: User, conversation_id: int, message_id: int | None = None
) -> Participant:
    """Read up to `message_id` (default: the newest message). Reading never moves backwards;
    the other participants get `message_read` for their read receipts."""
    with transaction.atomic():
        participant = selectors.get_participant(actor.pk, conversation_id)
        messages = Message.objects.filter(conversation_id=conversation_id)
        if message_id is None:
            message_id = messages.aggregate(newest=Max("id"))["newest"] or 0
        elif not messages.filter(pk=message_id).exists():
            raise MessageNotFoundError
        updated = Participant.objects.filter(
            pk=participant.pk, last_read_message_id__lt=message_id
        ).update(last_read_message_id=message_id, last_read_at=timezone.now())
        participant.refresh_from_db()
        if updated:
            recipients = message_recipients(conversation_id, actor.pk)
            events.publish_message_read(
                conversation_id=conversation_id,
                reader_id=actor.pk,
                message_id=message_id,
                recipient_ids=recipients,
            )
            publish_unread_counts([actor.pk], conversation_id)
    return participant


def update_participation(
    *,
    actor: User,
    conversation_id: int,
    is_archived: bool | None = None,
    is_muted: bool | None = None,
) -> Participant:
    with transaction.atomic():
        participant = selectors.get_participant(actor.pk, conversation_id)
        if is_archived is not None:
            participant.is_archived = is_archived
        if is_muted is not None:
            participant.is_muted = is_muted
        participant.save(update_fields=["is_archived", "is_muted"])
        publish_unread_counts([actor.pk])
    return participant


def signal_typing_recipients(actor: User, conversation_id: int) -> list[int]:
    """Who hears that `actor` is typing: the other active participants who have not blocked
    them, and nobody in a 1:1 conversation where either side blocked the other."""
    participant = selectors.get_participant(actor.pk, conversation_id)
    recipients = [i for i in message_recipients(conversation_id, actor.pk) if i != actor.pk]
    if participant.conversation.is_direct and (
        not recipients or Block.objects.filter(blocker=actor, blocked_id__in=recipients).exists()
    ):
        return []
    return recipients


def block_user(*, actor: User, user_id: int) -> Block:
    """Idempotent: blocking twice keeps the first block."""
    if user_id == actor.pk:
        raise SelfBlockError
    get_recipient(user_id)
    block, _ = Block.objects.get_or_create(blocker=actor, blocked_id=user_id)
    return block


def unblock_user(*, actor: User, user_id: int) -> None:
    Block.objects.filter(blocker=actor, blocked_id=user_id).delete()


# Notifications


def target_reference(target: models.Model | None) -> tuple[ContentType | None, int | None]:
    if target is None:
        return None, None
    return ContentType.objects.get_for_model(target), target.pk


def notify(
    *,
    recipient: User,
    type: str,
    text: str,
    actor: User | None = None,
    target: models.Model | None = None,
    link: str = "",
) -> Notification | None:
    """Tell `recipient` about something, as their preference for `type` says: in the app (stored
    and pushed live) and by email (now, in the daily digest, or not at all).

    Nothing is made for one's own actions, for a deactivated recipient, or for the actions of
    someone the recipient blocked. Call it inside the transaction of the write it reports.
    """
    if type not in NOTIFICATION_TYPES:
        raise UnknownNotificationTypeError
    if not recipient.is_active or (actor is not None and actor.pk == recipient.pk):
        return None
    if actor is not None and Block.objects.filter(blocker=recipient, blocked=actor).exists():
        return None
    in_app, email = selectors.get_preference(recipient.pk, type)
    if not in_app and email == EmailFrequency.OFF:
        return None
    target_type, target_id = target_reference(target)
    with transaction.atomic():
        notification = Notification.objects.create(
            recipient=recipient,
            type=type,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            text=to_plain_text(text)[:300] if "<" in text else text[:300],
            link=link,
            email_frequency=email,
            is_shown_in_app=in_app,
        )
        if in_app:
            notification = Notification.objects.select_related("actor__organization").get(
                pk=notification.pk
            )
            events.publish_notification(notification)
            publish_unread_counts([recipient.pk])
        if email == EmailFrequency.INSTANT:
            emails.queue_notification_email(notification)
    return notification


def mark_notifications_read(*, actor: User, ids: Iterable[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them without `ids`); answers how many."""
    with transaction.atomic():
        unread = Notification.objects.filter(recipient=actor, read_at__isnull=True)
        if ids is not None:
            unread = unread.filter(pk__in=list(ids))
        count = unread.update(read_at=timezone.now())
        if count:
            publish_unread_counts([actor.pk])
    return count


def update_notification_preference(
    *, actor: User, type: str, in_app: bool | None = None, email: str | None = None
) -> NotificationPreference:
    kind = NOTIFICATION_TYPES.get(type)
    if kind is None:
        raise UnknownNotificationTypeError
    if email is not None and email not in EmailFrequency.values:
        raise AppError("Choose instant, daily or off.", code="invalid_email_choice", status=422)
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(
            user=actor,
            type=type,
            defaults={"in_app": kind.default_in_app, "email": kind.default_email},
        )
        if in_app is not None:
            preference.in_app = in_app
        if email is not None:
            preference.email = email
        preference.save(update_fields=["in_app", "email"])
    return preference


def unsubscribe_from_email(*, token: str) -> tuple[User, str]:
    """Turn off the email an unsubscribe token names: one type, or (emails.DAILY_DIGEST) every
    type the person receives in the daily digest. Idempotent; an invalid token
    (InvalidUnsubscribeTokenError) changes nothing."""
    user, type = emails.read_unsubscribe_token(token)
    types = emails.daily_digest_types(user.pk) if type == emails.DAILY_DIGEST else [type]
    with transaction.atomic():
        for key in types:
            update_notification_preference(actor=user, type=key, email=EmailFrequency.OFF)
    return user, type


def push_to_stream(*, user_id: int, type: str, payload: dict[str, Any]) -> None:
    """Record an event of another app (`media_ready`, ...) in a user's personal stream; it is
    sent after the current transaction commits and replayed on resume."""
    with transaction.atomic():
        events.record_events([user_id], type, payload)
