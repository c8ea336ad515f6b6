import math
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from p2p_sandbox.middleware import SyncAndAsyncMiddleware

STARTED_AT = "accounts.auth_started_at"
ACTIVE_AT = "accounts.last_active_at"
# Recording activity on every request would write the session each time; once a minute is
# precise enough for a 30-minute idle limit.
ACTIVITY_RESOLUTION = 60


def session_expired(started_at: float | None, active_at: float | None, now: float) -> bool:
    if started_at is None or active_at is None:
        return False
    return (
        now - active_at > settings.SESSION_IDLE_TIMEOUT.total_seconds()
        or now - started_at > settings.SESSION_MAX_AGE.total_seconds()
    )


def session_deadline(started_at: float | None, active_at: float | None) -> float:
    """When `session_expired` turns true for these clocks, unless there is activity before;
    infinity for a session without them."""
    if started_at is None or active_at is None:
        return math.inf
    return min(
        active_at + settings.SESSION_IDLE_TIMEOUT.total_seconds(),
        started_at + settings.SESSION_MAX_AGE.total_seconds(),
    )


def last_seen(user_id: str) -> QuerySet:
    from accounts.models import User

    return User.objects.filter(pk=user_id)


class SessionLimitsMiddleware(SyncAndAsyncMiddleware):
    """Ends a signed-in session after SESSION_IDLE_TIMEOUT idle or SESSION_MAX_AGE in all, and
    records the user's last activity (at most once a minute).

    Placed after SessionMiddleware and before AuthenticationMiddleware, so an ended session is
    already anonymous when the request's user is resolved.
    """

    def handle(self, request: HttpRequest) -> HttpResponse:
        enforce_session_limits(request.session)
        return self.get_response(request)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        # Without a session key there is nothing to load or check: no thread hop. With one, the
        # same hop resolves the signed-in user, which request.user and request.auser() reuse.
        if request.session.session_key is not None:
            await sync_to_async(enforce_session_limits_and_resolve_user)(request)
        return await self.get_response(request)


def enforce_session_limits_and_resolve_user(request: HttpRequest) -> None:
    enforce_session_limits(request.session)
    if SESSION_KEY in request.session:
        request._cached_user = auth.get_user(request)  # Django's own cache of request.user


def enforce_session_limits(session: SessionBase) -> None:
    if SESSION_KEY not in session:
        return
    now = time.time()
    started_at, active_at = session.get(STARTED_AT), session.get(ACTIVE_AT)
    if session_expired(started_at, active_at, now):
        session.flush()
    elif active_at is None or now - active_at > ACTIVITY_RESOLUTION:
        session[ACTIVE_AT] = now
        session.setdefault(STARTED_AT, now)
        last_seen(session[SESSION_KEY]).update(last_seen_at=timezone.now())


def start_session_clock(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """On every sign-in (API, pages, admin): the session's age and idle time start now."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[STARTED_AT] = now
        request.session[ACTIVE_AT] = now
