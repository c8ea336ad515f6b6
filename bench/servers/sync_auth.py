"""The project's API authentication done synchronously, for the sync WSGI baselines: a personal
API token (what `accounts.selectors.aget_user_for_api_token` and `BearerTokenAuth` do) or the
session cookie (Django's AuthenticationMiddleware; CSRF for unsafe methods), for an active user
with a verified email."""

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from accounts.authentication import require_verified
from accounts.models import ApiToken, User
from accounts.services import token_hash

# What accounts.selectors.aget_user_for_api_token does, synchronously.
TOKEN_USE_RESOLUTION_S = 60


class SyncBearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = (
            ApiToken.objects.filter(token_hash=token_hash(token.strip()), revoked_at__isnull=True)
            .select_related("user__organization")
            .first()
        )
        if found is None or not found.user.is_active:
            return None
        now = timezone.now()
        if (
            found.last_used_at is None
            or (now - found.last_used_at).total_seconds() > TOKEN_USE_RESOLUTION_S
        ):
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        return require_verified(found.user, allow_unverified=False)


class SyncSessionAuth(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if not request.user.is_authenticated:
            return None
        return require_verified(request.user, allow_unverified=False)
