from django.db import models
from django.utils import timezone


class OutboundEmail(models.Model):
    """An email recorded before it is sent, so a broker or SMTP outage delays it and loses nothing.

    Life: pending -> sending (a worker holds a claim until `claimed_until`) -> sent, or back to
    pending with a later `next_attempt_at` after a transient failure, or failed once
    OUTBOX_MAX_ATTEMPTS is reached. A claim that outlives its worker expires and the
    relay hands the email to another worker.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    template = models.CharField(max_length=100)
    # Extra headers for the delivered message, such as List-Unsubscribe.
    headers = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "sending"]),
                name="outbox_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.state})"
