"""The one pagination of the API (settings.NINJA_PAGINATION_CLASS): ?page=&page_size=.

`page` is bounded: a page past MAX_PAGE is refused (422) rather than sent to the database as a
huge OFFSET (past 64 bits it would not even fit). A larger `page_size` is capped, not refused.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PageNumberPagination

MAX_PAGE = 10_000


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int | None = Field(
        None,
        ge=1,
        description=f"At most {settings.NINJA_MAX_PER_PAGE_SIZE}; larger is capped.",
    )


def page_bounds(page: int, page_size: int | None) -> tuple[int, int]:
    """The (offset, size) of a page, its size capped at NINJA_MAX_PER_PAGE_SIZE."""
    size = min(page_size or settings.NINJA_PAGINATION_PER_PAGE, settings.NINJA_MAX_PER_PAGE_SIZE)
    return (page - 1) * size, size


def evaluate_page(queryset: QuerySet, page: int, page_size: int | None) -> dict[str, Any]:
    offset, size = page_bounds(page, page_size)
    return {"items": list(queryset[offset : offset + size]), "count": queryset.count()}


class BoundedPagination(PageNumberPagination):
    Input = PageQuery


class OneHopPagination(BoundedPagination):
    """The page and the count evaluated in one `sync_to_async` hop."""

    async def apaginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        return await sync_to_async(evaluate_page)(queryset, pagination.page, pagination.page_size)
