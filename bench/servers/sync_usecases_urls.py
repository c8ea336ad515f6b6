"""`/health`, `GET /api/v1/use-cases` and `POST /api/v1/use-cases/{id}/media` as sync views:
the project's query and output schemas and the very functions its async operations run in their
one `sync_to_async` hop (`usecases.api.library_page`, `usecases.api.upload_media`), so the same
queries, bodies and statuses, on a NinjaAPI of their own whose operations are plain `def`s,
served by gunicorn's threads. Authentication is the project's, done synchronously
(bench/servers/sync_auth.py)."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from ninja import File, NinjaAPI, Query, Status
from ninja.files import UploadedFile

from bench.servers.sync_auth import SyncBearerTokenAuth, SyncSessionAuth
from p2p_sandbox.api import add_error_handlers
from usecases.api import LibraryPageOut, LibraryQuery, PageQuery, library_page, upload_media
from usecases.schemas import MediaOut

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
