"""Input PostgreSQL cannot hold (NUL, lone surrogates, pages past 64 bits) is refused where it
enters, as a 4xx with the error shape, and writes nothing."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts import services as account_services
from accounts.models import User
from forums.models import Post, Tag, Topic
from forums.tests.factories import TopicFactory, general_category
from messaging.models import Conversation, Message
from usecases.models import UseCase

pytestmark = pytest.mark.django_db

HUGE_PAGE = str(2**64)
NUL = "\x00"


def written_state(user: User) -> dict[str, Any]:
    user.refresh_from_db()
    return {
        "topics": Topic.objects.count(),
        "posts": Post.objects.count(),
        "tags": Tag.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "use_cases": UseCase.objects.count(),
        "job_title": user.job_title,
    }


@pytest.fixture
def caller(user_factory: Any) -> User:
    return user_factory(admin=True, job_title="Process engineer")


@pytest.fixture
def other(user_factory: Any) -> User:
    return user_factory()


@pytest.fixture
def bearer(caller: User) -> dict[str, str]:
    _, raw = account_services.create_api_token(actor=caller, name="fuzz")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def topic(caller: User) -> Topic:
    return TopicFactory(author=caller)


def send(client: Client, method: str, path: str, body: object, headers: dict) -> Any:
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(
        path, json.dumps(body), content_type="application/json", **headers
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/api/v1/forums/topics",
            {"title": f"Kiln{NUL} loop", "category": "general"},
            "title",
        ),
        (
            "post",
            "/api/v1/forums/topics",
            {"title": "Kiln loop tuning", "category": f"gen{NUL}"},
            "category",
        ),
        (
            "post",
            "/api/v1/forums/topics",
            {"title": "Kiln loop tuning", "category": "general", "tags": [f"pid{NUL}"]},
            "tags",
        ),
        ("post", "/api/v1/forums/topics/{topic}/posts", {"content": f"Try {NUL}"}, "content"),
        ("patch", "/api/v1/forums/topics/{topic}", {"title": f"Kiln{NUL} loop"}, "title"),
        ("post", "/api/v1/messages", {"receiverId": "{other}", "content": f"Hi{NUL}"}, "content"),
        ("post", "/api/v1/messages", {"receiverId": "{other}", "content": "Hi \ud800"}, "content"),
        (
            "post",
            "/api/v1/messages/conversations",
            {"title": f"Shift{NUL}", "participantIds": ["{other}"]},
            "title",
        ),
        ("patch", "/api/v1/users/me", {"jobTitle": f"Engineer{NUL}"}, "jobTitle"),
        ("patch", "/api/v1/users/me", {"jobTitle": "Engineer \udfff"}, "jobTitle"),
        ("get", "/api/v1/messages/search?q=valve%00", None, "q"),
        ("get", "/api/v1/users?search=sara%00", None, "search"),
        ("get", "/api/v1/users?expertise=%00", None, "expertise"),
        ("get", "/api/v1/users?organization=najd%00", None, "organization"),
        ("get", "/api/v1/forums/topics?tag=pid%00", None, "tag"),
        ("get", "/api/v1/forums/topics?category=gen%00eral", None, "category"),
        ("get", "/api/v1/use-cases?search=valve%00", None, "search"),
        ("get", "/api/v1/use-cases?page=1&x%00=1", None, "x\x00"),
    ],
)
def test_api_text_with_nul_or_lone_surrogate_answers_422_and_writes_nothing(
    client: Client,
    bearer: dict[str, str],
    caller: User,
    other: User,
    topic: Topic,
    method: str,
    path: str,
    body: dict | None,
    field: str,
) -> None:
    general_category()
    path = path.replace("{topic}", str(topic.pk))
    if body is not None:
        body = json.loads(json.dumps(body).replace('"{other}"', str(other.pk)))
    before = written_state(caller)

    response = send(client, method, path, body, bearer)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == field
    assert written_state(caller) == before


@pytest.mark.parametrize(
    "path",
    [
        "/forums/?tag=pid%00",
        "/forums/?filter=recent%00",
        "/forums/new/?category=general%00",
        "/use-cases/?search=valve%00",
        "/use-cases/?industry_tag=iot%00",
        "/accounts/people/?q=sara%00",
    ],
)
def test_page_query_with_nul_answers_400(client: Client, caller: User, path: str) -> None:
    client.force_login(caller)

    response = client.get(path)

    assert response.status_code == 400
    assert [template.name for template in response.templates][:1] == ["400.html"]


def test_page_form_post_with_nul_answers_400_and_writes_nothing(
    client: Client, caller: User
) -> None:
    client.force_login(caller)
    general_category()
    before = written_state(caller)

    response = client.post(
        "/forums/new/",
        urlencode({"title": f"Kiln{NUL} loop", "category": "general", "content": "Hi"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert written_state(caller) == before


def test_api_path_with_nul_answers_404(client: Client, bearer: dict[str, str]) -> None:
    response = client.get("/api/v1/auth/invitations/abc%00def", **bearer)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users",
        "/api/v1/organizations/members",
        "/api/v1/organizations/invitations",
        "/api/v1/messages/conversations",
        "/api/v1/messages/search?q=valve",
        "/api/v1/messages/blocks",
        "/api/v1/notifications",
        "/api/v1/forums/topics",
        "/api/v1/use-cases",
        "/api/v1/use-cases/mine",
        "/api/v1/use-cases/bookmarks",
        "/api/v1/use-cases/review-queue",
    ],
)
def test_list_page_past_64_bits_answers_422(
    client: Client, bearer: dict[str, str], caller: User, path: str
) -> None:
    separator = "&" if "?" in path else "?"
    before = written_state(caller)

    response = client.get(f"{path}{separator}page={HUGE_PAGE}", **bearer)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "page"
    assert written_state(caller) == before


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/users/{HUGE_PAGE}",
        f"/api/v1/forums/topics/{HUGE_PAGE}",
        f"/api/v1/forums/topics/{HUGE_PAGE}/posts?before={HUGE_PAGE}",
        f"/api/v1/messages/conversations/{HUGE_PAGE}",
        f"/api/v1/use-cases/{HUGE_PAGE}",
    ],
)
def test_ids_past_64_bits_answer_4xx(client: Client, bearer: dict[str, str], path: str) -> None:
    response = client.get(path, **bearer)

    assert response.status_code in (404, 422)
    assert set(response.json()) >= {"detail", "code"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/users/me", {"jobTitle": None}),
        ("/api/v1/users/me", {"expertiseTags": None}),
        ("/api/v1/users/me", {"language": None}),
        ("/api/v1/organizations/me", {"website": None}),
        ("/api/v1/organizations/me", {"name": None}),
    ],
)
def test_patch_with_null_for_a_required_field_answers_422_and_writes_nothing(
    client: Client, bearer: dict[str, str], caller: User, path: str, body: dict
) -> None:
    organization_before = caller.organization.website, caller.organization.name
    before = written_state(caller)

    response = send(client, "patch", path, body, bearer)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == next(iter(body))
    assert written_state(caller) == before
    caller.organization.refresh_from_db()
    assert (caller.organization.website, caller.organization.name) == organization_before
