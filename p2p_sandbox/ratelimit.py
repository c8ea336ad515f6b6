"""Per-person rate limits on writes, searches and socket frames (per address when anonymous).

Counters are fixed windows in Django's cache (`add` then `incr`, both atomic in Redis), so they
hold across processes when REDIS_URL is set and per process on the embedded default. The limits
come from settings.RATE_LIMITS: {scope: ((requests, seconds), ...)}, shortest period first.

The limiter fails open: when the cache cannot be reached it logs, allows the request, and leaves
the cache alone for a few seconds, so a Redis outage neither loses what people send nor makes
every request wait for the cache's timeout.

Who is counted: a signed-in person by id (session or Bearer token, the same counter); anyone
else by REMOTE_ADDR. Behind the load balancer the web processes take REMOTE_ADDR from
X-Forwarded-For (--proxy-headers), so the balancer must set that header, not append to it (as
deploy/haproxy.cfg does).
"""

import ipaddress
import logging
import math
import time
from collections.abc import Iterable
from contextvars import ContextVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from ninja.throttling import BaseThrottle
from redis.exceptions import RedisError

from p2p_sandbox.errors import RateLimitedError
from p2p_sandbox.middleware import SyncAndAsyncMiddleware

logger = logging.getLogger(__name__)

WRITES = "writes"
SEARCHES = "searches"
FRAMES = "frames"
ANONYMOUS = "anonymous"

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A GET with one of these (non-empty) is a search; lists filtered otherwise are not.
SEARCH_PARAMETERS = ("q", "search")
# After the cache fails, it is not asked again for this long: requests pass unlimited.
OUTAGE_PAUSE = 5.0

_paused_until = 0.0


def person(user_id: int) -> str:
    return f"user:{user_id}"


def address(request: HttpRequest) -> str:
    value = request.META.get("REMOTE_ADDR") or ""
    try:
        return f"address:{ipaddress.ip_address(value)}"
    except ValueError:
        return "address:unknown"


def request_scope(request: HttpRequest) -> str | None:
    """WRITES for an unsafe method, SEARCHES for a GET with a search parameter, else None."""
    if request.method in UNSAFE_METHODS:
        return WRITES
    if request.method == "GET" and any(
        request.GET.get(name, "").strip() for name in SEARCH_PARAMETERS
    ):
        return SEARCHES
    return None


def hit(scopes: Iterable[str], ident: str) -> int | None:
    """Count one request of `ident` in each scope; the seconds to wait when one is over its
    limit (the scopes after it are then not counted), else None."""
    global _paused_until
    now = time.time()
    if now < _paused_until:
        return None
    try:
        for scope in scopes:
            for limit, period in settings.RATE_LIMITS.get(scope, ()):
                window = int(now // period)
                key = f"ratelimit:{scope}:{ident}:{period}:{window}"
                cache.add(key, 0, timeout=period + 1)
                if cache.incr(key) > limit:
                    return max(1, math.ceil((window + 1) * period - now))
    except (RedisError, OSError) as error:
        _paused_until = now + OUTAGE_PAUSE
        logger.warning("Rate limits are off for %ss: the cache failed (%s)", OUTAGE_PAUSE, error)
    except ValueError:
        # incr of a key that expired or was evicted right after add: allow this one.
        logger.info("A rate-limit counter vanished between add and incr")
    return None


def limited_error(retry_after: int) -> RateLimitedError:
    return RateLimitedError(
        gettext("You are doing this too often. Wait a moment and try again."),
        retry_after=retry_after,
    )


def check(scopes: Iterable[str], ident: str) -> None:
    """Count one request; RateLimitedError (with retry_after) when over a limit."""
    retry_after = hit(scopes, ident)
    if retry_after is not None:
        raise limited_error(retry_after)


# Off the event loop: a slow or unreachable cache must not stall other sockets.
ahit = sync_to_async(hit, thread_sensitive=False)


def hit_request(request: HttpRequest, user_id: int | None) -> int | None:
    """Count a write or search of `user_id` (None: anonymous, by address); other requests pass."""
    scope = request_scope(request)
    if scope is None:
        return None
    if user_id is None:
        return hit([ANONYMOUS], address(request))
    return hit([scope], person(user_id))


class ApiThrottle(BaseThrottle):
    """The NinjaAPI's throttle. Ninja runs it after authentication, so `request.auth` is the
    caller (a User, by session or token) or unset on the anonymous operations."""

    def __init__(self) -> None:
        # Ninja asks wait() right after allow_request(); concurrent requests keep their own.
        self.retry_after: ContextVar[int | None] = ContextVar("retry_after", default=None)

    def allow_request(self, request: HttpRequest) -> bool:
        user_id = getattr(getattr(request, "auth", None), "pk", None)
        retry_after = hit_request(request, user_id)
        self.retry_after.set(retry_after)
        return retry_after is None

    def wait(self) -> float | None:
        return self.retry_after.get()


class RateLimitMiddleware(SyncAndAsyncMiddleware):
    """Limits the writes and searches of pages (the API has its own throttle): over the limit,
    a 429 page, or {"detail", "code"} to a script asking for JSON, with Retry-After.

    Placed after AuthenticationMiddleware, so the request's user is known.
    """

    def handle(self, request: HttpRequest) -> HttpResponse:
        return self.limited_response(request) or self.get_response(request)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        if request_scope(request) is not None and not request.path.startswith("/api/"):
            response = await sync_to_async(self.limited_response)(request)
            if response is not None:
                return response
        return await self.get_response(request)

    def limited_response(self, request: HttpRequest) -> HttpResponse | None:
        if request_scope(request) is None or request.path.startswith("/api/"):
            return None
        user_id = request.user.pk if request.user.is_authenticated else None
        retry_after = hit_request(request, user_id)
        if retry_after is None:
            return None
        error = limited_error(retry_after)
        if "application/json" in request.headers.get("Accept", ""):
            response: HttpResponse = JsonResponse(
                {"detail": error.message, "code": error.code}, status=error.status
            )
        else:
            response = render(request, "429.html", {"error": error}, status=error.status)
        response["Retry-After"] = str(retry_after)
        return response
