from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "email_domain", "industry_sector", "size", "city", "is_verified"]
    list_filter = ["is_verified", "industry_sector", "size", "country"]
    search_fields = ["name", "email_domain", "city"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "organization", "role", "is_active"]
    list_filter = ["role", "is_active", "is_staff", "language"]
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
        (_("Dates"), {"fields": ["last_login", "last_seen_at", "date_joined"]}),
    ]
    readonly_fields = ["last_login", "last_seen_at", "date_joined"]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
