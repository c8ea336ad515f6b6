"""Staff see who talks to whom and can manage blocks and notifications; message text stays
private to the participants and is not shown here."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from messaging.models import Block, Conversation, Notification, NotificationPreference, Participant


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ["user", "joined_at", "last_read_message_id", "is_archived", "is_muted", "left_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "created_by",
        "message_count",
        "created_at",
        "last_message_at",
    ]
    list_filter = ["kind"]
    search_fields = ["title", "participants__user__email"]
    readonly_fields = [
        "kind",
        "title",
        "created_by",
        "user_low",
        "user_high",
        "created_at",
        "last_message_at",
    ]
    exclude = []
    inlines = [ParticipantInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(number_of_messages=Count("messages"))

    @admin.display(description=_("messages"), ordering="number_of_messages")
    def message_count(self, conversation: Conversation) -> int:
        return conversation.number_of_messages  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__email", "blocked__email"]
    raw_id_fields = ["blocker", "blocked"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "type", "text", "created_at", "read_at", "emailed_at"]
    list_filter = ["type", "email_frequency"]
    search_fields = ["recipient__email", "text"]
    readonly_fields = [f.name for f in Notification._meta.fields if f.name != "id"]
    exclude = ["target_type", "target_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "type", "in_app", "email"]
    list_filter = ["type", "in_app", "email"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
