"""`/health` and `GET /api/v1/forums/categories` as sync views: the project's selector
(`forums.selectors.list_categories`) and output schema (`CategoryOut`), on a NinjaAPI of its own
whose operation is a plain `def`, served by gunicorn's threads. Authentication is the project's
(a Bearer token first, then the session cookie), done synchronously (bench/servers/sync_auth.py)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from ninja import NinjaAPI

from bench.servers.sync_auth import SyncBearerTokenAuth, SyncSessionAuth
from forums import selectors
from forums.models import Category
from forums.schemas import CategoryOut
from p2p_sandbox.api import add_error_handlers

api = NinjaAPI(
    title="bench sync read",
    urls_namespace="bench-sync-read-api",
    docs_url=None,
    auth=[SyncBearerTokenAuth(), SyncSessionAuth()],
)
add_error_handlers(api)


@api.get("/forums/categories", response=list[CategoryOut])
def list_categories(request: HttpRequest) -> list[Category]:
    return selectors.list_categories()


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


urlpatterns = [path("health", health), path("api/v1/", api.urls)]
