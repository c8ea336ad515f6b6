from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import ApiToken, Invitation, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "email_domain",
        "industry_sector",
        "size",
        "city",
        "active_members",
        "is_verified",
        "created_at",
    ]
    list_filter = ["is_verified", "industry_sector", "size", "country"]
    search_fields = ["name", "email_domain", "city"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    actions = ["mark_verified", "mark_unverified"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return (
            super()
            .get_queryset(request)
            .annotate(active_member_count=Count("members", filter=Q(members__is_active=True)))
        )

    @admin.display(description=_("active members"), ordering="active_member_count")
    def active_members(self, organization: Organization) -> int:
        return organization.active_member_count  # type: ignore[attr-defined]

    @admin.action(description=_("Mark the selected organizations as verified"))
    def mark_verified(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        count = queryset.update(is_verified=True)
        self.message_user(
            request,
            ngettext("%d organization verified.", "%d organizations verified.", count) % count,
            messages.SUCCESS,
        )

    @admin.action(description=_("Remove the verified mark"))
    def mark_unverified(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        queryset.update(is_verified=False)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "invited_by", "sent_at", "expires_at"]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organization", "invited_by"]
    search_fields = ["email", "organization__name"]
    readonly_fields = [field.name for field in Invitation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invitations are sent by organization admins, with a token by email


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__email"]
    readonly_fields = [field.name for field in ApiToken._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is shown once, to its owner, on the settings page


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = [
        "email",
        "first_name",
        "last_name",
        "organization",
        "role",
        "email_verified_at",
        "is_active",
        "last_login",
    ]
    list_filter = [
        "role",
        "is_active",
        "is_staff",
        "language",
        ("email_verified_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["organization"]
    search_fields = ["email", "first_name", "last_name", "organization__name"]
    autocomplete_fields = ["organization"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (
            _("Profile"),
            {"fields": ["first_name", "last_name", "job_title", "expertise_tags", "language"]},
        ),
        (_("Organization"), {"fields": ["organization", "role"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (
            _("Dates"),
            {"fields": ["email_verified_at", "last_login", "last_seen_at", "date_joined"]},
        ),
    ]
    readonly_fields = ["email_verified_at", "last_login", "last_seen_at", "date_joined"]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
