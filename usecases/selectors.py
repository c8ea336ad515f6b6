"""Reads of the use-case library. Every list starts from what the user may see
(`visible_use_cases` / `library_use_cases`) and fetches its related rows in the same query."""

import hashlib
import logging
from dataclasses import astuple, dataclass, fields, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils.translation import get_language
from redis.exceptions import RedisError

from accounts.models import User
from usecases.constants import CITIES_BY_KEY, RELATED_LIMIT, BudgetRange, Category
from usecases.exceptions import UseCaseNotFoundError
from usecases.models import (
    SEARCH_CONFIG,
    Media,
    OutcomeMetric,
    UseCase,
    UseCaseBookmark,
    UseCaseLike,
    UseCaseTag,
)
from usecases.services import check_is_reviewer

logger = logging.getLogger(__name__)

Status = UseCase.Status
Viewer = User | AnonymousUser

SORTS = ("newest", "most_viewed", "most_liked", "biggest_improvement", "relevance")
FACET_LIMIT = 30
MEDIA_VARIANTS = ("original", "large", "small")


@dataclass(frozen=True)
class UseCaseFilters:
    search: str = ""
    category: str = ""
    industry_tag: str = ""
    technology_tag: str = ""
    city: str = ""
    budget_range: str = ""
    has_metrics: bool | None = None
    organization: str = ""  # the organization's slug


def visible_use_cases(user: Viewer) -> QuerySet[UseCase]:
    """Every use case `user` may open, in any status; the query twin of services.can_view."""
    if not user.is_authenticated or not user.is_active:
        return UseCase.objects.none()
    if user.is_staff:
        return UseCase.objects.all()
    editable = Q(author_id=user.pk)
    if user.is_organization_admin and user.organization_id is not None:
        editable |= Q(organization_id=user.organization_id)
    return UseCase.objects.filter(editable | library_condition(user))


def library_condition(user: User) -> Q:
    published = Q(status=Status.PUBLISHED)
    if user.is_staff:
        return published
    if user.organization_id is None:
        return published & Q(visibility=UseCase.Visibility.PUBLIC)
    return published & (
        Q(visibility=UseCase.Visibility.PUBLIC) | Q(organization_id=user.organization_id)
    )


def library_use_cases(user: Viewer) -> QuerySet[UseCase]:
    """The published use cases `user` may see: public ones and their organization's."""
    if not user.is_authenticated or not user.is_active:
        return UseCase.objects.none()
    return UseCase.objects.filter(library_condition(user))


def with_user_state(use_cases: QuerySet[UseCase], user: Viewer) -> QuerySet[UseCase]:
    """Adds `is_liked` and `is_bookmarked` for `user`, in the same query."""
    user_id = user.pk if user.is_authenticated else None
    return use_cases.annotate(
        is_liked=Exists(UseCaseLike.objects.filter(use_case=OuterRef("pk"), user_id=user_id)),
        is_bookmarked=Exists(
            UseCaseBookmark.objects.filter(use_case=OuterRef("pk"), user_id=user_id)
        ),
    )


def for_list(use_cases: QuerySet[UseCase], user: Viewer) -> QuerySet[UseCase]:
    return with_user_state(
        use_cases.select_related("organization", "author__organization"), user
    ).defer("search_document", "search_vector")


def has_tag(kind: str, name: str) -> Exists:
    return Exists(UseCaseTag.objects.filter(use_case=OuterRef("pk"), kind=kind, name=name))


def apply_search(use_cases: QuerySet[UseCase], text: str) -> QuerySet[UseCase]:
    """Full-text search: PostgreSQL's websearch syntax on the GIN-indexed document, or every
    word as a substring on SQLite."""
    text = text.strip()
    if not text:
        return use_cases
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        return use_cases.filter(search_vector=query)
    for term in text.split():
        use_cases = use_cases.filter(search_document__icontains=term)
    return use_cases


def apply_filters(
    use_cases: QuerySet[UseCase], filters: UseCaseFilters, *, skip: str = ""
) -> QuerySet[UseCase]:
    """Every filter but `skip` (a facet counts with the other filters only)."""
    if filters.category and skip != "category":
        use_cases = use_cases.filter(category=filters.category)
    if filters.industry_tag and skip != "industry_tag":
        use_cases = use_cases.filter(
            has_tag(UseCaseTag.Kind.INDUSTRY, normalize_tag(filters.industry_tag))
        )
    if filters.technology_tag and skip != "technology_tag":
        use_cases = use_cases.filter(
            has_tag(UseCaseTag.Kind.TECHNOLOGY, normalize_tag(filters.technology_tag))
        )
    if filters.city and skip != "city":
        use_cases = use_cases.filter(city=filters.city)
    if filters.budget_range and skip != "budget_range":
        use_cases = use_cases.filter(budget_range=filters.budget_range)
    if filters.has_metrics is not None and skip != "has_metrics":
        use_cases = use_cases.filter(
            Q(metric_count__gt=0) if filters.has_metrics else Q(metric_count=0)
        )
    if filters.organization and skip != "organization":
        use_cases = use_cases.filter(organization__slug=filters.organization)
    return use_cases


def normalize_tag(tag: str) -> str:
    return " ".join(tag.split()).lower()


def order_use_cases(
    use_cases: QuerySet[UseCase], sort: str | None, search: str
) -> QuerySet[UseCase]:
    searching = bool(search.strip()) and connection.vendor == "postgresql"
    sort = sort or ("relevance" if searching else "newest")
    if sort not in SORTS:
        raise ValidationError({"sort": f"Sort by one of: {', '.join(SORTS)}."})
    if sort == "relevance":
        if not searching:
            return use_cases.order_by("-published_at", "-id")
        query = SearchQuery(search.strip(), config=SEARCH_CONFIG, search_type="websearch")
        return use_cases.annotate(search_rank=SearchRank(F("search_vector"), query)).order_by(
            "-search_rank", "-published_at", "-id"
        )
    if sort == "newest":
        # As the partial index of the library reads (published use cases have published_at).
        return use_cases.order_by("-published_at", "-id")
    first = {
        "most_viewed": [F("view_count").desc()],
        "most_liked": [F("like_count").desc()],
        "biggest_improvement": [F("best_improvement").desc(nulls_last=True)],
    }[sort]
    return use_cases.order_by(*first, F("published_at").desc(nulls_last=True), "-id")


def list_use_cases(
    user: Viewer,
    *,
    search: str = "",
    category: str = "",
    industry_tag: str = "",
    technology_tag: str = "",
    city: str = "",
    budget_range: str = "",
    has_metrics: bool | None = None,
    organization: str = "",
    sort: str | None = None,
) -> QuerySet[UseCase]:
    """The library as `user` sees it, filtered and sorted (relevance first when searching on
    PostgreSQL, else newest). Each row carries is_liked / is_bookmarked."""
    filters = UseCaseFilters(
        search=search,
        category=category,
        industry_tag=industry_tag,
        technology_tag=technology_tag,
        city=city,
        budget_range=budget_range,
        has_metrics=has_metrics,
        organization=organization,
    )
    return list_filtered_use_cases(user, filters, sort=sort)


def list_filtered_use_cases(
    user: Viewer, filters: UseCaseFilters, *, sort: str | None = None
) -> QuerySet[UseCase]:
    use_cases = apply_filters(apply_search(library_use_cases(user), filters.search), filters)
    return order_use_cases(for_list(use_cases, user), sort, filters.search)


def facet_rows(rows: Any, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"value": row["value"], "label": labels.get(row["value"], row["value"]), "count": row["n"]}
        for row in rows
        if row["value"]
    ]


def get_facets(user: Viewer, filters: UseCaseFilters | None = None) -> dict[str, Any]:
    """`count_facets`, kept USECASES_FACETS_CACHE_SECONDS in the cache for everyone who sees
    the same library (staff, or the members of one organization) with the same filters: each
    facet scans every matching use case, and the library's first page asks for all seven. The
    counts may be that much behind the list; a cache that is down only costs the scan."""
    filters = filters or UseCaseFilters()
    timeout = settings.USECASES_FACETS_CACHE_SECONDS
    if not timeout or not user.is_authenticated:
        return count_facets(user, filters)
    key = facets_cache_key(user, filters)
    try:
        facets = cache.get(key)
    except RedisError:
        logger.warning("The cache is unreachable: counting facets without it")
        return count_facets(user, filters)
    if facets is None:
        facets = count_facets(user, filters)
        try:
            cache.set(key, facets, timeout)
        except RedisError:
            logger.warning("The cache is unreachable: facets not kept")
    return facets


def facets_cache_key(user: User, filters: UseCaseFilters) -> str:
    """What `library_condition` depends on, the language of the labels and the filters."""
    scope = "staff" if user.is_staff else f"organization-{user.organization_id or 0}"
    digest = hashlib.sha256(repr(astuple(filters)).encode()).hexdigest()[:32]
    return f"usecases:facets:{scope}:{get_language()}:{digest}"


def count_facets(user: Viewer, filters: UseCaseFilters) -> dict[str, Any]:
    """Counts for each filter's values among what `user` may see, each facet counted with every
    other filter applied (so choosing a category still shows the other categories' counts).
    One aggregate query per facet, seven in all."""
    searched = apply_search(library_use_cases(user), filters.search)

    def scope(skip: str) -> QuerySet[UseCase]:
        return apply_filters(searched, filters, skip=skip).order_by()

    def grouped(skip: str, column: str) -> list[dict[str, Any]]:
        return list(
            scope(skip)
            .values(value=F(column))
            .annotate(n=Count("id"))
            .order_by("-n", "value")[:FACET_LIMIT]
        )

    def tags(kind: str, skip: str) -> list[dict[str, Any]]:
        rows = (
            UseCaseTag.objects.filter(kind=kind, use_case__in=scope(skip).values("pk"))
            .values(value=F("name"))
            .annotate(n=Count("use_case_id"))
            .order_by("-n", "value")[:FACET_LIMIT]
        )
        return [{"value": r["value"], "label": r["value"], "count": r["n"]} for r in rows]

    cities = {key: str(city.name) for key, city in CITIES_BY_KEY.items()}
    metrics = scope("has_metrics").aggregate(
        with_metrics=Count("id", filter=Q(metric_count__gt=0)),
        without_metrics=Count("id", filter=Q(metric_count=0)),
    )
    organizations = list(
        scope("organization")
        .values(value=F("organization__slug"), label=F("organization__name"))
        .annotate(n=Count("id"))
        .order_by("-n", "label")[:FACET_LIMIT]
    )
    return {
        "category": facet_rows(
            grouped("category", "category"), {c.value: str(c.label) for c in Category}
        ),
        "industry_tag": tags(UseCaseTag.Kind.INDUSTRY, "industry_tag"),
        "technology_tag": tags(UseCaseTag.Kind.TECHNOLOGY, "technology_tag"),
        "city": facet_rows(grouped("city", "city"), cities),
        "budget_range": facet_rows(
            grouped("budget_range", "budget_range"), {b.value: str(b.label) for b in BudgetRange}
        ),
        "has_metrics": [
            {
                "value": True,
                "label": "With quantified outcomes",
                "count": metrics["with_metrics"],
            },
            {
                "value": False,
                "label": "Without quantified outcomes",
                "count": metrics["without_metrics"],
            },
        ],
        "organization": [
            {"value": row["value"], "label": row["label"], "count": row["n"]}
            for row in organizations
        ],
    }


def for_detail(use_cases: QuerySet[UseCase], user: Viewer) -> QuerySet[UseCase]:
    return (
        with_user_state(
            use_cases.select_related("organization", "author__organization", "reviewed_by"), user
        )
        .defer("search_document", "search_vector")
        .prefetch_related(
            Prefetch("metrics", queryset=OutcomeMetric.objects.order_by("position", "id")),
            Prefetch("media", queryset=Media.objects.order_by("position", "id")),
        )
    )


def get_use_case(user: Viewer, org_slug: str, slug: str) -> UseCase:
    """The use case at /use-cases/<org_slug>/<slug>/ with its metrics and media, or
    UseCaseNotFoundError when it does not exist or `user` may not see it."""
    use_case = (
        for_detail(visible_use_cases(user), user)
        .filter(organization__slug=org_slug, slug=slug)
        .first()
    )
    if use_case is None:
        raise UseCaseNotFoundError
    return use_case


def get_use_case_by_id(user: Viewer, use_case_id: int) -> UseCase:
    use_case = for_detail(visible_use_cases(user), user).filter(pk=use_case_id).first()
    if use_case is None:
        raise UseCaseNotFoundError
    return use_case


def list_related(use_case: UseCase, user: Viewer, *, limit: int = RELATED_LIMIT) -> list[UseCase]:
    """Published use cases `user` may see that share the category or a tag, those sharing the
    most tags first."""
    shared_tags = Q(
        tag_rows__kind=UseCaseTag.Kind.INDUSTRY, tag_rows__name__in=use_case.industry_tags
    ) | Q(tag_rows__kind=UseCaseTag.Kind.TECHNOLOGY, tag_rows__name__in=use_case.technology_tags)
    same_category = Q(category=use_case.category) if use_case.category else Q(pk__in=[])
    tagged = UseCaseTag.objects.filter(
        Q(kind=UseCaseTag.Kind.INDUSTRY, name__in=use_case.industry_tags)
        | Q(kind=UseCaseTag.Kind.TECHNOLOGY, name__in=use_case.technology_tags)
    ).values("use_case_id")
    candidates = (
        library_use_cases(user)
        .exclude(pk=use_case.pk)
        .filter(same_category | Q(pk__in=tagged))
        .annotate(
            shared=Count("tag_rows", filter=shared_tags),
            same_category=Case(
                When(same_category, then=Value(1)), default=Value(0), output_field=IntegerField()
            ),
        )
        .order_by("-shared", "-same_category", "-published_at", "-id")
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(candidates)
    rows = {row.pk: row for row in for_list(UseCase.objects.filter(pk__in=ids), user)}
    return [rows[pk] for pk in ids]


def list_my_use_cases(user: User) -> QuerySet[UseCase]:
    """Every use case the user wrote, in any status, the last changed first."""
    return for_list(UseCase.objects.filter(author_id=user.pk), user).order_by("-updated_at", "-id")


def list_drafts(user: User) -> QuerySet[UseCase]:
    return list_my_use_cases(user).filter(status=Status.DRAFT)


def list_bookmarks(user: User) -> QuerySet[UseCase]:
    """The user's bookmarks they can still see, the last bookmarked first."""
    bookmarked_at = UseCaseBookmark.objects.filter(use_case=OuterRef("pk"), user_id=user.pk)
    return (
        for_list(
            library_use_cases(user).filter(
                pk__in=UseCaseBookmark.objects.filter(user_id=user.pk).values("use_case_id")
            ),
            user,
        )
        .annotate(bookmarked_at=Subquery(bookmarked_at.values("created_at")[:1]))
        .order_by("-bookmarked_at", "-id")
    )


def list_review_queue(user: Viewer) -> QuerySet[UseCase]:
    """Submitted use cases, the longest waiting first (platform staff only)."""
    check_is_reviewer(user)
    return for_list(UseCase.objects.filter(status=Status.SUBMITTED), user).order_by(
        "submitted_at", "id"
    )


def media_url(media: Media, variant: str) -> str | None:
    """The path of the access-checking view serving a media file, or None while the variant
    does not exist (processing not finished, or no thumbnail for this kind)."""
    if variant not in MEDIA_VARIANTS:
        raise ValueError(f"Unknown media variant {variant!r}")
    if media.status != Media.Status.READY:
        return None
    stored = {
        "original": media.file,
        "large": media.thumbnail_large,
        "small": media.thumbnail_small,
    }[variant]
    return f"/use-cases/media/{media.pk}/{variant}/" if stored else None


def filters_from(data: dict[str, Any]) -> UseCaseFilters:
    """UseCaseFilters from query parameters (unknown keys ignored, blanks dropped)."""
    known = {f.name for f in fields(UseCaseFilters)}
    values = {k: v for k, v in data.items() if k in known and v not in (None, "")}
    return replace(UseCaseFilters(), **values)
