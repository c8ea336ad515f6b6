"""`/health`, `GET /api/v1/use-cases` and `POST /api/v1/use-cases/{id}/media` as sync views:
the project's query and output schemas and the very functions its async operations run in their
one `sync_to_async` hop (`usecases.api.library_page`, `usecases.api.upload_media`), so the same
queries, bodies and statuses, on a NinjaAPI of their own whose operations are plain `def`s,
served by gunicorn's threads. Authentication is the project's, done synchronously: the session
cookie (Django's AuthenticationMiddleware; CSRF for unsafe methods) or a personal API token, for
an active user with a verified email."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from ninja import File, NinjaAPI, Query, Status
from ninja.files import UploadedFile
from ninja.security import APIKeyCookie, HttpBearer

from accounts.authentication import require_verified
from accounts.models import ApiToken, User
from accounts.services import token_hash
from p2p_sandbox.api import add_error_handlers
from usecases.api import LibraryPageOut, LibraryQuery, PageQuery, library_page, upload_media
from usecases.schemas import MediaOut

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


api = NinjaAPI(
    title="bench sync use cases",
    urls_namespace="bench-sync-usecases-api",
    docs_url=None,
    auth=[SyncBearerTokenAuth(), SyncSessionAuth()],
)
add_error_handlers(api)


@api.get("/use-cases", response=LibraryPageOut)
def list_use_cases(
    request: HttpRequest, query: Query[LibraryQuery], page: Query[PageQuery]
) -> dict[str, Any]:
    return library_page(request.auth, query, page)


@api.post("/use-cases/{use_case_id}/media", response={201: list[MediaOut]})
def add_media(
    request: HttpRequest,
    use_case_id: int,
    files: File[list[UploadedFile] | None] = None,
    file: File[UploadedFile | None] = None,
) -> Status:
    uploads = [*(files or []), *([file] if file is not None else [])]
    return Status(201, upload_media(request.auth, use_case_id, uploads))


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


urlpatterns = [path("health", health), path("api/v1/", api.urls)]
