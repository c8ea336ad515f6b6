import json
import time
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncRequestFactory, Client

from accounts import services as account_services
from accounts.middleware import ACTIVE_AT
from forums.models import Category
from p2p_sandbox.middleware import check_security_middleware


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent from the event loop to a thread."""
    names: list[str] = []
    original = SyncToAsync.__call__

    def recording(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        names.append(getattr(self.func, "__name__", type(self.func).__name__))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", recording)
    return names


def test_asgi_handler_middleware_chain_is_coroutine_functions_only() -> None:
    handler = ASGIHandler()

    assert iscoroutinefunction(handler._middleware_chain)
    assert handler._view_middleware
    assert all(iscoroutinefunction(method) for method in handler._view_middleware)


async def test_asgi_health_passes_every_middleware_without_a_thread_hop(
    hops: list[str],
) -> None:
    handler = ASGIHandler()

    response = await handler.get_response_async(AsyncRequestFactory().get("/health"))

    assert response.status_code == 200
    assert hops == []
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_asgi_session_read_hops_once_for_session_and_user_once_for_view(
    hops: list[str], user_factory: Any
) -> None:
    await Category.objects.acreate(name="Hop Count", slug="hop-count")
    user = await sync_to_async(user_factory)()
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    request = AsyncRequestFactory().get(
        "/api/v1/forums/categories", headers={"cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}
    )

    handler = ASGIHandler()
    hops.clear()

    response = await handler.get_response_async(request)

    assert response.status_code == 200
    assert "hop-count" in [category["slug"] for category in json.loads(response.content)]
    assert hops == ["enforce_session_limits_and_resolve_user", "list_categories"]
    assert request.session[SESSION_KEY] == str(user.pk)
    assert time.time() - request.session[ACTIVE_AT] < 60
    assert settings.SESSION_COOKIE_NAME not in response.cookies


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_asgi_bearer_read_hops_only_for_token_and_view(
    hops: list[str], user_factory: Any
) -> None:
    user = await sync_to_async(user_factory)()
    _, raw = await sync_to_async(account_services.create_api_token)(actor=user, name="read")
    handler = ASGIHandler()
    request = AsyncRequestFactory().get(
        "/api/v1/forums/categories", headers={"authorization": f"Bearer {raw}"}
    )
    hops.clear()

    response = await handler.get_response_async(request)

    assert response.status_code == 200
    assert response.content == b"[]"
    # The token lookup, then its last-use stamp (once a minute), then the view.
    assert hops == ["first", "update", "list_categories"]


def test_check_security_middleware_accepts_the_in_loop_subclasses() -> None:
    assert check_security_middleware() == []


def test_check_security_middleware_warns_without_csrf(settings: Any) -> None:
    settings.MIDDLEWARE = [
        path for path in settings.MIDDLEWARE if path != "p2p_sandbox.middleware.CsrfViewMiddleware"
    ]

    assert [warning.id for warning in check_security_middleware()] == ["p2p_sandbox.security.W003"]
