"""Staff review and curate use cases here. Status changes go through the services (so authors
are notified); the content itself is the author's and is shown read-only."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from p2p_sandbox.errors import AppError
from usecases import services
from usecases.models import Media, OutcomeMetric, UseCase, UseCaseRevision


class OutcomeMetricInline(admin.TabularInline):
    model = OutcomeMetric
    fields = ["metric", "unit", "baseline", "result", "period", "higher_is_better", "improvement"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MediaInline(admin.TabularInline):
    model = Media
    fields = ["original_name", "kind", "content_type", "size_bytes", "status", "failure_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RevisionInline(admin.TabularInline):
    model = UseCaseRevision
    fields = ["edited_at", "editor", "changed_fields"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(UseCase)
class UseCaseAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "organization",
        "category",
        "status",
        "visibility",
        "is_featured",
        "submitted_at",
        "published_at",
        "like_count",
        "view_count",
    ]
    list_filter = ["status", "visibility", "is_featured", "category", "city"]
    search_fields = ["title", "organization__name", "author__email"]
    list_select_related = ["organization"]
    ordering = ["-submitted_at", "-id"]
    actions = ["publish", "reject", "feature", "unfeature"]
    inlines = [OutcomeMetricInline, MediaInline, RevisionInline]
    fields = [
        "title",
        "slug",
        "organization",
        "author",
        "status",
        "visibility",
        "is_featured",
        "category",
        "problem",
        "technology",
        "budget_range",
        "budget_currency",
        "budget_amount",
        "outcomes",
        "challenges",
        "site_name",
        "city",
        "latitude",
        "longitude",
        "industry_tags",
        "technology_tags",
        "contact_name",
        "contact_title",
        "vendor_name",
        "vendor_website",
        "implementation_months",
        "roi_percent",
        "payback_months",
        "view_count",
        "like_count",
        "bookmark_count",
        "created_at",
        "submitted_at",
        "published_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
    ]
    # Everything but the reviewer's note: the "Reject" action sends the note written here.
    readonly_fields = [name for name in fields if name != "review_note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def run(
        self, request: HttpRequest, queryset: QuerySet[UseCase], action: object, done: str
    ) -> None:
        count = 0
        for use_case in queryset:
            try:
                action(use_case)  # type: ignore[operator]
            except AppError as error:
                self.message_user(request, f"{use_case}: {error.message}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Publish the selected submitted use cases"))
    def publish(self, request: HttpRequest, queryset: QuerySet[UseCase]) -> None:
        self.run(
            request,
            queryset,
            lambda uc: services.publish_use_case(actor=request.user, use_case_id=uc.pk),
            _("%(count)d published; their authors were notified."),
        )

    @admin.action(description=_("Reject the selected use cases with the review note of each"))
    def reject(self, request: HttpRequest, queryset: QuerySet[UseCase]) -> None:
        self.run(
            request,
            queryset,
            lambda uc: services.reject_use_case(
                actor=request.user, use_case_id=uc.pk, note=uc.review_note
            ),
            _("%(count)d rejected; their authors were notified."),
        )

    @admin.action(description=_("Feature the selected use cases"))
    def feature(self, request: HttpRequest, queryset: QuerySet[UseCase]) -> None:
        self.run(
            request,
            queryset,
            lambda uc: services.set_featured(actor=request.user, use_case_id=uc.pk, featured=True),
            _("%(count)d featured."),
        )

    @admin.action(description=_("Stop featuring the selected use cases"))
    def unfeature(self, request: HttpRequest, queryset: QuerySet[UseCase]) -> None:
        self.run(
            request,
            queryset,
            lambda uc: services.set_featured(actor=request.user, use_case_id=uc.pk, featured=False),
            _("%(count)d no longer featured."),
        )
