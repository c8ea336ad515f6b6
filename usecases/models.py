import uuid
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
)
from django.db import models
from django.db.models import Case, DecimalField, ExpressionWrapper, F, Func, Q, Value, When
from django.db.models.functions import Abs
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from usecases.constants import (
    ANSWER_MAX_LENGTH,
    CITY_CHOICES,
    DEFAULT_CURRENCY,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TITLE_MIN_LENGTH,
    BudgetRange,
    Category,
)

IMPROVEMENT_FIELD = DecimalField(max_digits=14, decimal_places=2)


SEARCH_CONFIG = "english"


class SearchDocumentVector(Func):
    """`to_tsvector` of the search document in SEARCH_CONFIG. SQLite has no full-text type:
    there the column holds the document itself, and the library searches it with icontains."""

    function = "to_tsvector"
    template = f"%(function)s('{SEARCH_CONFIG}'::regconfig, COALESCE(%(expressions)s, ''))"

    def __init__(self) -> None:
        super().__init__(F("search_document"), output_field=SearchVectorField())

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="COALESCE(%(expressions)s, '')")


class UseCase(models.Model):
    """A factory's case study: the problem, the technology adopted, its cost, outcomes and
    challenges. A draft may hold any subset of the fields; submitting requires them all.

    Tags are kept twice on purpose: `industry_tags` / `technology_tags` (JSON lists, in the
    author's order, read with the row at no extra query) for display, and one `UseCaseTag` row per
    tag, written by the same service, for filtering and facet counts: an indexed (kind, name)
    lookup and a GROUP BY on a narrow table, which work the same on PostgreSQL and SQLite (a
    PostgreSQL ArrayField would not run on SQLite, and a JSON list cannot be grouped portably).

    `metric_count` and `best_improvement` are kept by `set_metrics` so the "has quantified
    outcomes" filter and the "biggest improvement" sort read one indexed column.
    `search_document` is the plain text searched: on PostgreSQL through `search_vector`, its
    tsvector kept by the database and GIN-indexed (migration 0004), which ranking reads
    without parsing the text again; on SQLite with icontains.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for review")
        PUBLISHED = "published", _("Published")
        REJECTED = "rejected", _("Rejected")
        ARCHIVED = "archived", _("Archived")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Every member of the platform")
        ORGANIZATION = "organization", _("My organization only")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="use_cases"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="use_cases",
    )
    title = models.CharField(
        max_length=TITLE_MAX_LENGTH, blank=True, validators=[MinLengthValidator(TITLE_MIN_LENGTH)]
    )
    slug = models.SlugField(max_length=120, allow_unicode=True)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)

    problem = models.TextField(blank=True, validators=[MaxLengthValidator(ANSWER_MAX_LENGTH)])
    problem_html = models.TextField(blank=True, editable=False)
    technology = models.TextField(blank=True, validators=[MaxLengthValidator(ANSWER_MAX_LENGTH)])
    technology_html = models.TextField(blank=True, editable=False)
    budget_range = models.CharField(max_length=20, choices=BudgetRange.choices, blank=True)
    budget_currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    budget_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    outcomes = models.TextField(blank=True, validators=[MaxLengthValidator(ANSWER_MAX_LENGTH)])
    outcomes_html = models.TextField(blank=True, editable=False)
    challenges = models.TextField(blank=True, validators=[MaxLengthValidator(ANSWER_MAX_LENGTH)])
    challenges_html = models.TextField(blank=True, editable=False)

    site_name = models.CharField(_("factory or site"), max_length=200, blank=True)
    city = models.CharField(max_length=20, choices=CITY_CHOICES, blank=True)
    # The city's coordinates when a city is chosen, or the author's own coordinates.
    latitude = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    industry_tags = models.JSONField(default=list, blank=True)
    technology_tags = models.JSONField(default=list, blank=True)

    contact_name = models.CharField(max_length=100, blank=True)
    contact_title = models.CharField(max_length=100, blank=True)
    vendor_name = models.CharField(max_length=200, blank=True)
    vendor_website = models.URLField(max_length=300, blank=True)
    implementation_months = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(240)]
    )
    roi_percent = models.DecimalField(
        _("ROI (%)"),
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-100)), MaxValueValidator(Decimal(1_000_000))],
    )
    payback_months = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(600)]
    )

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    visibility = models.CharField(
        max_length=12, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    is_featured = models.BooleanField(default=False)
    wizard_step = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    view_count = models.PositiveIntegerField(default=0)
    like_count = models.PositiveIntegerField(default=0)
    bookmark_count = models.PositiveIntegerField(default=0)
    metric_count = models.PositiveSmallIntegerField(default=0)
    best_improvement = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, editable=False
    )
    search_document = models.TextField(blank=True, editable=False)
    search_vector = models.GeneratedField(
        expression=SearchDocumentVector(), output_field=SearchVectorField(), db_persist=True
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    review_note = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="usecases_slug_unique_per_organization"
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    latitude__isnull=False,
                    longitude__isnull=False,
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="usecases_coordinates_pair_in_range",
            ),
            models.CheckConstraint(
                condition=Q(wizard_step__gte=1, wizard_step__lte=3),
                name="usecases_wizard_step_range",
            ),
        ]
        indexes = [
            # The library's default order, read from the newest until a page is full.
            models.Index(
                F("published_at").desc(),
                F("id").desc(),
                condition=Q(status="published"),
                name="usecases_library_newest_idx",
            ),
            models.Index(fields=["organization", "status"], name="usecases_org_status_idx"),
            models.Index(fields=["author", "status"], name="usecases_author_status_idx"),
            models.Index(fields=["category", "status"], name="usecases_category_idx"),
            models.Index(fields=["city", "status"], name="usecases_city_idx"),
            models.Index(fields=["budget_range", "status"], name="usecases_budget_idx"),
            models.Index(fields=["-view_count"], name="usecases_view_count_idx"),
            models.Index(fields=["-like_count"], name="usecases_like_count_idx"),
            models.Index(fields=["-best_improvement"], name="usecases_improvement_idx"),
            models.Index(fields=["status", "submitted_at"], name="usecases_review_queue_idx"),
        ]

    def __str__(self) -> str:
        return self.title or f"Draft {self.pk}"

    def get_absolute_url(self) -> str:
        return f"/use-cases/{self.organization.slug}/{self.slug}/"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def is_editable_draft(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.REJECTED)


class UseCaseTag(models.Model):
    """One tag of a use case, the indexed copy of `UseCase.industry_tags` / `technology_tags`."""

    class Kind(models.TextChoices):
        INDUSTRY = "industry", _("Industry")
        TECHNOLOGY = "technology", _("Technology")

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="tag_rows")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=TAG_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "kind", "name"], name="usecases_tag_unique_per_use_case"
            ),
        ]
        indexes = [models.Index(fields=["kind", "name"], name="usecases_tag_kind_name_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def improvement_expression(prefix: str = "") -> Case:
    """SQL for OutcomeMetric.improvement; `prefix` reaches the metric through a relation
    (e.g. "metrics__")."""
    baseline, result = F(f"{prefix}baseline"), F(f"{prefix}result")
    change = ExpressionWrapper(
        (result - baseline) * Value(Decimal(100)) / Abs(baseline), output_field=IMPROVEMENT_FIELD
    )
    return Case(
        When(**{f"{prefix}baseline": 0}, then=Value(None, output_field=IMPROVEMENT_FIELD)),
        When(**{f"{prefix}higher_is_better": True}, then=change),
        default=ExpressionWrapper(-change, output_field=IMPROVEMENT_FIELD),
        output_field=IMPROVEMENT_FIELD,
    )


class OutcomeMetric(models.Model):
    """A quantified outcome: `metric` went from `baseline` to `result` over `period`."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="metrics")
    metric = models.CharField(max_length=100)
    unit = models.CharField(max_length=30, blank=True)
    baseline = models.DecimalField(max_digits=16, decimal_places=4)
    result = models.DecimalField(max_digits=16, decimal_places=4)
    period = models.CharField(max_length=50, blank=True)
    higher_is_better = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    MAX_PER_USE_CASE = 20

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["use_case", "position"], name="usecases_metric_order_idx")]

    def __str__(self) -> str:
        return self.metric

    @property
    def improvement(self) -> Decimal | None:
        """The change from baseline in percent, positive when it is better (None for a zero
        baseline, where a percentage means nothing)."""
        if self.baseline == 0:
            return None
        change = (self.result - self.baseline) * 100 / abs(self.baseline)
        if not self.higher_is_better:
            change = -change
        return change.quantize(Decimal("0.01"))


class UseCaseView(models.Model):
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="views")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["use_case", "user"], name="usecases_one_view_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.use_case_id}"


class UseCaseLike(models.Model):
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="use_case_likes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["use_case", "user"], name="usecases_one_like_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.use_case_id}"


class UseCaseBookmark(models.Model):
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="bookmarks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="use_case_bookmarks"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "user"], name="usecases_one_bookmark_per_user"
            )
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="usecases_bookmark_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.use_case_id}"


class UseCaseRevision(models.Model):
    """An edit of a published use case: who, when, and the previous values of what changed."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="revisions")
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    edited_at = models.DateTimeField(default=timezone.now)
    changed_fields = models.JSONField(default=list)
    previous_values = models.JSONField(default=dict)

    class Meta:
        ordering = ["-edited_at", "-id"]

    def __str__(self) -> str:
        return f"Revision of {self.use_case_id} at {self.edited_at:%Y-%m-%d %H:%M}"


def media_upload_to(instance: "Media", filename: str) -> str:
    """A fresh, unguessable name; only the extension of `filename` is kept (the uploader's name
    is stored in `original_name` for display)."""
    extension = PurePosixPath(filename).suffix.lower().lstrip(".")
    if not extension.isalnum() or len(extension) > 5:
        extension = "bin"
    return f"use-cases/{instance.use_case_id}/{uuid.uuid4().hex}.{extension}"


class Media(models.Model):
    """An image, video or PDF of a use case. Processing (a Celery task) fills the thumbnails and
    dimensions and moves `status` from pending to ready or failed."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        PDF = "pdf", _("PDF")

    class Status(models.TextChoices):
        PENDING = "pending", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="media")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    content_type = models.CharField(max_length=50)
    original_name = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    file = models.FileField(upload_to=media_upload_to, max_length=300)
    thumbnail_small = models.FileField(blank=True, max_length=300)
    thumbnail_large = models.FileField(blank=True, max_length=300)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    caption = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # While pending: when the sweep queues processing again if it has not ended by then (its
    # task was never queued, or its worker died).
    requeue_at = models.DateTimeField(default=timezone.now)

    MAX_PER_USE_CASE = 10

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "media"
        indexes = [models.Index(fields=["use_case", "position"], name="usecases_media_order_idx")]

    def __str__(self) -> str:
        return self.original_name
