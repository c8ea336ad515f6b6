from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found

from p2p_sandbox.api import error_response
from p2p_sandbox.schemas import unstorable_text_error

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def first_unstorable_field(data: QueryDict) -> tuple[str, str] | None:
    """The first (name, reason) of a parameter whose name or value PostgreSQL could not store."""
    for name, values in data.lists():
        for text in (name, *values):
            error = unstorable_text_error(text)
            if error:
                return name, error
    return None


def refuse_unstorable_input(request: HttpRequest) -> HttpResponse | None:
    """A 404 for a path, a 422 (API) or 400 (page) for a query string or form post, holding a
    NUL or a lone surrogate: such text would fail in the database, not as bad input."""
    is_api = request.path.startswith("/api/")
    if unstorable_text_error(request.path_info):
        if is_api:
            return error_response(request, status=404, detail=_("Not found."), code="not_found")
        return page_not_found(request, ValueError("unstorable path"))
    try:
        found, location = first_unstorable_field(request.GET), "query"
        if found is None and request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
            found, location = first_unstorable_field(request.POST), "form"
    except SuspiciousOperation:
        return None  # too large or too many fields: the view's own handling answers it
    if found is None:
        return None
    name, message = found
    if is_api:
        return error_response(
            request,
            status=422,
            detail=f"{name}: {message}",
            code="validation_error",
            errors=[{"field": name, "message": message, "location": location}],
        )
    return bad_request(request, ValueError("unstorable input"))


class UnstorableInputMiddleware:
    """Refuses a request whose path, query string or form post holds text PostgreSQL cannot
    store, before any view reads it. JSON bodies are checked by schemas.InputSchema."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return refuse_unstorable_input(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return refuse_unstorable_input(request) or await self.get_response(request)
