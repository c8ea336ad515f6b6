"""The use-case pages: the library (search, filters with facet counts, a map by city), a use
case with its metrics chart and media, the media files, the member's own use cases and
bookmarks, and the staff review queue. Each works without JavaScript, one service call per POST;
static/js/use_case_library.js adds the copy, print and confirm touches.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from accounts.models import User
from accounts.views import AccountPageMixin, ServiceFormView, safe_next_url
from p2p_sandbox.errors import AppError
from p2p_sandbox.markdown import render_markdown, to_plain_text
from usecases import selectors, services
from usecases.constants import (
    ANSWER_MAX_LENGTH,
    CITIES_BY_KEY,
    TAG_MAX_LENGTH,
    BudgetRange,
    Category,
)
from usecases.exceptions import IncompleteUseCaseError, InvalidStatusError, UseCaseNotFoundError
from usecases.forms import (
    STEP_OF_FIELD,
    BaseMetricFormSet,
    MediaUploadForm,
    SiteForm,
    StoryForm,
    add_story_errors,
    metric_formset,
)
from usecases.media import (
    MediaNotFoundError,
    MediaNotReadyError,
    add_media,
    open_media_for,
    remove_media,
)
from usecases.models import Media, OutcomeMetric, UseCase

LIBRARY_PAGE_SIZE = 12
MY_PAGE_SIZE = 20
REVIEW_PAGE_SIZE = 20
EXCERPT_LENGTH = 180
SEARCH_MAX_LENGTH = 200
# A signed media URL lives MEDIA_URL_EXPIRY_SECONDS (300 by default): the browser may reuse the
# redirect for less than that.
MEDIA_REDIRECT_MAX_AGE = 60
MEDIA_FILE_MAX_AGE = 3600
MY_TABS = ("all", "drafts")
Status = UseCase.Status


def format_number(value: Decimal | int | None) -> str:
    """A number as a reader wants it: grouped, without trailing zeros (12.5, 1,200)."""
    if value is None:
        return ""
    value = Decimal(value)
    exponent = value.normalize().as_tuple().exponent
    places = min(max(0, -exponent), 4) if isinstance(exponent, int) else 0
    return formats.number_format(value, decimal_pos=places, force_grouping=True)


def format_change(value: Decimal | None) -> str:
    if value is None:
        return ""
    rounded = value.quantize(Decimal("0.1"))
    sign = "+" if rounded > 0 else ""
    return f"{sign}{format_number(rounded)}%"


def person_name(person: User) -> str:
    return person.get_full_name() or person.email.split("@")[0]


def excerpt(html: str) -> str:
    return Truncator(to_plain_text(html)).chars(EXCERPT_LENGTH) if html else ""


def cover_images() -> Prefetch:
    return Prefetch(
        "media",
        queryset=Media.objects.filter(kind=Media.Kind.IMAGE, status=Media.Status.READY).order_by(
            "position", "id"
        ),
        to_attr="ready_images",
    )


def describe_use_cases(rows: Any) -> list[UseCase]:
    """Rows of a use-case list (a for_list queryset, or its page), with what a card shows: the
    cover image (one query for the whole list), the excerpt, and the best improvement."""
    use_cases = list(rows)
    prefetch_related_objects(use_cases, cover_images())
    for use_case in use_cases:
        cover = use_case.ready_images[0] if use_case.ready_images else None
        use_case.cover_url = selectors.media_url(cover, "small") if cover else None
        use_case.cover_alt = (cover.caption or "") if cover else ""
        use_case.excerpt = excerpt(use_case.problem_html)
        use_case.best_improvement_text = (
            format_change(use_case.best_improvement)
            if use_case.best_improvement is not None and use_case.best_improvement > 0
            else ""
        )
    return use_cases


def get_page(request: HttpRequest, rows: QuerySet[UseCase], size: int) -> Page:
    return Paginator(rows, size).get_page(request.GET.get("page"))


class UseCasePageMixin(AccountPageMixin):
    """A signed-in, verified member's page. A refusal that is not about a form's input shows
    the 404 or 403 page, or goes back to `page_url` with the message."""

    page_url = "usecases:library"


# The library


@dataclass(frozen=True)
class MapMarker:
    key: str
    name: str
    count: int
    x: float
    y: float
    radius: float
    label_x: float
    label_y: float
    has_label: bool
    is_selected: bool
    url: str


class SaudiMap:
    """An inline SVG map of Saudi Arabia: a simplified border drawn from approximate
    (longitude, latitude) points, projected linearly (longitudes shrunk by the cosine of the
    middle latitude, so the shape is not stretched)."""

    WEST, EAST, SOUTH, NORTH = 34.3, 56.0, 16.0, 32.4
    SCALE = 30.0
    X_FACTOR = math.cos(math.radians(24.0))
    BORDER = (
        (34.95, 29.35),
        (36.07, 29.19),
        (36.75, 29.86),
        (37.5, 30.0),
        (38.0, 30.5),
        (37.0, 31.5),
        (39.2, 32.15),
        (40.4, 31.95),
        (42.1, 31.1),
        (44.7, 29.2),
        (46.55, 29.1),
        (47.7, 28.5),
        (48.4, 28.55),
        (48.8, 27.75),
        (49.35, 27.45),
        (49.75, 26.95),
        (50.15, 26.65),
        (50.3, 26.2),
        (50.15, 25.7),
        (50.55, 25.1),
        (50.8, 24.75),
        (51.6, 24.25),
        (52.6, 22.94),
        (55.1, 22.6),
        (55.67, 22.0),
        (55.0, 20.0),
        (52.0, 19.0),
        (48.2, 18.2),
        (47.0, 16.95),
        (46.4, 17.2),
        (44.6, 17.4),
        (43.3, 17.55),
        (43.1, 16.7),
        (42.8, 16.4),
        (42.4, 17.0),
        (41.2, 19.1),
        (40.3, 20.3),
        (39.1, 21.3),
        (38.9, 22.5),
        (38.0, 24.05),
        (37.2, 25.0),
        (36.5, 26.0),
        (35.6, 27.3),
        (35.15, 28.05),
        (34.6, 28.1),
    )
    MIN_RADIUS, MAX_RADIUS = 9.0, 22.0
    LABEL_SPACING = 60.0

    @classmethod
    def project(cls, longitude: float, latitude: float) -> tuple[float, float]:
        x = (longitude - cls.WEST) * cls.X_FACTOR * cls.SCALE
        y = (cls.NORTH - latitude) * cls.SCALE
        return round(x, 1), round(y, 1)

    @classmethod
    def size(cls) -> tuple[float, float]:
        return cls.project(cls.EAST, cls.SOUTH)

    @classmethod
    def outline(cls) -> str:
        return " ".join(f"{x},{y}" for x, y in (cls.project(*point) for point in cls.BORDER))

    @classmethod
    def markers(
        cls, city_counts: list[dict[str, Any]], selected: str, url_for: Any
    ) -> list[MapMarker]:
        """A marker per city with use cases, sized by the count (its area grows with it); only
        markers with room around them carry a visible label, the biggest first."""
        rows = [row for row in city_counts if row["value"] in CITIES_BY_KEY and row["count"]]
        if not rows:
            return []
        largest = max(row["count"] for row in rows)
        markers: list[MapMarker] = []
        labelled: list[tuple[float, float]] = []
        for row in sorted(rows, key=lambda r: (-r["count"], r["value"])):
            city = CITIES_BY_KEY[row["value"]]
            x, y = cls.project(city.longitude, city.latitude)
            radius = cls.MIN_RADIUS + (cls.MAX_RADIUS - cls.MIN_RADIUS) * math.sqrt(
                row["count"] / largest
            )
            has_label = all(
                math.hypot(x - other_x, y - other_y) >= cls.LABEL_SPACING
                for other_x, other_y in labelled
            )
            if has_label:
                labelled.append((x, y))
            markers.append(
                MapMarker(
                    key=city.key,
                    name=str(city.name),
                    count=row["count"],
                    x=x,
                    y=y,
                    radius=round(radius, 1),
                    label_x=round(x + radius + 4, 1),
                    label_y=round(y + 6, 1),
                    has_label=has_label,
                    is_selected=city.key == selected,
                    url=url_for(city.key),
                )
            )
        # The biggest are drawn first, so the smaller ones stay visible on top of them.
        return markers


def clean_choice(value: str, choices: Any) -> str:
    return value if value in {choice.value for choice in choices} else ""


class LibraryView(UseCasePageMixin, TemplateView):
    """Every use case the member may see, searched, filtered and sorted by a GET form; each
    filter lists its values with how many use cases each would show."""

    template_name = "usecases/library.html"

    def get_filters(self) -> selectors.UseCaseFilters:
        data = self.request.GET
        has_metrics = {"yes": True, "no": False}.get(data.get("has_metrics", ""))
        city = data.get("city", "")
        return selectors.filters_from(
            {
                "search": " ".join(data.get("search", "").split())[:SEARCH_MAX_LENGTH],
                "category": clean_choice(data.get("category", ""), Category),
                "industry_tag": selectors.normalize_tag(data.get("industry_tag", ""))[
                    :TAG_MAX_LENGTH
                ],
                "technology_tag": selectors.normalize_tag(data.get("technology_tag", ""))[
                    :TAG_MAX_LENGTH
                ],
                "city": city if city in CITIES_BY_KEY else "",
                "budget_range": clean_choice(data.get("budget_range", ""), BudgetRange),
                "has_metrics": has_metrics,
                "organization": data.get("organization", "").strip()[:100],
            }
        )

    def get_sort(self, filters: selectors.UseCaseFilters) -> str:
        sort = self.request.GET.get("sort", "")
        if sort == "relevance" and not filters.search:
            sort = ""
        return sort if sort in selectors.SORTS else ("relevance" if filters.search else "newest")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        filters = self.get_filters()
        sort = self.get_sort(filters)
        page = get_page(
            self.request,
            selectors.list_filtered_use_cases(user, filters, sort=sort),
            LIBRARY_PAGE_SIZE,
        )
        facets = selectors.get_facets(user, filters)
        library_url = reverse("usecases:library")
        sorts = [
            ("newest", _("Newest")),
            ("most_viewed", _("Most viewed")),
            ("most_liked", _("Most liked")),
            ("biggest_improvement", _("Biggest improvement")),
        ]
        if filters.search:
            sorts.insert(0, ("relevance", _("Best match")))
        map_width, map_height = SaudiMap.size()
        return super().get_context_data(
            filters=filters,
            has_metrics_value={True: "yes", False: "no"}.get(filters.has_metrics, ""),
            is_filtered=any(
                getattr(filters, name) not in ("", None)
                for name in (
                    "search",
                    "category",
                    "industry_tag",
                    "technology_tag",
                    "city",
                    "budget_range",
                    "has_metrics",
                    "organization",
                )
            ),
            remove_search_url=self.filter_url(library_url, search=None),
            sort=sort,
            sorts=sorts,
            page=page,
            use_cases=describe_use_cases(page.object_list),
            facets=self.describe_facets(facets, filters),
            map_outline=SaudiMap.outline(),
            map_width=map_width,
            map_height=map_height,
            map_markers=SaudiMap.markers(
                facets["city"],
                filters.city,
                lambda key: self.filter_url(library_url, city=key),
            ),
            **kwargs,
        )

    def filter_url(self, base: str, **changes: str | None) -> str:
        """This page's query with `changes` (None removes a parameter), back on page 1."""
        query = self.request.GET.copy()
        query.pop("page", None)
        for name, value in changes.items():
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        return f"{base}?{query.urlencode()}" if query else base

    def describe_facets(
        self, facets: dict[str, Any], filters: selectors.UseCaseFilters
    ) -> list[dict[str, Any]]:
        """Each filter of the form: its name, label, the "any" option, the options with their
        counts, and the chosen value (kept as an option even when nothing matches it)."""
        described = []
        for name, label, any_label in (
            ("category", _("Category"), _("Any category")),
            ("industry_tag", _("Industry"), _("Any industry")),
            ("technology_tag", _("Technology"), _("Any technology")),
            ("city", _("City"), _("Any city")),
            ("budget_range", _("Budget"), _("Any budget")),
            ("has_metrics", _("Quantified outcomes"), _("With or without")),
            ("organization", _("Organization"), _("Any organization")),
        ):
            if name == "has_metrics":
                chosen = {True: "yes", False: "no"}.get(filters.has_metrics, "")
                options = [
                    {
                        "value": "yes" if row["value"] else "no",
                        "label": _("With quantified outcomes")
                        if row["value"]
                        else _("Without quantified outcomes"),
                        "count": row["count"],
                    }
                    for row in facets[name]
                ]
            else:
                chosen = getattr(filters, name)
                options = [
                    {"value": row["value"], "label": row["label"], "count": row["count"]}
                    for row in facets[name]
                ]
            if chosen and chosen not in {option["value"] for option in options}:
                options.insert(
                    0, {"value": chosen, "label": self.label_of(name, chosen), "count": 0}
                )
            described.append(
                {
                    "name": name,
                    "label": label,
                    "any_label": any_label,
                    "options": options,
                    "chosen": chosen,
                    "chosen_label": next(
                        (option["label"] for option in options if option["value"] == chosen), ""
                    ),
                    "remove_url": self.filter_url(reverse("usecases:library"), **{name: None}),
                }
            )
        return described

    @staticmethod
    def label_of(name: str, value: str) -> str:
        if name == "category":
            return str(Category(value).label)
        if name == "budget_range":
            return str(BudgetRange(value).label)
        if name == "city":
            return str(CITIES_BY_KEY[value].name)
        return value


# A use case


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    value_x: float
    value: str


@dataclass(frozen=True)
class ChartRow:
    label: str
    label_x: float
    label_y: float
    baseline: ChartBar
    result: ChartBar


class MetricChart:
    """A horizontal bar chart of the outcome metrics, baseline against result, as SVG
    coordinates. Each metric has its own unit, so each pair of bars is scaled to its own larger
    value. Right to left, every x is mirrored (the SVG carries direction="rtl", so text still
    starts at its x)."""

    WIDTH = 640.0
    VALUE_SPACE = 120.0
    ROW_HEIGHT = 64.0
    LABEL_HEIGHT = 18.0
    BAR_HEIGHT = 16.0
    BAR_GAP = 4.0
    MIN_BAR = 2.0

    def __init__(self, metrics: list[OutcomeMetric], *, right_to_left: bool) -> None:
        self.metrics = metrics
        self.right_to_left = right_to_left

    @property
    def height(self) -> float:
        return self.ROW_HEIGHT * len(self.metrics)

    def mirror(self, x: float, width: float = 0.0) -> float:
        return round(self.WIDTH - x - width, 1) if self.right_to_left else round(x, 1)

    def bar(self, value: Decimal, largest: Decimal, y: float, unit: str) -> ChartBar:
        room = self.WIDTH - self.VALUE_SPACE
        width = float(abs(value) / largest) * room if largest else 0.0
        width = max(width, self.MIN_BAR)
        text = f"{format_number(value)} {unit}".strip()
        return ChartBar(
            x=self.mirror(0, width),
            y=y,
            width=round(width, 1),
            value_x=self.mirror(width + 6),
            value=text,
        )

    def rows(self) -> list[ChartRow]:
        rows = []
        for index, metric in enumerate(self.metrics):
            top = index * self.ROW_HEIGHT
            largest = max(abs(metric.baseline), abs(metric.result))
            baseline_y = top + self.LABEL_HEIGHT + 2
            result_y = baseline_y + self.BAR_HEIGHT + self.BAR_GAP
            rows.append(
                ChartRow(
                    label=metric.metric,
                    label_x=self.mirror(0),
                    label_y=top + self.LABEL_HEIGHT - 4,
                    baseline=self.bar(metric.baseline, largest, baseline_y, metric.unit),
                    result=self.bar(metric.result, largest, result_y, metric.unit),
                )
            )
        return rows


def describe_metric(metric: OutcomeMetric) -> OutcomeMetric:
    metric.baseline_text = format_number(metric.baseline)
    metric.result_text = format_number(metric.result)
    improvement = metric.improvement
    metric.change_text = format_change(improvement)
    metric.is_better = improvement is not None and improvement > 0
    metric.is_worse = improvement is not None and improvement < 0
    return metric


def describe_media(media: Media, *, can_edit: bool) -> dict[str, Any] | None:
    """What the gallery shows of one file; a failed one only to its editors."""
    if media.status == Media.Status.FAILED and not can_edit:
        return None
    is_ready = media.status == Media.Status.READY
    return {
        "media": media,
        "is_ready": is_ready,
        "is_pending": media.status == Media.Status.PENDING,
        "is_failed": media.status == Media.Status.FAILED,
        "original_url": selectors.media_url(media, "original") if is_ready else None,
        "small_url": selectors.media_url(media, "small") if is_ready else None,
        "large_url": selectors.media_url(media, "large") if is_ready else None,
        "name": media.caption or media.original_name,
    }


class UseCaseDetailView(UseCasePageMixin, TemplateView):
    """A use case, every section of it. Opening it counts the member's first view."""

    template_name = "usecases/use_case_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        use_case = selectors.get_use_case(user, self.kwargs["org_slug"], self.kwargs["slug"])
        if services.record_view(actor=user, use_case_id=use_case.pk):
            use_case.view_count += 1
        can_edit = services.is_editor(user, use_case)
        is_published = use_case.status == Status.PUBLISHED
        metrics = [describe_metric(metric) for metric in use_case.metrics.all()]
        chart = MetricChart(metrics, right_to_left=translation.get_language_bidi())
        gallery = [
            item
            for item in (describe_media(m, can_edit=can_edit) for m in use_case.media.all())
            if item is not None
        ]
        absolute_url = self.request.build_absolute_uri(use_case.get_absolute_url())
        author = use_case.author
        can_ask_author = (
            is_published and author is not None and author.is_active and author.pk != user.pk
        )
        return super().get_context_data(
            use_case=use_case,
            city_name=str(CITIES_BY_KEY[use_case.city].name) if use_case.city else "",
            budget_amount_text=format_number(use_case.budget_amount),
            roi_text=format_number(use_case.roi_percent),
            metrics=metrics,
            chart=chart,
            chart_rows=chart.rows(),
            chart_direction="rtl" if chart.right_to_left else "ltr",
            gallery=gallery,
            related=describe_use_cases(selectors.list_related(use_case, user))
            if is_published
            else [],
            absolute_url=absolute_url,
            author_name=person_name(author) if author is not None else "",
            can_edit=can_edit,
            is_published=is_published,
            is_reviewer=user.is_staff,
            shows_review=not is_published and (can_edit or user.is_staff),
            note_max_length=services.REVIEW_NOTE_MAX_LENGTH,
            can_archive=is_published and (can_edit or user.is_staff),
            can_delete=can_edit and use_case.status in (Status.DRAFT, Status.REJECTED),
            edit_url=reverse("usecases:edit", args=[use_case.pk, 1])
            if can_edit and use_case.status != Status.ARCHIVED
            else "",
            can_ask_author=can_ask_author,
            ask_url=reverse("messaging:start", args=[author.pk]) if can_ask_author else "",
            ask_text=_("About your use case “%(title)s”: %(url)s")
            % {"title": use_case.title, "url": absolute_url},
            **kwargs,
        )


# Buttons of a use case: POST only, one service call, then back to the page.


class UseCaseActionView(UseCasePageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        message = self.perform(kwargs["pk"])
        if message:
            messages.success(request, message)
        return redirect(self.get_success_url())

    def perform(self, use_case_id: int) -> str:
        """Call the service; return the confirmation to show, if any."""
        raise NotImplementedError

    def get_success_url(self) -> str:
        return safe_next_url(self.request, self.request.POST.get("next")) or self.back_url

    @property
    def back_url(self) -> str:
        use_case = selectors.get_use_case_by_id(self.request.user, self.kwargs["pk"])
        return use_case.get_absolute_url()

    def flag(self, name: str) -> bool | None:
        """An explicit "true"/"false" from the button, or None to toggle."""
        return {"true": True, "false": False}.get(self.request.POST.get(name, ""))


class LikeView(UseCaseActionView):
    def perform(self, use_case_id: int) -> str:
        services.toggle_like(
            actor=self.request.user, use_case_id=use_case_id, liked=self.flag("liked")
        )
        return ""


class BookmarkView(UseCaseActionView):
    def perform(self, use_case_id: int) -> str:
        bookmarked, _count = services.toggle_bookmark(
            actor=self.request.user, use_case_id=use_case_id, bookmarked=self.flag("bookmarked")
        )
        if bookmarked:
            return _("The use case is in your bookmarks.")
        return _("The use case is no longer in your bookmarks.")


class ArchiveView(UseCaseActionView):
    def perform(self, use_case_id: int) -> str:
        services.archive_use_case(actor=self.request.user, use_case_id=use_case_id)
        return _("The use case is archived: it left the library.")


class UseCaseDeleteView(UseCasePageMixin, View):
    """A draft or rejected use case: the page asks first; a POST with `confirmed` deletes."""

    template_name = "usecases/use_case_delete.html"

    def load(self) -> UseCase:
        use_case = selectors.get_use_case_by_id(self.request.user, self.kwargs["pk"])
        services.check_can_edit(self.request.user, use_case)
        return use_case

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.ask()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("confirmed") != "yes":
            return self.ask()
        services.delete_use_case(actor=request.user, use_case_id=kwargs["pk"])
        messages.success(request, _("The use case is deleted."))
        return redirect("usecases:mine")

    def ask(self) -> HttpResponse:
        use_case = self.load()
        return TemplateResponse(
            self.request,
            self.template_name,
            {
                "use_case": use_case,
                "can_delete": use_case.status in (Status.DRAFT, Status.REJECTED),
            },
        )


# Media


class MediaView(UseCasePageMixin, View):
    """A file of a use case, for those who may see the use case: a redirect to a short-lived
    signed URL (S3), or the file itself. A file still being processed answers 409."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, media_id: int, variant: str) -> HttpResponse:
        try:
            download = open_media_for(request.user, media_id, variant)
        except MediaNotReadyError as error:
            return TemplateResponse(
                request,
                "usecases/media_processing.html",
                {"message": error.message},
                status=HTTPStatus.CONFLICT,
            )
        if download.url is not None:
            response: HttpResponse = HttpResponseRedirect(download.url)
            response["Cache-Control"] = f"private, max-age={MEDIA_REDIRECT_MAX_AGE}"
            return response
        response = FileResponse(
            download.file, content_type=download.content_type, filename=download.filename
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = f"private, max-age={MEDIA_FILE_MAX_AGE}"
        return response


# The member's own use cases and bookmarks


class MyUseCasesView(UseCasePageMixin, TemplateView):
    template_name = "usecases/my_use_cases.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        tab = self.request.GET.get("tab", "all")
        if tab not in MY_TABS:
            tab = "all"
        rows = selectors.list_drafts(user) if tab == "drafts" else selectors.list_my_use_cases(user)
        page = get_page(self.request, rows, MY_PAGE_SIZE)
        use_cases = describe_use_cases(page.object_list)
        for use_case in use_cases:
            use_case.edit_url = (
                reverse("usecases:edit", args=[use_case.pk, use_case.wizard_step])
                if use_case.status != Status.ARCHIVED
                else ""
            )
        return super().get_context_data(
            tab=tab,
            tabs=[("all", _("All my use cases")), ("drafts", _("Drafts"))],
            page=page,
            use_cases=use_cases,
            **kwargs,
        )


class BookmarksView(UseCasePageMixin, TemplateView):
    template_name = "usecases/bookmarks.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = get_page(self.request, selectors.list_bookmarks(self.request.user), MY_PAGE_SIZE)
        return super().get_context_data(
            page=page, use_cases=describe_use_cases(page.object_list), **kwargs
        )


# Review (platform staff)


class ReviewQueueView(UseCasePageMixin, TemplateView):
    """Submitted use cases, the longest waiting first, each with publish and reject buttons."""

    template_name = "usecases/review_queue.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = get_page(
            self.request, selectors.list_review_queue(self.request.user), REVIEW_PAGE_SIZE
        )
        return super().get_context_data(
            page=page,
            use_cases=describe_use_cases(page.object_list),
            note_max_length=services.REVIEW_NOTE_MAX_LENGTH,
            **kwargs,
        )


class ReviewActionView(UseCaseActionView):
    page_url = "usecases:review-queue"

    @property
    def back_url(self) -> str:
        return reverse("usecases:review-queue")


class PublishView(ReviewActionView):
    def perform(self, use_case_id: int) -> str:
        use_case = services.publish_use_case(actor=self.request.user, use_case_id=use_case_id)
        return _("“%(title)s” is published.") % {"title": use_case.title}


class RejectView(ReviewActionView):
    def perform(self, use_case_id: int) -> str:
        use_case = services.reject_use_case(
            actor=self.request.user,
            use_case_id=use_case_id,
            note=self.request.POST.get("note", ""),
        )
        return _("“%(title)s” went back to its author with your note.") % {"title": use_case.title}


# Submission
# The guided three steps that write a use case, and its editing. Each step saves the draft
# ("Save draft" stays, "Save and continue" goes on) and works without JavaScript;
# static/js/usecases.js adds live previews, counters, metric rows and live media.

LAST_STEP = 3
STORY_PREVIEW_FIELDS = services.MARKDOWN_FIELDS


def step_titles() -> dict[int, str]:
    return {
        1: _("Organization and site"),
        2: _("The use case"),
        3: _("Attachments and review"),
    }


def edit_url(use_case_id: int, step: int) -> str:
    return reverse("usecases:edit", args=[use_case_id, step])


def load_editable(user: User, use_case_id: int) -> UseCase:
    """The use case `user` may change: 404 when they cannot see it, 403 when they can see it
    but not change it."""
    use_case = (
        UseCase.objects.select_related("organization", "author", "reviewed_by")
        .filter(pk=use_case_id)
        .first()
    )
    if use_case is None:
        raise UseCaseNotFoundError
    services.check_can_edit(user, use_case)
    if use_case.status == Status.ARCHIVED:
        raise InvalidStatusError(_("An archived use case cannot be edited."))
    return use_case


def saved_message(use_case: UseCase) -> str:
    if use_case.status == Status.PUBLISHED:
        return _("Your changes are saved and published.")
    if use_case.status == Status.SUBMITTED:
        return _("Your changes are saved. The use case is still waiting for review.")
    return _("Your draft is saved.")


def location_text(use_case: UseCase) -> str:
    if use_case.city:
        return str(CITIES_BY_KEY[use_case.city].name)
    if use_case.latitude is not None and use_case.longitude is not None:
        return f"{use_case.latitude}, {use_case.longitude}"
    return ""


class SubmissionStepMixin(UseCasePageMixin):
    """A step of the guided submission of `self.use_case` (None while step 1 creates it)."""

    step: int
    use_case: UseCase | None = None
    kwargs: dict[str, Any]

    def load(self) -> None:
        self.use_case = load_editable(self.request.user, self.kwargs["pk"])

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        return super().get(request, *args, **kwargs)  # type: ignore[misc]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    @property
    def editing(self) -> UseCase:
        if self.use_case is None:
            raise UseCaseNotFoundError
        return self.use_case

    def is_continuing(self) -> bool:
        return self.request.POST.get("action") == "continue" and self.step < LAST_STEP

    def reached_step(self) -> int:
        return self.step + 1 if self.is_continuing() else self.step

    def saved(self, use_case: UseCase) -> HttpResponse:
        if self.is_continuing():
            return redirect(edit_url(use_case.pk, self.step + 1))
        messages.success(self.request, saved_message(use_case))
        return redirect(edit_url(use_case.pk, self.step))

    def steps(self) -> list[dict[str, Any]]:
        use_case = self.use_case
        reached = max(use_case.wizard_step, self.step) if use_case else self.step
        return [
            {
                "number": number,
                "title": title,
                "url": edit_url(use_case.pk, number) if use_case and number <= reached else "",
                "is_current": number == self.step,
                "is_reached": number <= reached,
            }
            for number, title in step_titles().items()
        ]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        use_case = self.use_case
        user = self.request.user
        return super().get_context_data(  # type: ignore[misc]
            use_case=use_case,
            organization=use_case.organization if use_case else user.organization,
            step=self.step,
            step_title=step_titles()[self.step],
            steps=self.steps(),
            is_draft=use_case is None or use_case.is_editable_draft,
            **kwargs,
        )


class SiteStepView(SubmissionStepMixin, ServiceFormView):
    """Step 1: where it happened, who may read it, whom to ask."""

    template_name = "usecases/submission_site.html"
    form_class = SiteForm
    step = 1

    def get_initial(self) -> dict[str, Any]:
        if self.use_case is None:
            return SiteForm.initial_for_new(self.request.user)
        return SiteForm.initial_for(self.use_case)

    def perform(self, form: SiteForm) -> HttpResponse:
        fields = {**form.service_fields(), "wizard_step": self.reached_step()}
        if self.use_case is None:
            use_case = services.create_use_case(actor=self.request.user, fields=fields)
        else:
            use_case = services.update_use_case(
                actor=self.request.user, use_case_id=self.use_case.pk, fields=fields
            )
        return self.saved(use_case)


class UseCaseCreateView(SiteStepView):
    """Step 1 of a new use case: saving it creates the draft."""

    def load(self) -> None:
        services.check_can_write(self.request.user)


class StoryStepView(SubmissionStepMixin, ServiceFormView):
    """Step 2: the title, category, the five answers, tags, figures and outcome metrics. A
    "Preview" button (without JavaScript) shows the answers rendered and saves nothing."""

    template_name = "usecases/submission_story.html"
    form_class = StoryForm
    step = 2
    formset: BaseMetricFormSet | None = None

    def get_initial(self) -> dict[str, Any]:
        return StoryForm.initial_for(self.editing)

    def get_formset(self) -> BaseMetricFormSet:
        if self.request.method == "POST":
            return metric_formset(self.request.POST)
        return metric_formset(metrics=list(self.editing.metrics.all()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        form = self.get_form()
        self.formset = self.get_formset()
        if "preview" in request.POST:
            previews = {
                name: render_markdown(text[:ANSWER_MAX_LENGTH])
                for name in STORY_PREVIEW_FIELDS
                if (text := request.POST.get(name, "")).strip()
            }
            return self.render_to_response(
                self.get_context_data(form=form, previews=previews, is_preview=True)
            )
        form_is_valid = form.is_valid()
        if self.formset.is_valid() and form_is_valid:
            return self.form_valid(form)
        return self.form_invalid(form)

    def form_valid(self, form: StoryForm) -> HttpResponse:  # type: ignore[override]
        formset = self.formset or self.get_formset()
        rows = formset.rows()
        try:
            with transaction.atomic():
                use_case = services.update_use_case(
                    actor=self.request.user,
                    use_case_id=self.editing.pk,
                    fields={**form.service_fields(), "wizard_step": self.reached_step()},
                )
                services.set_metrics(
                    actor=self.request.user,
                    use_case_id=use_case.pk,
                    metrics=[row for _form, row in rows],
                )
        except ValidationError as error:
            add_story_errors(form, formset, [row_form for row_form, _row in rows], error)
            return self.form_invalid(form)
        except AppError as error:
            if error.status in {HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN}:
                raise
            form.add_app_error(error)
            return self.form_invalid(form)
        return self.saved(use_case)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        formset = self.formset or self.get_formset()
        previews = kwargs.pop("previews", {})
        return super().get_context_data(
            formset=formset,
            answers={name: previews.get(name, "") for name in STORY_PREVIEW_FIELDS},
            max_metrics=OutcomeMetric.MAX_PER_USE_CASE,
            **kwargs,
        )


def summary_row(
    use_case: UseCase, name: str, label: Any, value: Any, missing: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "value": value,
        "is_missing": name in missing,
        "url": f"{edit_url(use_case.pk, STEP_OF_FIELD[name])}#id_{name}",
        **extra,
    }


def summary_sections(use_case: UseCase, missing: list[str]) -> list[dict[str, Any]]:
    """Every field of the use case as the review shows it, grouped by the step that edits it."""
    site = SiteForm.base_fields
    story = StoryForm.base_fields

    def row(name: str, value: Any, fields: Any = story, **extra: Any) -> dict[str, Any]:
        return summary_row(use_case, name, fields[name].label, value, missing, **extra)

    budget = use_case.get_budget_range_display() if use_case.budget_range else ""
    if use_case.budget_amount is not None:
        amount = f"{use_case.budget_currency} {format_number(use_case.budget_amount)}"
        budget = f"{budget} · {amount}" if budget else amount
    months = _("%(count)s months")
    return [
        {
            "title": step_titles()[1],
            "url": edit_url(use_case.pk, 1),
            "rows": [
                row("site_name", use_case.site_name, site),
                row("city", location_text(use_case), site),
                row("visibility", use_case.get_visibility_display(), site),
                row("contact_name", use_case.contact_name, site),
                row("contact_title", use_case.contact_title, site),
            ],
        },
        {
            "title": step_titles()[2],
            "url": edit_url(use_case.pk, 2),
            "rows": [
                row("title", use_case.title),
                row("category", use_case.get_category_display() if use_case.category else ""),
                *(
                    row(name, getattr(use_case, name), html=getattr(use_case, f"{name}_html"))
                    for name in ("problem", "technology")
                ),
                row("budget_range", budget),
                *(
                    row(name, getattr(use_case, name), html=getattr(use_case, f"{name}_html"))
                    for name in ("outcomes", "challenges")
                ),
                row("industry_tags", "", tags=use_case.industry_tags),
                row("technology_tags", "", tags=use_case.technology_tags),
                row("vendor_name", use_case.vendor_name),
                row(
                    "implementation_months",
                    months % {"count": use_case.implementation_months}
                    if use_case.implementation_months is not None
                    else "",
                ),
                row(
                    "roi_percent",
                    f"{format_number(use_case.roi_percent)}%"
                    if use_case.roi_percent is not None
                    else "",
                ),
                row(
                    "payback_months",
                    months % {"count": use_case.payback_months}
                    if use_case.payback_months is not None
                    else "",
                ),
            ],
        },
    ]


def describe_upload(item: Media) -> dict[str, Any]:
    described = describe_media(item, can_edit=True) or {}
    return {**described, "status_label": item.get_status_display()}


class ReviewStepView(SubmissionStepMixin, ServiceFormView):
    """Step 3: the attachments (uploaded here, processed by a worker; the list turns ready live
    through `media_ready`), everything entered with what is still missing, and "Submit for
    review"."""

    template_name = "usecases/submission_review.html"
    form_class = MediaUploadForm
    step = 3

    def perform(self, form: MediaUploadForm) -> HttpResponse:
        use_case = self.editing
        added = add_media(
            actor=self.request.user, use_case=use_case, files=form.cleaned_data["files"]
        )
        messages.success(
            self.request,
            ngettext(
                "%(count)d file is uploaded. It is being processed.",
                "%(count)d files are uploaded. They are being processed.",
                len(added),
            )
            % {"count": len(added)},
        )
        return redirect(f"{edit_url(use_case.pk, self.step)}#media")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        use_case = self.editing
        missing = services.missing_fields(use_case)
        uploads = [describe_upload(item) for item in use_case.media.order_by("position", "id")]
        labels = {**SiteForm.base_fields, **StoryForm.base_fields}
        return super().get_context_data(
            sections=summary_sections(use_case, missing),
            missing=[
                {
                    "label": labels[name].label,
                    "url": f"{edit_url(use_case.pk, STEP_OF_FIELD[name])}#id_{name}",
                    "step": STEP_OF_FIELD[name],
                }
                for name in missing
            ],
            metrics=[describe_metric(metric) for metric in use_case.metrics.all()],
            uploads=uploads,
            max_media=Media.MAX_PER_USE_CASE,
            has_room=len(uploads) < Media.MAX_PER_USE_CASE,
            media_url_pattern=reverse(
                "usecases:media", kwargs={"media_id": 987654321, "variant": "VARIANT"}
            )
            .replace("987654321", "{id}")
            .replace("VARIANT", "{variant}"),
            can_submit=use_case.is_editable_draft,
            **kwargs,
        )


class UseCaseSubmitView(ReviewStepView):
    """POST: send the use case to review. With fields missing, the review page comes back
    listing them, and nothing changes."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        use_case = self.editing
        try:
            services.submit_use_case(actor=request.user, use_case_id=use_case.pk)
        except IncompleteUseCaseError:
            return self.render_to_response(
                self.get_context_data(form=MediaUploadForm(), is_submit_refused=True)
            )
        except InvalidStatusError as error:
            messages.error(request, error.message)
            return redirect(edit_url(use_case.pk, self.step))
        messages.success(
            request,
            _("Your use case is submitted for review. You will be notified when it is reviewed."),
        )
        return redirect(edit_url(use_case.pk, self.step))


class UseCaseEditView(View):
    """/use-cases/<pk>/edit/<step>/: the page of that step."""

    steps = {
        1: SiteStepView.as_view(),
        2: StoryStepView.as_view(),
        3: ReviewStepView.as_view(),
    }

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        view = self.steps.get(kwargs["step"])
        if view is None:
            raise Http404(_("A use case has steps 1 to 3."))
        return view(request, *args, **kwargs)


class MediaRemoveView(UseCasePageMixin, View):
    """POST: remove one attachment, back to the review step."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int, media_id: int) -> HttpResponse:
        use_case = load_editable(request.user, pk)
        item = Media.objects.filter(pk=media_id, use_case=use_case).first()
        if item is None:
            raise MediaNotFoundError
        remove_media(actor=request.user, media_id=item.pk)
        messages.success(request, _("“%(name)s” is removed.") % {"name": item.original_name})
        return redirect(f"{edit_url(use_case.pk, LAST_STEP)}#media")


class AnswerPreviewView(View):
    """POST `content` (form-encoded, with the CSRF token): `{"html": ...}`, the answer rendered
    and sanitized as the use case will show it. Signed-in, verified members only."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        user = request.user
        if not user.is_authenticated:
            return JsonResponse(
                {"detail": _("Sign in to preview."), "code": "not_authenticated"},
                status=HTTPStatus.UNAUTHORIZED,
            )
        if not user.is_email_verified:
            return JsonResponse(
                {"detail": _("Verify your email address first."), "code": "email_not_verified"},
                status=HTTPStatus.FORBIDDEN,
            )
        content = request.POST.get("content", "")
        if len(content) > ANSWER_MAX_LENGTH:
            return JsonResponse(
                {
                    "detail": _("The text has %(count)d characters; at most %(max)d fit.")
                    % {"count": len(content), "max": ANSWER_MAX_LENGTH},
                    "code": "invalid_content",
                },
                status=HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        return JsonResponse({"html": render_markdown(content)})
