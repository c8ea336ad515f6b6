"""The JSON API of the use-case library (/api/v1/use-cases).

Thin operations: parse, then one `sync_to_async` hop that calls a service and reads the use case
back through the selectors as the caller sees it (with `is_liked`, metrics and media). A list
evaluates its page, its count (and the library's facets) in one hop.

Who may do what is decided by the services and selectors: a use case the caller may not see
answers 404 like a missing one; one they may see but not change answers 403.
"""

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import BeforeValidator, StringConstraints

from accounts.authentication import api_auth
from accounts.models import User
from p2p_sandbox.pagination import OneHopPagination, PageQuery, evaluate_page
from p2p_sandbox.schemas import InputSchema, LikeOut, ObjectId
from usecases import media, selectors, services
from usecases.constants import CITIES, CITIES_BY_KEY, TAG_MAX_LENGTH, BudgetRange, Category
from usecases.models import Media, UseCase
from usecases.schemas import (
    FacetsOut,
    FeaturedIn,
    MediaOut,
    MetricsIn,
    RejectIn,
    Sort,
    UseCaseBookmarkOut,
    UseCaseFiltersIn,
    UseCaseIn,
    UseCaseListItemOut,
    UseCaseOut,
    UseCasePatch,
)

router = Router(tags=["use cases"], auth=api_auth)

# Schemas only this API uses


def query_text(max_length: int) -> object:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=max_length),
    ]


def blank_as_none(value: object) -> object:
    """A blank query parameter (as a form sends an unset choice) means "not given"."""
    return None if value == "" else value


def one_of(values: Iterable[str]) -> object:
    """A query parameter naming a value of a fixed list, or blank for any."""
    return Literal[("", *values)]


class LibraryQuery(UseCaseFiltersIn):
    """The library's filters: a value outside the fixed lists is refused (422), not ignored."""

    search: query_text(200) = ""  # type: ignore[valid-type]
    category: one_of(Category.values) = ""  # type: ignore[valid-type]
    industry_tag: query_text(TAG_MAX_LENGTH) = ""  # type: ignore[valid-type]
    technology_tag: query_text(TAG_MAX_LENGTH) = ""  # type: ignore[valid-type]
    city: one_of(CITIES_BY_KEY) = ""  # type: ignore[valid-type]
    budget_range: one_of(BudgetRange.values) = ""  # type: ignore[valid-type]
    organization: query_text(100) = Field(  # type: ignore[valid-type]
        "", description="An organization's slug."
    )
    has_metrics: Annotated[bool | None, BeforeValidator(blank_as_none)] = None
    sort: Annotated[Sort | None, BeforeValidator(blank_as_none)] = None  # type: ignore[valid-type]
    facets: bool = Field(True, description="Count each filter's values (false: `facets` null).")


class LibraryPageOut(Schema):
    items: list[UseCaseListItemOut]
    count: int
    facets: FacetsOut | None


class MineQuery(Schema):
    status: Annotated[UseCase.Status | None, BeforeValidator(blank_as_none)] = None


class LikeIn(InputSchema):
    """`liked` true or false sets the caller's like; without it the like is toggled."""

    liked: bool | None = None


class BookmarkIn(InputSchema):
    """`bookmarked` true or false sets the caller's bookmark; without it, it is toggled."""

    bookmarked: bool | None = None


class OptionOut(Schema):
    key: str
    name: str


class CityOut(Schema):
    key: str
    name: str
    lat: float
    lon: float


class OptionsOut(Schema):
    categories: list[OptionOut]
    budget_ranges: list[OptionOut]
    cities: list[CityOut]


# What each operation runs in its hop


def library_page(user: User, query: LibraryQuery, page: PageQuery) -> dict[str, Any]:
    filters = selectors.filters_from(query.model_dump(exclude={"sort", "facets"}))
    use_cases = selectors.list_filtered_use_cases(user, filters, sort=query.sort)
    result = evaluate_page(use_cases, page.page, page.page_size)
    result["facets"] = selectors.get_facets(user, filters) if query.facets else None
    return result


def create_and_read(user: User, fields: dict[str, Any]) -> UseCase:
    use_case = services.create_use_case(actor=user, fields=fields)
    return selectors.get_use_case_by_id(user, use_case.pk)


def view_use_case(user: User, use_case_id: int) -> UseCase:
    services.record_view(actor=user, use_case_id=use_case_id)
    return selectors.get_use_case_by_id(user, use_case_id)


def change_and_read(
    service: Callable[..., object], user: User, use_case_id: int, **arguments: Any
) -> UseCase:
    service(actor=user, use_case_id=use_case_id, **arguments)
    return selectors.get_use_case_by_id(user, use_case_id)


def upload_media(user: User, use_case_id: int, files: list[UploadedFile]) -> list[Media]:
    """The new media read back once add_media committed: where tasks run in-process, their
    processing has already made them ready."""
    use_case = services.get_use_case_row(use_case_id)
    created = media.add_media(actor=user, use_case=use_case, files=files)
    return list(Media.objects.filter(pk__in=[item.pk for item in created]))


# Lists and fixed paths (declared before /{use_case_id} so they resolve)


@router.get("", response=LibraryPageOut)
async def list_use_cases(
    request: HttpRequest, query: Query[LibraryQuery], page: Query[PageQuery]
) -> dict[str, Any]:
    """The published use cases the caller may see: public ones and their organization's.
    Relevance first when searching, else newest; `facets` counts each filter's values with the
    other filters applied."""
    return await sync_to_async(library_page)(request.auth, query, page)


@router.post("", response={201: UseCaseOut})
async def create_use_case(request: HttpRequest, payload: UseCaseIn) -> Status:
    """A draft of the caller's organization, from any subset of the fields (even none)."""
    use_case = await sync_to_async(create_and_read)(
        request.auth, payload.model_dump(exclude_unset=True)
    )
    return Status(201, use_case)


@router.get("/options", response=OptionsOut)
async def list_options(request: HttpRequest) -> dict[str, Any]:
    """The fixed lists a form or a filter offers, in the caller's language."""
    return {
        "categories": [{"key": c.value, "name": str(c.label)} for c in Category],
        "budget_ranges": [{"key": b.value, "name": str(b.label)} for b in BudgetRange],
        "cities": [
            {"key": c.key, "name": str(c.name), "lat": c.latitude, "lon": c.longitude}
            for c in CITIES
        ],
    }


@router.get("/mine", response=list[UseCaseListItemOut])
@paginate(OneHopPagination)
async def list_my_use_cases(request: HttpRequest, query: Query[MineQuery]) -> QuerySet[UseCase]:
    """Every use case the caller wrote, in any status (or `status`), the last changed first."""
    use_cases = selectors.list_my_use_cases(request.auth)
    if query.status is not None:
        use_cases = use_cases.filter(status=query.status)
    return use_cases


@router.get("/bookmarks", response=list[UseCaseListItemOut])
@paginate(OneHopPagination)
async def list_bookmarks(request: HttpRequest) -> QuerySet[UseCase]:
    """The caller's bookmarks they can still see, the last bookmarked first."""
    return selectors.list_bookmarks(request.auth)


@router.get("/review-queue", response=list[UseCaseListItemOut])
@paginate(OneHopPagination)
async def list_review_queue(request: HttpRequest) -> QuerySet[UseCase]:
    """Submitted use cases, the longest waiting first. Platform staff only."""
    return selectors.list_review_queue(request.auth)


@router.delete("/media/{media_id}", response={204: None})
async def delete_media(request: HttpRequest, media_id: ObjectId) -> Status:
    """The author or an admin of their organization; the stored files go too."""
    await sync_to_async(media.remove_media)(actor=request.auth, media_id=media_id)
    return Status(204, None)


# One use case


@router.get("/{use_case_id}", response=UseCaseOut)
async def get_use_case(request: HttpRequest, use_case_id: ObjectId) -> UseCase:
    """Counts the caller's first view of a published use case (not the author's own)."""
    return await sync_to_async(view_use_case)(request.auth, use_case_id)


@router.patch("/{use_case_id}", response=UseCaseOut)
async def update_use_case(
    request: HttpRequest, use_case_id: ObjectId, payload: UseCasePatch
) -> UseCase:
    """Changes only the fields given; a published use case must stay complete and each edit is
    kept as a revision. The author or an admin of their organization."""
    return await sync_to_async(change_and_read)(
        services.update_use_case,
        request.auth,
        use_case_id,
        fields=payload.model_dump(exclude_unset=True),
    )


@router.delete("/{use_case_id}", response={204: None})
async def delete_use_case(request: HttpRequest, use_case_id: ObjectId) -> Status:
    """A draft or a rejected use case, with its media. The author or an admin of their
    organization."""
    await sync_to_async(services.delete_use_case)(actor=request.auth, use_case_id=use_case_id)
    return Status(204, None)


@router.put("/{use_case_id}/metrics", response=UseCaseOut)
async def set_metrics(request: HttpRequest, use_case_id: ObjectId, payload: MetricsIn) -> UseCase:
    """Replaces every quantified outcome, in the order given; an empty list removes them."""
    return await sync_to_async(change_and_read)(
        services.set_metrics,
        request.auth,
        use_case_id,
        metrics=[metric.model_dump() for metric in payload.metrics],
    )


@router.post("/{use_case_id}/submit", response=UseCaseOut)
async def submit_use_case(request: HttpRequest, use_case_id: ObjectId) -> UseCase:
    """Sends a draft (or a reworked rejected one) for review; 422 `incomplete` lists the
    `missing_fields`."""
    return await sync_to_async(change_and_read)(services.submit_use_case, request.auth, use_case_id)


@router.post("/{use_case_id}/publish", response=UseCaseOut)
async def publish_use_case(request: HttpRequest, use_case_id: ObjectId) -> UseCase:
    """Staff only; the author is notified."""
    return await sync_to_async(change_and_read)(
        services.publish_use_case, request.auth, use_case_id
    )


@router.post("/{use_case_id}/reject", response=UseCaseOut)
async def reject_use_case(
    request: HttpRequest, use_case_id: ObjectId, payload: RejectIn
) -> UseCase:
    """Staff only; the note tells the author what to change."""
    return await sync_to_async(change_and_read)(
        services.reject_use_case, request.auth, use_case_id, note=payload.note
    )


@router.post("/{use_case_id}/archive", response=UseCaseOut)
async def archive_use_case(request: HttpRequest, use_case_id: ObjectId) -> UseCase:
    """Takes a published use case out of the library. Its editors or staff."""
    return await sync_to_async(change_and_read)(
        services.archive_use_case, request.auth, use_case_id
    )


@router.post("/{use_case_id}/feature", response=UseCaseOut)
async def feature_use_case(
    request: HttpRequest, use_case_id: ObjectId, payload: FeaturedIn
) -> UseCase:
    """Staff only, on a published use case."""
    return await sync_to_async(change_and_read)(
        services.set_featured, request.auth, use_case_id, featured=payload.is_featured
    )


@router.post("/{use_case_id}/like", response=LikeOut)
async def like_use_case(
    request: HttpRequest, use_case_id: ObjectId, payload: LikeIn | None = None
) -> dict[str, Any]:
    """Toggles the caller's like of a published use case, or sets it with `liked`."""
    liked, like_count = await sync_to_async(services.toggle_like)(
        actor=request.auth, use_case_id=use_case_id, liked=payload.liked if payload else None
    )
    return {"liked": liked, "like_count": like_count}


@router.post("/{use_case_id}/bookmark", response=UseCaseBookmarkOut)
async def bookmark_use_case(
    request: HttpRequest, use_case_id: ObjectId, payload: BookmarkIn | None = None
) -> dict[str, Any]:
    """Toggles the caller's bookmark of a published use case, or sets it with `bookmarked`."""
    bookmarked, bookmark_count = await sync_to_async(services.toggle_bookmark)(
        actor=request.auth,
        use_case_id=use_case_id,
        bookmarked=payload.bookmarked if payload else None,
    )
    return {"bookmarked": bookmarked, "bookmark_count": bookmark_count}


@router.post("/{use_case_id}/media", response={201: list[MediaOut]})
async def add_media(
    request: HttpRequest,
    use_case_id: ObjectId,
    files: File[list[UploadedFile] | None] = None,
    file: File[UploadedFile | None] = None,
) -> Status:
    """Multipart: one or more `files` (or a single `file`). Each file's content decides its
    type (JPEG, PNG or WebP images, MP4 or WebM videos, PDFs); one bad file, or more than
    10 files on the use case, refuses the whole request and stores nothing. Images are
    processed in the background: each media is `pending` until `ready` or `failed`. The author
    or an admin of their organization."""
    uploads = [*(files or []), *([file] if file is not None else [])]
    created = await sync_to_async(upload_media)(request.auth, use_case_id, uploads)
    return Status(201, created)
