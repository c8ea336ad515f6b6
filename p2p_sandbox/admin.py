from django.contrib import admin
from django.http import HttpRequest

from p2p_sandbox.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """The email outbox, read-only: rows change only through the outbox services."""

    list_display = ["created_at", "to", "subject", "template", "state", "attempts", "sent_at"]
    list_filter = ["state", "template"]
    search_fields = ["to", "subject"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
