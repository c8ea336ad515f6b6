"""Which notification emails go out, and when. Every email says why it was sent and carries a
one-click unsubscribe link for its type (a signed token of user and type), also as the RFC 8058
List-Unsubscribe headers.

- A notification whose preference is `instant` is emailed when it is made (`notify`).
- Direct messages are emailed by `send_due_message_emails` (every minute) once they are still
  unread MESSAGE_EMAIL_DELAY after they were sent; everything due for one person goes in one
  email. `Participant.emailed_through_id` records the newest message emailed, so a message is
  emailed at most once.
- `send_daily_digests` (once a day) sends each person one email with the notifications and, if
  they chose the daily digest for direct messages, the unread messages of the day.
"""

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from messaging.exceptions import InvalidUnsubscribeTokenError
from messaging.models import (
    Block,
    Conversation,
    EmailFrequency,
    Message,
    Notification,
    NotificationPreference,
    Participant,
)
from messaging.notification_types import DIRECT_MESSAGE, NOTIFICATION_TYPES
from p2p_sandbox.emails import queue_email
from p2p_sandbox.markdown import to_plain_text
from p2p_sandbox.models import OutboundEmail

UNSUBSCRIBE_SALT = "messaging.unsubscribe"
# Not a notification type: the token in a digest's List-Unsubscribe header, which turns off
# every type the person receives in the daily digest.
DAILY_DIGEST = "daily_digest"
# An email lists at most this many messages and this many notifications (the newest ones).
MAX_LISTED = 20
EXCERPT_LENGTH = 200
# How many people one run of `send_due_message_emails` serves; the next run serves the rest.
MESSAGE_EMAIL_BATCH = 500


def site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


# Unsubscribing


def make_unsubscribe_token(user_id: int, type: str) -> str:
    return signing.dumps({"u": user_id, "t": type}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    """The user and type a token unsubscribes; InvalidUnsubscribeTokenError if it was not
    made here, or names a type or user that no longer exists."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        user_id, type = int(data["u"]), str(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise InvalidUnsubscribeTokenError from error
    user = User.objects.filter(pk=user_id).first()
    if user is None or (type not in NOTIFICATION_TYPES and type != DAILY_DIGEST):
        raise InvalidUnsubscribeTokenError
    return user, type


def unsubscribe_url(user_id: int, type: str) -> str:
    return site_url(
        reverse("messaging:unsubscribe", kwargs={"token": make_unsubscribe_token(user_id, type)})
    )


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to `url`."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def unsubscribe_label(type: str) -> str:
    """What a token of `type` unsubscribes from, for the confirmation page."""
    if type == DAILY_DIGEST:
        return _("The daily digest")
    return str(NOTIFICATION_TYPES[type].label)


# Preferences in SQL


def email_preference_is(type: str, frequency: str, user_field: str) -> Q:
    """True where the user in the outer query's `user_field` gets `type` by email at
    `frequency`, by their stored choice or, without one, the type's default."""
    stored = NotificationPreference.objects.filter(user_id=OuterRef(user_field), type=type)
    chosen = Q(Exists(stored.filter(email=frequency)))
    if NOTIFICATION_TYPES[type].default_email == frequency:
        return chosen | ~Q(Exists(stored))
    return chosen


def daily_digest_types(user_id: int) -> list[str]:
    stored = dict(
        NotificationPreference.objects.filter(user_id=user_id).values_list("type", "email")
    )
    return [
        key
        for key, kind in NOTIFICATION_TYPES.items()
        if stored.get(key, kind.default_email) == EmailFrequency.DAILY
    ]


# Which messages are due


def emailable_participants(frequency: str, *, sent_before: datetime) -> QuerySet[Participant]:
    """Participations whose user gets direct messages by email at `frequency` and has a message
    there sent before `sent_before` that is neither read, nor emailed, nor deleted, nor theirs,
    nor from someone they blocked. Muted conversations and those they left send no email."""
    threshold = Greatest(OuterRef("last_read_message_id"), OuterRef("emailed_through_id"))
    waiting = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            id__gt=threshold,
            deleted_at__isnull=True,
            created_at__lte=sent_before,
        )
        .exclude(sender_id=OuterRef("user_id"))
        .exclude(
            Exists(
                Block.objects.filter(
                    blocker_id=OuterRef(OuterRef("user_id")), blocked_id=OuterRef("sender_id")
                )
            )
        )
    )
    return Participant.objects.filter(
        Exists(waiting),
        email_preference_is(DIRECT_MESSAGE.key, frequency, "user_id"),
        left_at__isnull=True,
        is_muted=False,
        user__is_active=True,
        user__email_verified_at__isnull=False,
    )


def due_messages(
    user_id: int, participants: list[Participant], *, sent_before: datetime
) -> dict[Participant, list[Message]]:
    """For each of the (locked) participations, its messages to email, oldest first.

    Per conversation only the unbroken run of messages sent before `sent_before` is due: a
    message with a smaller id can be sent a moment later than one with a larger id, and
    `emailed_through_id` must never pass a message that was not emailed.
    """
    if not participants:
        return {}
    by_conversation = {p.conversation_id: p for p in participants}
    newer = Q()
    for participant in participants:
        newer |= Q(
            conversation_id=participant.conversation_id,
            id__gt=max(participant.last_read_message_id, participant.emailed_through_id),
        )
    candidates = (
        Message.objects.filter(newer, deleted_at__isnull=True)
        .exclude(sender_id=user_id)
        .exclude(sender_id__in=Block.objects.filter(blocker_id=user_id).values("blocked_id"))
        .select_related("sender", "conversation")
        .order_by("conversation_id", "id")
    )
    due: dict[Participant, list[Message]] = {}
    fenced: set[int] = set()
    for message in candidates:
        if message.conversation_id in fenced:
            continue
        if message.created_at > sent_before:
            fenced.add(message.conversation_id)
            continue
        due.setdefault(by_conversation[message.conversation_id], []).append(message)
    return due


def mark_emailed_through(due: dict[Participant, list[Message]]) -> None:
    for participant, messages in due.items():
        Participant.objects.filter(
            pk=participant.pk, emailed_through_id__lt=messages[-1].pk
        ).update(emailed_through_id=messages[-1].pk)


# What an email shows


def conversation_label(conversation: Conversation) -> str:
    if conversation.is_direct:
        return _("Direct message")
    return conversation.title or _("Group conversation")


def conversation_url(conversation_id: int) -> str:
    return site_url(f"/messages/{conversation_id}/")


def message_items(messages: list[Message]) -> tuple[list[dict[str, Any]], int]:
    """The newest MAX_LISTED of `messages` in the order given, and how many were left out."""
    listed = messages[-MAX_LISTED:]
    items = [
        {
            "sender": str(message.sender),
            "conversation": conversation_label(message.conversation),
            "excerpt": Truncator(to_plain_text(message.content_html)).chars(EXCERPT_LENGTH),
            "url": conversation_url(message.conversation_id),
            "sent_at": message.created_at,
        }
        for message in listed
    ]
    return items, len(messages) - len(listed)


def frequency_label(frequency: str) -> str:
    return str(EmailFrequency(frequency).label)


# Direct messages, shortly after they were sent


def send_due_message_emails(*, limit: int = MESSAGE_EMAIL_BATCH) -> int:
    """Email everyone whose direct messages have waited unread for MESSAGE_EMAIL_DELAY: one
    email per person, whatever the number of messages and conversations. Running it again
    sends nothing more. Answers how many emails were queued."""
    sent_before = timezone.now() - settings.MESSAGE_EMAIL_DELAY
    user_ids = list(
        emailable_participants(EmailFrequency.INSTANT, sent_before=sent_before)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()[:limit]
    )
    return sum(send_message_email(user_id, sent_before=sent_before) for user_id in user_ids)


def send_message_email(user_id: int, *, sent_before: datetime) -> bool:
    """Email one person their due messages and record them as emailed, in one transaction.

    The participations are claimed with SKIP LOCKED: a second worker running at the same time
    finds them taken and sends nothing, and one that runs after finds them emailed.
    """
    with transaction.atomic():
        participants = list(
            emailable_participants(EmailFrequency.INSTANT, sent_before=sent_before)
            .filter(user_id=user_id)
            .select_for_update(skip_locked=True, of=("self",))
        )
        due = due_messages(user_id, participants, sent_before=sent_before)
        if not due:
            return False
        user = User.objects.get(pk=user_id)
        messages = sorted((m for batch in due.values() for m in batch), key=lambda m: m.pk)
        url = unsubscribe_url(user.pk, DIRECT_MESSAGE.key)
        with translation.override(user.language):
            items, more = message_items(messages)
            minutes = max(int(settings.MESSAGE_EMAIL_DELAY.total_seconds() // 60), 1)
            if len(messages) == 1:
                subject = _("New message from %(name)s") % {"name": items[0]["sender"]}
            else:
                subject = ngettext(
                    "%(count)d unread message on P2P Sandbox",
                    "%(count)d unread messages on P2P Sandbox",
                    len(messages),
                ) % {"count": len(messages)}
            queue_email(
                to=user.email,
                template="unread_messages",
                context={
                    "subject": subject,
                    "heading": subject,
                    "messages": items,
                    "more_messages": more,
                    "action_url": site_url("/messages/"),
                    "action_label": _("Open your messages"),
                    "reason": ngettext(
                        "You get this email because these messages were still unread %(minutes)d "
                        "minute after they were sent, and your email preference for "
                        "“%(type)s” is “%(choice)s”.",
                        "You get this email because these messages were still unread %(minutes)d "
                        "minutes after they were sent, and your email preference for "
                        "“%(type)s” is “%(choice)s”.",
                        minutes,
                    )
                    % {
                        "minutes": minutes,
                        "type": DIRECT_MESSAGE.label,
                        "choice": frequency_label(EmailFrequency.INSTANT),
                    },
                    "unsubscribe_links": [
                        {
                            "label": _("Stop emails about “%(type)s”")
                            % {"type": DIRECT_MESSAGE.label},
                            "url": url,
                        }
                    ],
                },
                idempotency_key=f"messages:{user.pk}:{messages[-1].pk}",
                headers=unsubscribe_headers(url),
            )
        mark_emailed_through(due)
    return True


# The daily digest


def digest_notifications() -> QuerySet[Notification]:
    """Notifications waiting for the daily digest, less those whose type was since turned off."""
    turned_off = NotificationPreference.objects.filter(
        user_id=OuterRef("recipient_id"), type=OuterRef("type"), email=EmailFrequency.OFF
    )
    return Notification.objects.filter(
        email_frequency=EmailFrequency.DAILY,
        emailed_at__isnull=True,
        read_at__isnull=True,
        recipient__is_active=True,
        recipient__email_verified_at__isnull=False,
    ).exclude(Exists(turned_off))


def send_daily_digests(*, limit: int | None = None) -> int:
    """Send each person with something waiting their digest for today (in TIME_ZONE), once a
    day at most. Answers how many digests were queued."""
    now = timezone.now()
    user_ids = sorted(
        set(digest_notifications().values_list("recipient_id", flat=True).distinct())
        | set(
            emailable_participants(EmailFrequency.DAILY, sent_before=now)
            .values_list("user_id", flat=True)
            .distinct()
        )
    )[:limit]
    day = timezone.localdate(now)
    return sum(send_daily_digest(user_id, day=day, now=now) for user_id in user_ids)


def send_daily_digest(user_id: int, *, day: date, now: datetime) -> bool:
    """One person's digest for `day`; False when it was sent already or nothing is waiting."""
    key = f"digest:{user_id}:{day.isoformat()}"
    with transaction.atomic():
        # Two digests for one person are serialized here, and the second finds the first sent.
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or OutboundEmail.objects.filter(idempotency_key=key).exists():
            return False
        notifications = list(
            digest_notifications()
            .filter(recipient_id=user_id)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")
        )
        participants = list(
            emailable_participants(EmailFrequency.DAILY, sent_before=now)
            .filter(user_id=user_id)
            .select_for_update(skip_locked=True, of=("self",))
        )
        due = due_messages(user_id, participants, sent_before=now)
        if not notifications and not due:
            return False
        messages = sorted((m for batch in due.values() for m in batch), key=lambda m: m.pk)
        types = sorted({n.type for n in notifications} | ({DIRECT_MESSAGE.key} if due else set()))
        digest_url = unsubscribe_url(user.pk, DAILY_DIGEST)
        with translation.override(user.language):
            items, more = message_items(messages)
            listed = notifications[-MAX_LISTED:]
            subject = _("Your P2P Sandbox digest for %(date)s") % {
                "date": formats.date_format(day, "DATE_FORMAT")
            }
            queue_email(
                to=user.email,
                template="daily_digest",
                context={
                    "subject": subject,
                    "heading": subject,
                    "notifications": [
                        {
                            "text": n.text,
                            "type": str(NOTIFICATION_TYPES[n.type].label),
                            "url": site_url(n.link) if n.link else "",
                            "created_at": n.created_at,
                        }
                        for n in listed
                    ],
                    "more_notifications": len(notifications) - len(listed),
                    "messages": items,
                    "more_messages": more,
                    "action_url": site_url("/notifications/"),
                    "action_label": _("Open P2P Sandbox"),
                    "reason": _(
                        "You get this digest because your email preference for %(types)s is "
                        "“%(choice)s”."
                    )
                    % {
                        "types": ", ".join(f"“{NOTIFICATION_TYPES[t].label}”" for t in types),
                        "choice": frequency_label(EmailFrequency.DAILY),
                    },
                    "unsubscribe_links": [
                        *(
                            {
                                "label": _("Stop emails about “%(type)s”")
                                % {"type": NOTIFICATION_TYPES[t].label},
                                "url": unsubscribe_url(user.pk, t),
                            }
                            for t in types
                        ),
                        {"label": _("Stop the daily digest"), "url": digest_url},
                    ],
                },
                idempotency_key=key,
                headers=unsubscribe_headers(digest_url),
            )
        Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(emailed_at=now)
        mark_emailed_through(due)
    return True


# One notification, right away


def queue_notification_email(notification: Notification) -> None:
    """Email one notification now (its preference is `instant`); once per notification."""
    recipient = notification.recipient
    kind = NOTIFICATION_TYPES[notification.type]
    url = unsubscribe_url(recipient.pk, notification.type)
    with translation.override(recipient.language):
        queue_email(
            to=recipient.email,
            template="notification",
            context={
                "subject": notification.text,
                "heading": notification.text,
                "action_url": site_url(notification.link) if notification.link else "",
                "action_label": _("Open it on P2P Sandbox"),
                "reason": _(
                    "You get this email because your email preference for “%(type)s” is "
                    "“%(choice)s”."
                )
                % {"type": kind.label, "choice": frequency_label(EmailFrequency.INSTANT)},
                "unsubscribe_links": [
                    {
                        "label": _("Stop emails about “%(type)s”") % {"type": kind.label},
                        "url": url,
                    }
                ],
            },
            idempotency_key=f"notification:{notification.pk}",
            headers=unsubscribe_headers(url),
        )
    Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
