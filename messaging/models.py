from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_GROUP_PARTICIPANTS = 10
MAX_MESSAGE_LENGTH = 5000


class Conversation(models.Model):
    """A 1:1 conversation (one per pair of users) or a named group of up to 10 participants.

    A direct conversation stores its pair in `user_low` < `user_high`, so the unique constraint
    holds whoever started it.
    """

    class Kind(models.TextChoices):
        DIRECT = "direct", _("Direct")
        GROUP = "group", _("Group")

    kind = models.CharField(max_length=6, choices=Kind.choices)
    title = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    user_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+"
    )
    user_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_low", "user_high"],
                condition=Q(kind="direct"),
                name="messaging_one_direct_conversation_per_pair",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="direct", user_low__lt=F("user_high"))
                    | Q(kind="group", user_low__isnull=True, user_high__isnull=True)
                ),
                name="messaging_conversation_kind_matches_pair",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    @property
    def is_direct(self) -> bool:
        return self.kind == self.Kind.DIRECT


class Participant(models.Model):
    """One user's place in a conversation: what they have read, and how they file it.

    `emailed_through_id` is the newest message already sent to them by email (or found read),
    so a message is emailed at most once.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_memberships"
    )
    joined_at = models.DateTimeField(default=timezone.now, editable=False)
    last_read_message_id = models.BigIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)
    emailed_through_id = models.BigIntegerField(default=0)
    is_archived = models.BooleanField(default=False)
    is_muted = models.BooleanField(default=False)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="messaging_one_participant_per_user"
            ),
        ]
        indexes = [models.Index(fields=["user", "conversation"], name="messaging_part_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"

    @property
    def is_active(self) -> bool:
        return self.left_at is None


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_messages"
    )
    # The Markdown as written, and its sanitized HTML.
    content = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    content_html = models.TextField()
    # Chosen by the client; a retried send with the same id stores one message.
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL is "none", outside the unique constraint
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="messaging_client_msg_id_unique_per_sender",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "id"], name="messaging_msg_conv_id_idx")]

    def __str__(self) -> str:
        return f"Message {self.pk} in {self.conversation_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Block(models.Model):
    """`blocker` no longer hears from `blocked`: no new conversation, no message, no event."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="messaging_block_unique"),
            models.CheckConstraint(
                condition=~Q(blocker=F("blocked")), name="messaging_block_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class Stream(models.Model):
    """The head of one user's personal stream: the sequence number of their newest event."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Stream of {self.user_id} at {self.last_event_id}"


class StreamEvent(models.Model):
    """One event of a user's personal stream, kept so a client that reconnects can `resume`.

    `event_id` counts per user and is taken under a lock on the user's Stream row, so events
    commit in the order of their ids and "everything after N" never skips one.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event_id = models.BigIntegerField()
    type = models.CharField(max_length=32)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event_id"], name="messaging_stream_event_id"),
        ]
        indexes = [models.Index(fields=["created_at"], name="messaging_stream_event_age_idx")]

    def __str__(self) -> str:
        return f"{self.type} #{self.event_id} for {self.user_id}"


class EmailFrequency(models.TextChoices):
    INSTANT = "instant", _("Right away")
    DAILY = "daily", _("Daily digest")
    OFF = "off", _("Off")


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    type = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    target_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    target_id = models.BigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    text = models.CharField(max_length=300)
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # How this notification goes out by email, decided from the preference when it was made.
    email_frequency = models.CharField(
        max_length=7, choices=EmailFrequency.choices, default=EmailFrequency.OFF
    )
    # False when the recipient turned this type off in the app and it exists only for email.
    is_shown_in_app = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="messaging_notif_recipient_idx"),
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="messaging_notif_unread_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(email_frequency="daily", emailed_at__isnull=True, read_at__isnull=True),
                name="messaging_notif_digest_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.recipient_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A user's choice for one notification type; without a row the type's default applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    type = models.CharField(max_length=40)
    in_app = models.BooleanField(default=True)
    email = models.CharField(max_length=7, choices=EmailFrequency.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "type"], name="messaging_one_preference"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.type} in_app={self.in_app} email={self.email}"
