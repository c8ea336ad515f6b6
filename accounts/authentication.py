"""How API callers are recognised: a personal token (`Authorization: Bearer`) or the session
cookie with a CSRF token for unsafe methods. Both answer the user, who must be active and
verified."""

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from accounts.exceptions import EmailNotVerifiedError
from accounts.models import User
from accounts.selectors import aget_user_for_api_token
from p2p_sandbox.errors import PermissionDeniedError


class CsrfFailedError(PermissionDeniedError):
    code = "csrf_failed"
    message = "The CSRF token is missing or not valid. Reload the page and try again."


def require_verified(user: User, *, allow_unverified: bool) -> User:
    if not allow_unverified and not user.is_email_verified:
        raise EmailNotVerifiedError
    return user


class BearerTokenAuth(HttpBearer):
    def __init__(self, *, allow_unverified: bool = False) -> None:
        super().__init__()
        self.allow_unverified = allow_unverified

    async def __call__(self, request: HttpRequest) -> User | None:  # type: ignore[override]
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = await aget_user_for_api_token(token.strip())
        if user is None:
            return None
        request.user = user
        return require_verified(user, allow_unverified=self.allow_unverified)

    def authenticate(self, request: HttpRequest, token: str) -> None:
        raise NotImplementedError("BearerTokenAuth is asynchronous")


class SessionAuth(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, *, allow_unverified: bool = False) -> None:
        super().__init__(csrf=True)
        self.allow_unverified = allow_unverified

    async def __call__(self, request: HttpRequest) -> User | None:  # type: ignore[override]
        user = await request.auser()
        if not user.is_authenticated:
            return None
        if request.method not in {"GET", "HEAD", "OPTIONS", "TRACE"} and check_csrf(request):
            raise CsrfFailedError
        return require_verified(user, allow_unverified=self.allow_unverified)

    def authenticate(self, request: HttpRequest, key: str | None) -> None:
        raise NotImplementedError("SessionAuth is asynchronous")


# Most operations: a verified user. The verification flow itself: any signed-in user.
api_auth = [BearerTokenAuth(), SessionAuth()]
unverified_api_auth = [
    BearerTokenAuth(allow_unverified=True),
    SessionAuth(allow_unverified=True),
]
