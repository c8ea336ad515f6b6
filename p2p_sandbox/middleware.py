"""Django's middleware, run in the event loop under ASGI.

Django's `MiddlewareMixin` runs every hook of a middleware in a thread under ASGI (two thread
hops per middleware and request), even when the hook only reads headers and sets others. The
classes here are thin subclasses of Django's own, so behaviour stays Django's; only where their
hooks run changes:

- `InLoopMiddlewareMixin` runs process_request, process_view and process_response directly in
  the event loop. Only for hooks that do no I/O: a blocking call there stalls every request of
  the process, and a database query there raises SynchronousOnlyOperation.
- A middleware that does I/O hops to a thread once, and only on the requests that need it
  (`SessionMiddleware`: only when the session must be saved).

Another project middleware whose hooks do no I/O adopts it with one line:
`class MyMiddleware(InLoopMiddlewareMixin, MiddlewareMixin)`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware import clickjacking, common, csp, csrf, locale, security
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found

from p2p_sandbox.schemas import unstorable_text_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class SyncAndAsyncMiddleware:
    """Base of the project's own middleware: `handle` runs under WSGI, the coroutine `ahandle`
    under ASGI (Django picks by what the next middleware is), each ending in get_response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError


class InLoopMiddlewareMixin:
    """Put first in the bases, before a `MiddlewareMixin` class whose hooks do no I/O."""

    get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]
    async_mode: bool

    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        if self.async_mode and hasattr(self, "process_view"):
            # Django adapts process_view by what the attribute is: a coroutine function is
            # awaited in the loop, a plain method is sent to a thread.
            self.sync_process_view = self.process_view
            self.process_view = self.aprocess_view

    async def aprocess_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        return self.sync_process_view(request, view, args, kwargs)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(InLoopMiddlewareMixin, security.SecurityMiddleware):
    pass


class LocaleMiddleware(InLoopMiddlewareMixin, locale.LocaleMiddleware):
    pass


class CommonMiddleware(InLoopMiddlewareMixin, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InLoopMiddlewareMixin, csrf.CsrfViewMiddleware):
    async def aprocess_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if request.method in SAFE_METHODS or getattr(view, "csrf_exempt", False):
            return self.sync_process_view(request, view, args, kwargs)
        # The check reads request.POST: parsing a form (files spooled to disk) is blocking work.
        return await sync_to_async(self.sync_process_view)(request, view, args, kwargs)


class XFrameOptionsMiddleware(InLoopMiddlewareMixin, clickjacking.XFrameOptionsMiddleware):
    pass


class ContentSecurityPolicyMiddleware(InLoopMiddlewareMixin, csp.ContentSecurityPolicyMiddleware):
    pass


class MessageMiddleware(InLoopMiddlewareMixin, messages_middleware.MessageMiddleware):
    """In the loop only with a storage that never touches the session store (MESSAGE_STORAGE is
    the cookie storage): storing messages in the session would load it in the loop."""


class SessionMiddleware(InLoopMiddlewareMixin, sessions_middleware.SessionMiddleware):
    """The session is loaded lazily by whoever reads it first (in a thread: the session limits,
    the user); saving it is the only I/O here, and the only request that hops."""

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        response = await self.get_response(request)
        if self.must_save(request):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)

    @staticmethod
    def must_save(request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        if session is None:
            return False
        return (session.modified or settings.SESSION_SAVE_EVERY_REQUEST) and not session.is_empty()


def get_user_in_thread(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = auth.get_user(request)
    return request._cached_user


async def auser(request: HttpRequest) -> Any:
    """The user in one thread hop (session load and user row together), and none for a request
    without a session key: an anonymous request never reaches the session store."""
    if not hasattr(request, "_acached_user"):
        if hasattr(request, "_cached_user"):
            request._acached_user = request._cached_user
        elif request.session.session_key is None:
            request._acached_user = AnonymousUser()
        else:
            request._acached_user = await sync_to_async(get_user_in_thread)(request)
    return request._acached_user


class AuthenticationMiddleware(InLoopMiddlewareMixin, auth_middleware.AuthenticationMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.auser = partial(auser, request)


SECURITY_MIDDLEWARE = {
    "security.W001": security.SecurityMiddleware,
    "security.W002": clickjacking.XFrameOptionsMiddleware,
    "security.W003": csrf.CsrfViewMiddleware,
}


def check_security_middleware(**kwargs: object) -> list[Warning]:
    """Django's deploy checks W001-W003 look for Django's own paths in MIDDLEWARE and are
    silenced in settings; this one accepts the subclasses above and warns as they would."""
    from django.core.checks import Warning as CheckWarning
    from django.utils.module_loading import import_string

    installed = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        CheckWarning(
            f"{required.__module__}.{required.__name__} (or a subclass) is not in MIDDLEWARE.",
            id=f"p2p_sandbox.{check_id}",
        )
        for check_id, required in SECURITY_MIDDLEWARE.items()
        if not any(issubclass(middleware, required) for middleware in installed)
    ]


def first_unstorable_field(data: QueryDict) -> tuple[str, str] | None:
    """The first (name, reason) of a parameter whose name or value PostgreSQL could not store."""
    for name, values in data.lists():
        for text in (name, *values):
            error = unstorable_text_error(text)
            if error:
                return name, error
    return None


@dataclass(frozen=True)
class UnstorableInput:
    location: str  # "path", "query" or "form"
    name: str = ""
    message: str = ""


def find_unstorable_input(request: HttpRequest) -> UnstorableInput | None:
    """The path, query parameter or form field holding a NUL or a lone surrogate: such text
    would fail in the database, not as bad input. Pure work on the request, no I/O."""
    if unstorable_text_error(request.path_info):
        return UnstorableInput("path")
    try:
        found, location = first_unstorable_field(request.GET), "query"
        if found is None and request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
            found, location = first_unstorable_field(request.POST), "form"
    except SuspiciousOperation:
        return None  # too large or too many fields: the view's own handling answers it
    if found is None:
        return None
    return UnstorableInput(location, *found)


def unstorable_input_response(request: HttpRequest, found: UnstorableInput) -> HttpResponse:
    """A 404 for a path, a 422 (API) or 400 (page) for a query string or form post. Pages are
    rendered with the site's templates, which may read the user: call it from a thread."""
    from p2p_sandbox.api import error_response  # the API module imports every app

    is_api = request.path.startswith("/api/")
    if found.location == "path":
        if is_api:
            return error_response(request, status=404, detail=_("Not found."), code="not_found")
        return page_not_found(request, ValueError("unstorable path"))
    name, message, location = found.name, found.message, found.location
    if is_api:
        return error_response(
            request,
            status=422,
            detail=f"{name}: {message}",
            code="validation_error",
            errors=[{"field": name, "message": message, "location": location}],
        )
    return bad_request(request, ValueError("unstorable input"))


class UnstorableInputMiddleware(SyncAndAsyncMiddleware):
    """Refuses a request whose path, query string or form post holds text PostgreSQL cannot
    store, before any view reads it. JSON bodies are checked by schemas.InputSchema."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        found = find_unstorable_input(request)
        if found is not None:
            return unstorable_input_response(request, found)
        return self.get_response(request)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        found = find_unstorable_input(request)
        if found is not None:
            return await sync_to_async(unstorable_input_response)(request, found)
        return await self.get_response(request)
