from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, StringConstraints

from messaging.schemas import PersonBriefOut
from p2p_sandbox.markdown import to_plain_text
from p2p_sandbox.schemas import InputSchema
from usecases.constants import (
    ANSWER_MAX_LENGTH,
    CITIES,
    CITIES_BY_KEY,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    BudgetRange,
    Category,
)
from usecases.models import Media, OutcomeMetric, UseCase
from usecases.selectors import SORTS, media_url

SUMMARY_LENGTH = 200


def text(max_length: int, min_length: int = 0) -> object:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
    ]


Title = text(TITLE_MAX_LENGTH)
Answer = text(ANSWER_MAX_LENGTH)
Text30, Text50, Text100, Text200, Text300 = (text(n) for n in (30, 50, 100, 200, 300))
MetricName = text(100, 1)
Note = text(1000, 1)
CityKey = Literal[tuple(city.key for city in CITIES)]  # type: ignore[valid-type]
Tag = text(TAG_MAX_LENGTH)
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Visibility = Literal["public", "organization"]
Sort = Literal[SORTS]  # type: ignore[valid-type]


class UseCaseIn(InputSchema):
    """A use case's fields, every one optional: a draft saves whatever is given. A null clears
    a field. `city` (from the list) and free `latitude`/`longitude` exclude each other."""

    title: Title | None = None  # type: ignore[valid-type]
    category: Category | None = None
    problem: Answer | None = None  # type: ignore[valid-type]
    technology: Answer | None = None  # type: ignore[valid-type]
    budget_range: BudgetRange | None = None
    budget_currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    budget_amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    outcomes: Answer | None = None  # type: ignore[valid-type]
    challenges: Answer | None = None  # type: ignore[valid-type]
    site_name: Text200 | None = None  # type: ignore[valid-type]
    city: CityKey | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180)] | None = None
    industry_tags: Tags | None = None
    technology_tags: Tags | None = None
    contact_name: Text100 | None = None  # type: ignore[valid-type]
    contact_title: Text100 | None = None  # type: ignore[valid-type]
    vendor_name: Text200 | None = None  # type: ignore[valid-type]
    vendor_website: Text300 | None = None  # type: ignore[valid-type]
    implementation_months: Annotated[int, Field(ge=0, le=240)] | None = None
    roi_percent: Annotated[Decimal, Field(ge=-100, le=1_000_000, decimal_places=2)] | None = None
    payback_months: Annotated[int, Field(ge=0, le=600)] | None = None
    visibility: Visibility | None = None
    wizard_step: Annotated[int, Field(ge=1, le=3)] | None = None


class UseCasePatch(UseCaseIn):
    """Only the fields given change (`payload.dict(exclude_unset=True)`)."""


class MetricIn(InputSchema):
    metric: MetricName  # type: ignore[valid-type]
    unit: Text30 = ""  # type: ignore[valid-type]
    baseline: Annotated[Decimal, Field(max_digits=16, decimal_places=4)]
    result: Annotated[Decimal, Field(max_digits=16, decimal_places=4)]
    period: Text50 = ""  # type: ignore[valid-type]
    higher_is_better: bool = True


class MetricsIn(InputSchema):
    """Replaces every outcome metric of the use case, in this order."""

    metrics: Annotated[list[MetricIn], Field(max_length=OutcomeMetric.MAX_PER_USE_CASE)]


class MetricOut(Schema):
    id: int
    metric: str
    unit: str
    baseline: Decimal
    result: Decimal
    period: str
    higher_is_better: bool
    position: int
    # Percent change from the baseline, positive when better; null for a zero baseline.
    improvement: Decimal | None


class MediaOut(Schema):
    """A file of a use case. The URLs are null until processing made that variant ready."""

    id: int
    kind: str
    status: str
    content_type: str
    original_name: str
    size_bytes: int
    width: int | None
    height: int | None
    caption: str
    position: int
    failure_reason: str
    created_at: datetime
    url: str | None
    large_url: str | None
    small_url: str | None

    @staticmethod
    def resolve_url(media: Media) -> str | None:
        return media_url(media, "original")

    @staticmethod
    def resolve_large_url(media: Media) -> str | None:
        return media_url(media, "large")

    @staticmethod
    def resolve_small_url(media: Media) -> str | None:
        return media_url(media, "small")


class UseCaseOrganizationOut(Schema):
    id: int
    name: str
    slug: str


class UseCaseListItemOut(Schema):
    id: int
    title: str
    slug: str
    url: str
    status: str
    visibility: str
    category: str
    category_label: str
    organization: UseCaseOrganizationOut
    author: PersonBriefOut | None
    summary: str
    site_name: str
    city: str
    city_name: str
    latitude: Decimal | None
    longitude: Decimal | None
    budget_range: str
    budget_range_label: str
    industry_tags: list[str]
    technology_tags: list[str]
    metric_count: int
    best_improvement: Decimal | None
    view_count: int
    like_count: int
    bookmark_count: int
    is_featured: bool
    is_liked: bool
    is_bookmarked: bool
    published_at: datetime | None
    updated_at: datetime

    @staticmethod
    def resolve_url(use_case: UseCase) -> str:
        return use_case.get_absolute_url()

    @staticmethod
    def resolve_category_label(use_case: UseCase) -> str:
        return str(Category(use_case.category).label) if use_case.category else ""

    @staticmethod
    def resolve_city_name(use_case: UseCase) -> str:
        city = CITIES_BY_KEY.get(use_case.city)
        return str(city.name) if city else ""

    @staticmethod
    def resolve_budget_range_label(use_case: UseCase) -> str:
        return str(BudgetRange(use_case.budget_range).label) if use_case.budget_range else ""

    @staticmethod
    def resolve_summary(use_case: UseCase) -> str:
        plain = to_plain_text(use_case.problem_html)
        if len(plain) <= SUMMARY_LENGTH:
            return plain
        return plain[: SUMMARY_LENGTH - 1].rsplit(" ", 1)[0] + "…"

    @staticmethod
    def resolve_is_liked(use_case: UseCase) -> bool:
        return bool(getattr(use_case, "is_liked", False))

    @staticmethod
    def resolve_is_bookmarked(use_case: UseCase) -> bool:
        return bool(getattr(use_case, "is_bookmarked", False))


class UseCaseOut(UseCaseListItemOut):
    """The whole use case (from selectors.get_use_case*, which prefetch metrics and media)."""

    problem: str
    problem_html: str
    technology: str
    technology_html: str
    budget_currency: str
    budget_amount: Decimal | None
    outcomes: str
    outcomes_html: str
    challenges: str
    challenges_html: str
    contact_name: str
    contact_title: str
    vendor_name: str
    vendor_website: str
    implementation_months: int | None
    roi_percent: Decimal | None
    payback_months: int | None
    wizard_step: int
    created_at: datetime
    submitted_at: datetime | None
    reviewed_at: datetime | None
    review_note: str
    metrics: list[MetricOut]
    media: list[MediaOut]

    @staticmethod
    def resolve_metrics(use_case: UseCase) -> list[OutcomeMetric]:
        return list(use_case.metrics.all())

    @staticmethod
    def resolve_media(use_case: UseCase) -> list[Media]:
        return list(use_case.media.all())


class UseCaseFiltersIn(Schema):
    """Query parameters of the library list (and its facets)."""

    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    category: str = ""
    industry_tag: str = ""
    technology_tag: str = ""
    city: str = ""
    budget_range: str = ""
    has_metrics: bool | None = None
    organization: str = ""
    sort: Sort | None = None  # type: ignore[valid-type]


class FacetValueOut(Schema):
    value: str | bool
    label: str
    count: int


class FacetsOut(Schema):
    category: list[FacetValueOut]
    industry_tag: list[FacetValueOut]
    technology_tag: list[FacetValueOut]
    city: list[FacetValueOut]
    budget_range: list[FacetValueOut]
    has_metrics: list[FacetValueOut]
    organization: list[FacetValueOut]


class RejectIn(InputSchema):
    note: Note  # type: ignore[valid-type]


class FeaturedIn(InputSchema):
    is_featured: bool


class UseCaseBookmarkOut(Schema):
    bookmarked: bool
    bookmark_count: int
