import asyncio
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Organization, User
from messaging import events as messaging_events
from messaging.models import Notification, StreamEvent
from p2p_sandbox.models import OutboundEmail
from p2p_sandbox.testing import wait_until
from usecases import api as usecases_api
from usecases import services
from usecases.constants import CITIES, BudgetRange, Category
from usecases.media import add_media
from usecases.models import (
    Media,
    OutcomeMetric,
    UseCase,
    UseCaseBookmark,
    UseCaseLike,
    UseCaseRevision,
    UseCaseTag,
    UseCaseView,
)
from usecases.schemas import UseCaseOut
from usecases.tests.factories import add_metrics
from usecases.tests.test_media import noisy_png, pdf, png, png_bomb, renamed_html, stored_files

pytestmark = [pytest.mark.services, pytest.mark.django_db]

API = "/api/v1/use-cases"
NOT_AUTHENTICATED = {
    "detail": "Authentication credentials were not provided or are not valid.",
    "code": "not_authenticated",
}
NOT_FOUND = {
    "detail": "This use case does not exist or you cannot see it.",
    "code": "use_case_not_found",
}
COMPLETE = {
    "title": "Machine vision for bottle cap inspection",
    "category": "quality_control",
    "problem": "Manual inspection missed *loose caps*.",
    "technology": "Two smart cameras over the conveyor.",
    "budget_range": "50k_250k",
    "outcomes": "Returns fell by 60%.",
    "challenges": "Glare from the lamps.",
    "site_name": "Riyadh bottling plant",
    "city": "riyadh",
    "contact_name": "Khalid Al-Otaibi",
    "contact_title": "Quality Lead",
}
METRIC = {"metric": "Scrap rate", "unit": "%", "baseline": "8", "result": "2"}
Sent = list[tuple[int, dict[str, Any]]]


# People and content


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every (user id, event) sent to a personal stream from now on (after commit)."""
    deliveries: Sent = []
    monkeypatch.setattr(messaging_events, "send_to_users", deliveries.extend)
    return deliveries


@pytest.fixture
def jubail_valves(organization_factory: Any) -> Organization:
    return organization_factory(name="Jubail Valves", slug="jubail-valves")


@pytest.fixture
def author(user_factory: Any, jubail_valves: Organization) -> User:
    return user_factory(organization=jubail_valves, first_name="Sara", last_name="Haddad")


@pytest.fixture
def colleague(user_factory: Any, jubail_valves: Organization) -> User:
    """A member of the author's organization, not an admin."""
    return user_factory(organization=jubail_valves, first_name="Khalid", last_name="Otaibi")


@pytest.fixture
def org_admin(user_factory: Any, jubail_valves: Organization) -> User:
    """The admin of the author's organization."""
    return user_factory(
        organization=jubail_valves, admin=True, first_name="Huda", last_name="Nasser"
    )


@pytest.fixture
def outsider(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Najd Foods", slug="najd-foods")
    return user_factory(organization=organization, first_name="Omar", last_name="Khalil")


@pytest.fixture
def outsider_admin(user_factory: Any, outsider: User) -> User:
    """The admin of the outsider's organization."""
    return user_factory(organization=outsider.organization, admin=True)


@pytest.fixture
def moderator(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="P2P Sandbox", slug="p2p-sandbox")
    return user_factory(
        organization=organization, is_staff=True, first_name="Mona", last_name="Staff"
    )


@pytest.fixture
def published(use_case_factory: Any, author: User) -> UseCase:
    """The author's published, public use case."""
    return use_case_factory(author=author, title="Vibration monitoring on the press line")


@pytest.fixture
def internal(use_case_factory: Any, author: User) -> UseCase:
    """The author's published use case, for their organization only."""
    return use_case_factory(
        author=author, organization_only=True, title="Our own kiln scheduling secrets"
    )


@pytest.fixture
def draft(use_case_factory: Any, author: User) -> UseCase:
    """A complete draft of the author's."""
    return use_case_factory(author=author, draft=True, title="Drafting a compressor upgrade")


@pytest.fixture
def submitted(use_case_factory: Any, author: User) -> UseCase:
    return use_case_factory(author=author, submitted=True, title="Submitted: a solar carport")


def stored_media(author: User, use_case: UseCase, capture: Any) -> Media:
    with capture(execute=True):
        (created,) = add_media(actor=author, use_case=use_case, files=[pdf()])
    return created


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def iso(value: datetime | None) -> str | None:
    return None if value is None else DjangoJSONEncoder().default(value)


def brief(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "full_name": user.get_full_name(),
        "avatar_url": None,
        "organization_name": user.organization.name,
    }


def library_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row the use-case library and the notifications it makes hold."""
    models = (
        UseCase,
        UseCaseTag,
        OutcomeMetric,
        UseCaseView,
        UseCaseLike,
        UseCaseBookmark,
        UseCaseRevision,
        Media,
        Notification,
        StreamEvent,
        OutboundEmail,
    )
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def listed_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"]]


def call(api: Any, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    if method == "upload":
        return api.upload(path, body())
    return api.request(method, path, body)


# Every operation: anonymous and unverified callers


def upload_body() -> dict[str, Any]:
    return {"files": [png()]}


def all_actions(use_case: UseCase, media: Media) -> list[tuple[str, str, Any]]:
    """(method, path, body): every operation, with a body it would accept from an editor."""
    one = f"{API}/{use_case.pk}"
    return [
        ("get", API, None),
        ("post", API, {"title": "Solar panels on the warehouse roof"}),
        ("get", f"{API}/options", None),
        ("get", f"{API}/mine", None),
        ("get", f"{API}/bookmarks", None),
        ("get", f"{API}/review-queue", None),
        ("delete", f"{API}/media/{media.pk}", None),
        ("get", one, None),
        ("patch", one, {"title": "Another title for the use case"}),
        ("delete", one, None),
        ("put", f"{one}/metrics", {"metrics": [METRIC]}),
        ("post", f"{one}/submit", None),
        ("post", f"{one}/publish", None),
        ("post", f"{one}/reject", {"note": "Add the numbers."}),
        ("post", f"{one}/archive", None),
        ("post", f"{one}/feature", {"is_featured": True}),
        ("post", f"{one}/like", None),
        ("post", f"{one}/bookmark", None),
        ("upload", f"{one}/media", upload_body),
    ]


ACTION_COUNT = 19


def test_use_cases_api_table_names_every_operation_once(
    submitted: UseCase, author: User, django_capture_on_commit_callbacks: Any
) -> None:
    media = stored_media(author, submitted, django_capture_on_commit_callbacks)
    operations = {
        (method.lower(), path)
        for path, view in usecases_api.router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
    }
    templates = {
        (
            "post" if method == "upload" else method,
            path.removeprefix(API)
            .replace(f"/media/{media.pk}", "/media/{media_id}")
            .replace(f"/{submitted.pk}", "/{use_case_id}"),
        )
        for method, path, _ in all_actions(submitted, media)
    }

    assert len(all_actions(submitted, media)) == ACTION_COUNT
    assert templates == operations


@pytest.mark.parametrize("action", range(ACTION_COUNT))
def test_use_cases_api_anonymous_callers_get_401_and_change_nothing(
    api: Any,
    submitted: UseCase,
    author: User,
    media_root: Path,
    sent: Sent,
    django_capture_on_commit_callbacks: Any,
    action: int,
) -> None:
    media = stored_media(author, submitted, django_capture_on_commit_callbacks)
    method, path, body = all_actions(submitted, media)[action]
    before, files_before = library_rows(), stored_files(media_root)
    sent.clear()

    response = call(api, method, path, body)

    assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
    assert library_rows() == before
    assert stored_files(media_root) == files_before
    assert sent == []


@pytest.mark.parametrize("action", range(ACTION_COUNT))
def test_use_cases_api_unverified_callers_get_403_and_change_nothing(
    api: Any,
    client: Client,
    user_factory: Any,
    submitted: UseCase,
    author: User,
    media_root: Path,
    sent: Sent,
    django_capture_on_commit_callbacks: Any,
    action: int,
) -> None:
    media = stored_media(author, submitted, django_capture_on_commit_callbacks)
    method, path, body = all_actions(submitted, media)[action]
    signed_in(client, user_factory(organization=author.organization, unverified=True))
    before, files_before = library_rows(), stored_files(media_root)
    sent.clear()

    response = call(api, method, path, body)

    assert (response.status_code, response.json()["code"]) == (403, "email_not_verified")
    assert library_rows() == before
    assert stored_files(media_root) == files_before
    assert sent == []


def test_use_cases_api_with_a_bearer_token(client: Client, author: User) -> None:
    _, token = account_services.create_api_token(actor=author, name="ERP")

    response = client.post(
        API,
        {"title": "Sent from the ERP system"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    made_up = client.get(API, HTTP_AUTHORIZATION="Bearer p2p_made-up")

    assert response.status_code == 201
    assert response.json()["author"] == brief(author)
    assert list(UseCase.objects.values_list("author_id", "title")) == [
        (author.pk, "Sent from the ERP system")
    ]
    assert (made_up.status_code, made_up.json()) == (401, NOT_AUTHENTICATED)


def test_use_cases_api_session_without_csrf_token_is_refused(author: User, draft: UseCase) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(author)
    before = library_rows()

    response = browser.patch(
        f"{API}/{draft.pk}", {"title": "Changed without a token"}, content_type="application/json"
    )

    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert library_rows() == before


# Who may do what: refused calls


REFUSED = [
    # (caller, method, path, body, status, code)
    # Visible, but not the caller's to change: 403.
    ("colleague", "patch", "{published}", {"title": "A better title"}, 403, "not_use_case_editor"),
    ("outsider", "patch", "{published}", {"title": "A better title"}, 403, "not_use_case_editor"),
    ("outsider_admin", "patch", "{published}", {"vendor_name": "Acme"}, 403, "not_use_case_editor"),
    ("moderator", "patch", "{published}", {"vendor_name": "Acme"}, 403, "not_use_case_editor"),
    ("colleague", "delete", "{published}", None, 403, "not_use_case_editor"),
    ("outsider", "put", "{published}/metrics", {"metrics": [METRIC]}, 403, "not_use_case_editor"),
    ("colleague", "put", "{internal}/metrics", {"metrics": []}, 403, "not_use_case_editor"),
    ("colleague", "post", "{published}/submit", None, 403, "not_use_case_editor"),
    ("outsider", "post", "{published}/archive", None, 403, "not_use_case_editor"),
    ("colleague", "post", "{internal}/archive", None, 403, "not_use_case_editor"),
    ("colleague", "upload", "{published}/media", upload_body, 403, "not_use_case_editor"),
    ("outsider", "upload", "{published}/media", upload_body, 403, "not_use_case_editor"),
    ("outsider", "delete", "media/{published_media}", None, 403, "not_use_case_editor"),
    ("colleague", "delete", "media/{published_media}", None, 403, "not_use_case_editor"),
    # Staff only.
    ("author", "post", "{submitted}/publish", None, 403, "not_reviewer"),
    ("org_admin", "post", "{submitted}/publish", None, 403, "not_reviewer"),
    ("author", "post", "{submitted}/reject", {"note": "Not good enough."}, 403, "not_reviewer"),
    ("org_admin", "post", "{submitted}/reject", {"note": "Redo it."}, 403, "not_reviewer"),
    ("author", "post", "{published}/feature", {"is_featured": True}, 403, "not_reviewer"),
    ("org_admin", "post", "{published}/feature", {"is_featured": True}, 403, "not_reviewer"),
    ("author", "get", "review-queue", None, 403, "not_reviewer"),
    ("org_admin", "get", "review-queue", None, 403, "not_reviewer"),
    # Not visible to the caller: 404, as if it did not exist.
    ("outsider", "get", "{internal}", None, 404, "use_case_not_found"),
    ("outsider_admin", "get", "{internal}", None, 404, "use_case_not_found"),
    ("outsider", "get", "{draft}", None, 404, "use_case_not_found"),
    ("colleague", "get", "{draft}", None, 404, "use_case_not_found"),
    ("colleague", "get", "{submitted}", None, 404, "use_case_not_found"),
    ("outsider", "patch", "{internal}", {"vendor_name": "Acme"}, 404, "use_case_not_found"),
    ("outsider_admin", "patch", "{internal}", {"vendor_name": "Acme"}, 404, "use_case_not_found"),
    ("colleague", "patch", "{draft}", {"vendor_name": "Acme"}, 404, "use_case_not_found"),
    ("outsider", "delete", "{draft}", None, 404, "use_case_not_found"),
    ("colleague", "delete", "{draft}", None, 404, "use_case_not_found"),
    ("outsider", "put", "{draft}/metrics", {"metrics": [METRIC]}, 404, "use_case_not_found"),
    ("outsider", "post", "{draft}/submit", None, 404, "use_case_not_found"),
    ("colleague", "post", "{draft}/submit", None, 404, "use_case_not_found"),
    ("outsider", "post", "{internal}/archive", None, 404, "use_case_not_found"),
    ("outsider", "post", "{internal}/like", None, 404, "use_case_not_found"),
    ("outsider", "post", "{draft}/like", None, 404, "use_case_not_found"),
    ("outsider", "post", "{internal}/bookmark", None, 404, "use_case_not_found"),
    ("colleague", "post", "{draft}/bookmark", None, 404, "use_case_not_found"),
    ("outsider", "upload", "{draft}/media", upload_body, 404, "use_case_not_found"),
    ("outsider", "upload", "{internal}/media", upload_body, 404, "use_case_not_found"),
    ("colleague", "upload", "{draft}/media", upload_body, 404, "use_case_not_found"),
    ("outsider", "delete", "media/{draft_media}", None, 404, "media_not_found"),
    ("colleague", "delete", "media/{draft_media}", None, 404, "media_not_found"),
    ("author", "get", "999999", None, 404, "use_case_not_found"),
    ("author", "patch", "999999", {"vendor_name": "Acme"}, 404, "use_case_not_found"),
    ("author", "post", "999999/like", None, 404, "use_case_not_found"),
    ("author", "upload", "999999/media", upload_body, 404, "use_case_not_found"),
    ("author", "delete", "media/999999", None, 404, "media_not_found"),
    ("moderator", "post", "999999/publish", None, 404, "use_case_not_found"),
    # Not in a state that allows it: 409.
    ("author", "delete", "{published}", None, 409, "invalid_status"),
    ("author", "post", "{published}/submit", None, 409, "invalid_status"),
    ("author", "post", "{submitted}/submit", None, 409, "invalid_status"),
    ("moderator", "post", "{draft}/publish", None, 409, "invalid_status"),
    ("moderator", "post", "{published}/reject", {"note": "Too late."}, 409, "invalid_status"),
    ("author", "post", "{draft}/archive", None, 409, "invalid_status"),
    ("moderator", "post", "{submitted}/feature", {"is_featured": True}, 409, "not_published"),
    ("author", "post", "{draft}/like", None, 409, "not_published"),
    ("moderator", "post", "{submitted}/bookmark", None, 409, "not_published"),
]


@pytest.fixture
def targets(
    published: UseCase,
    internal: UseCase,
    draft: UseCase,
    submitted: UseCase,
    author: User,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, int]:
    return {
        "published": published.pk,
        "internal": internal.pk,
        "draft": draft.pk,
        "submitted": submitted.pk,
        "published_media": stored_media(author, published, django_capture_on_commit_callbacks).pk,
        "draft_media": stored_media(author, draft, django_capture_on_commit_callbacks).pk,
    }


@pytest.mark.parametrize(
    ("caller", "method", "path", "body", "status", "code"),
    REFUSED,
    ids=[f"{caller}-{method}-{path}" for caller, method, path, *_ in REFUSED],
)
def test_use_cases_api_refused_calls_answer_the_error_and_change_nothing(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    targets: dict[str, int],
    media_root: Path,
    sent: Sent,
    caller: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    signed_in(client, request.getfixturevalue(caller))
    before, files_before = library_rows(), stored_files(media_root)
    sent.clear()

    response = call(api, method, f"{API}/{path.format(**targets)}", body)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert library_rows() == before
    assert stored_files(media_root) == files_before
    assert sent == []


def test_use_cases_api_not_found_says_nothing_about_existence(
    api: Any, client: Client, outsider: User, internal: UseCase, draft: UseCase
) -> None:
    signed_in(client, outsider)

    answers = [api.get(f"{API}/{pk}").json() for pk in (internal.pk, draft.pk, 999999)]

    assert answers == [NOT_FOUND] * 3


# The library list


def test_list_use_cases_shows_the_published_use_cases_the_caller_may_see(
    api: Any,
    client: Client,
    use_case_factory: Any,
    published: UseCase,
    internal: UseCase,
    draft: UseCase,
    submitted: UseCase,
    author: User,
    colleague: User,
    outsider: User,
    moderator: User,
) -> None:
    use_case_factory(author=author, archived=True)
    use_case_factory(author=author, rejected=True)
    published.published_at = timezone.now() - timedelta(days=1)
    published.save(update_fields=["published_at"])
    theirs = use_case_factory(author=outsider, organization_only=True)
    seen = {}
    for person in (author, colleague, outsider, moderator):
        signed_in(client, person)
        seen[person.first_name] = listed_ids(api.get(API))

    assert seen == {
        "Sara": [internal.pk, published.pk],
        "Khalid": [internal.pk, published.pk],
        "Omar": [theirs.pk, published.pk],
        "Mona": [theirs.pk, internal.pk, published.pk],
    }


def test_list_use_cases_search_never_finds_another_organizations_internal_use_case(
    api: Any, client: Client, outsider: User, colleague: User, internal: UseCase
) -> None:
    found = {}
    for person in (outsider, colleague):
        signed_in(client, person)
        found[person.first_name] = listed_ids(api.get(API, {"search": "kiln scheduling"}))

    assert found == {"Omar": [], "Khalid": [internal.pk]}


def test_list_use_cases_item_shape(
    api: Any, client: Client, outsider: User, published: UseCase, author: User
) -> None:
    add_metrics(published, [("Unplanned stops", "8", "2", False)])
    UseCase.objects.filter(pk=published.pk).update(view_count=7, like_count=1, is_featured=True)
    UseCaseLike.objects.create(use_case=published, user=outsider)
    signed_in(client, outsider)

    response = api.get(API, {"facets": "false"})

    stored = UseCase.objects.get(pk=published.pk)
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": published.pk,
                "title": "Vibration monitoring on the press line",
                "slug": published.slug,
                "url": f"/use-cases/jubail-valves/{published.slug}/",
                "status": "published",
                "visibility": "public",
                "category": "predictive_maintenance",
                "category_label": "Predictive Maintenance",
                "organization": {
                    "id": author.organization_id,
                    "name": "Jubail Valves",
                    "slug": "jubail-valves",
                },
                "author": brief(author),
                "summary": "Unplanned downtime on the press line cost us two shifts a month.",
                "site_name": "Plant 2",
                "city": "jubail",
                "city_name": "Jubail",
                "latitude": "27.00460",
                "longitude": "49.64600",
                "budget_range": "50k_250k",
                "budget_range_label": "50k to 250k",
                "industry_tags": ["metal fabrication"],
                "technology_tags": ["iot", "vibration analysis"],
                "metric_count": 1,
                "best_improvement": "75.00",
                "view_count": 7,
                "like_count": 1,
                "bookmark_count": 0,
                "is_featured": True,
                "is_liked": True,
                "is_bookmarked": False,
                "published_at": iso(stored.published_at),
                "updated_at": iso(stored.updated_at),
            }
        ],
        "count": 1,
        "facets": None,
    }


@pytest.fixture
def library(
    use_case_factory: Any,
    organization_factory: Any,
    user_factory: Any,
    author: User,
) -> dict[str, UseCase]:
    """Three published use cases of two organizations, each first at a different sort, plus
    what the library never lists (a draft, an archived one)."""
    now = timezone.now()
    najd = user_factory(organization=organization_factory(name="Najd Foods", slug="najd-foods"))
    vision = use_case_factory(
        author=author,
        title="Machine vision for bottle cap inspection",
        category=Category.QUALITY_CONTROL,
        city="riyadh",
        budget_range=BudgetRange.UNDER_50K,
        industry_tags=["food and beverage"],
        technology_tags=["machine vision"],
        problem="Manual inspection missed loose caps on the bottling line.",
        published_at=now - timedelta(days=3),
        view_count=30,
        like_count=5,
    )
    vibration = use_case_factory(
        author=najd,
        title="Vibration sensors on the press line",
        published_at=now - timedelta(days=2),
        view_count=10,
        like_count=1,
    )
    solar = use_case_factory(
        author=najd,
        title="Solar carports over the staff parking",
        category=Category.ENERGY_EFFICIENCY,
        city="dammam",
        budget_range=BudgetRange.OVER_1M,
        industry_tags=["plastics"],
        technology_tags=["solar"],
        problem="Power bills doubled in two years.",
        published_at=now - timedelta(days=1),
        view_count=20,
        like_count=7,
    )
    add_metrics(vision, [("Defect rate", "100", "90", False)])  # 10% better
    add_metrics(vibration, [("Uptime", "50", "100")])  # 100% better
    use_case_factory(author=najd, draft=True, title="Vibration draft never listed")
    use_case_factory(author=najd, archived=True, title="Vibration archive never listed")
    return {"vision": vision, "vibration": vibration, "solar": solar}


def names(response: Any, library: dict[str, UseCase]) -> list[str]:
    by_id = {use_case.pk: name for name, use_case in library.items()}
    return [by_id[pk] for pk in listed_ids(response)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["solar", "vibration", "vision"]),
        ({"category": "quality_control"}, ["vision"]),
        ({"industry_tag": "  Metal   Fabrication "}, ["vibration"]),
        ({"technology_tag": "solar"}, ["solar"]),
        ({"city": "jubail"}, ["vibration"]),
        ({"budget_range": "over_1m"}, ["solar"]),
        ({"has_metrics": "true"}, ["vibration", "vision"]),
        ({"has_metrics": "false"}, ["solar"]),
        ({"organization": "najd-foods"}, ["solar", "vibration"]),
        ({"organization": "nobody"}, []),
        ({"category": "quality_control", "city": "dammam"}, []),
        (
            {"category": "", "city": "", "search": "  ", "has_metrics": "", "sort": ""},
            ["solar", "vibration", "vision"],
        ),
        ({"search": "bottle caps"}, ["vision"]),
        ({"search": "power bills"}, ["solar"]),
        ({"search": "line -press"}, ["vision"]),
        ({"search": "nothing like this"}, []),
        ({"search": '&|!():* "unclosed'}, []),
    ],
)
def test_list_use_cases_filters_and_search(
    api: Any,
    client: Client,
    outsider: User,
    library: dict[str, UseCase],
    query: dict[str, str],
    expected: list[str],
) -> None:
    signed_in(client, outsider)

    response = api.get(API, {**query, "facets": "false"})

    assert names(response, library) == expected
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["solar", "vibration", "vision"]),
        ("most_viewed", ["vision", "solar", "vibration"]),
        ("most_liked", ["solar", "vision", "vibration"]),
        ("biggest_improvement", ["vibration", "vision", "solar"]),
        ("relevance", ["solar", "vibration", "vision"]),
    ],
)
def test_list_use_cases_sorts(
    api: Any,
    client: Client,
    outsider: User,
    library: dict[str, UseCase],
    sort: str,
    expected: list[str],
) -> None:
    signed_in(client, outsider)

    assert names(api.get(API, {"sort": sort}), library) == expected


def test_list_use_cases_search_ranks_by_relevance_first(
    api: Any, client: Client, outsider: User, library: dict[str, UseCase], use_case_factory: Any
) -> None:
    older = use_case_factory(
        author=library["solar"].author,
        title="Solar panels, solar inverters and solar tracking",
        problem="Solar power for the solar-ready roof.",
        published_at=timezone.now() - timedelta(days=30),
    )
    library["older"] = older
    signed_in(client, outsider)

    searched = api.get(API, {"search": "solar"})
    newest = api.get(API, {"search": "solar", "sort": "newest"})

    assert names(searched, library) == ["older", "solar"]
    assert names(newest, library) == ["solar", "older"]


def test_list_use_cases_facets_count_each_filter_with_the_others(
    api: Any, client: Client, outsider: User, library: dict[str, UseCase]
) -> None:
    signed_in(client, outsider)

    response = api.get(API, {"city": "jubail"})

    assert response.status_code == 200
    assert names(response, library) == ["vibration"]
    assert response.json()["facets"] == {
        "category": [
            {"value": "predictive_maintenance", "label": "Predictive Maintenance", "count": 1}
        ],
        "industry_tag": [{"value": "metal fabrication", "label": "metal fabrication", "count": 1}],
        "technology_tag": [
            {"value": "iot", "label": "iot", "count": 1},
            {"value": "vibration analysis", "label": "vibration analysis", "count": 1},
        ],
        # The city facet ignores the city filter: every city stays choosable.
        "city": [
            {"value": "dammam", "label": "Dammam", "count": 1},
            {"value": "jubail", "label": "Jubail", "count": 1},
            {"value": "riyadh", "label": "Riyadh", "count": 1},
        ],
        "budget_range": [{"value": "50k_250k", "label": "50k to 250k", "count": 1}],
        "has_metrics": [
            {"value": True, "label": "With quantified outcomes", "count": 1},
            {"value": False, "label": "Without quantified outcomes", "count": 0},
        ],
        "organization": [{"value": "najd-foods", "label": "Najd Foods", "count": 1}],
    }


def test_list_use_cases_facets_only_count_what_the_caller_may_see(
    api: Any,
    client: Client,
    outsider: User,
    colleague: User,
    published: UseCase,
    internal: UseCase,
    draft: UseCase,
) -> None:
    counts = {}
    for person in (outsider, colleague):
        signed_in(client, person)
        facets = api.get(API).json()["facets"]
        counts[person.first_name] = (facets["organization"], facets["category"][0]["count"])

    assert counts == {
        "Omar": ([{"value": "jubail-valves", "label": "Jubail Valves", "count": 1}], 1),
        "Khalid": ([{"value": "jubail-valves", "label": "Jubail Valves", "count": 2}], 2),
    }


def test_list_use_cases_is_paginated(
    api: Any, client: Client, outsider: User, library: dict[str, UseCase]
) -> None:
    signed_in(client, outsider)

    first = api.get(API, {"page_size": 2, "facets": "false"})
    second = api.get(API, {"page_size": 2, "page": 2, "facets": "false"})
    beyond = api.get(API, {"page_size": 2, "page": 3, "facets": "false"})

    assert names(first, library) == ["solar", "vibration"]
    assert names(second, library) == ["vision"]
    assert (beyond.status_code, beyond.json()) == (200, {"items": [], "count": 3, "facets": None})
    assert first.json()["count"] == second.json()["count"] == 3


def test_list_use_cases_page_size_is_capped(
    api: Any, client: Client, author: User, settings: Any
) -> None:
    now = timezone.now()
    UseCase.objects.bulk_create(
        UseCase(
            organization=author.organization,
            author=author,
            title=f"Use case number {n}",
            slug=f"use-case-{n}",
            status=UseCase.Status.PUBLISHED,
            published_at=now,
        )
        for n in range(settings.NINJA_MAX_PER_PAGE_SIZE + 1)
    )
    signed_in(client, author)

    capped = api.get(API, {"page_size": 500, "facets": "false"}).json()
    default = api.get(API, {"facets": "false"}).json()

    assert (len(capped["items"]), capped["count"]) == (100, 101)
    assert (len(default["items"]), default["count"]) == (20, 101)


@pytest.mark.parametrize(
    "query",
    [
        {"category": "astrology"},
        {"city": "atlantis"},
        {"budget_range": "priceless"},
        {"sort": "best"},
        {"has_metrics": "maybe"},
        {"facets": "perhaps"},
        {"page": "0"},
        {"page": "x"},
        {"page": "10001"},
        {"page_size": "0"},
        {"search": "x" * 201},
        {"search": "vibration\x00"},
        {"industry_tag": "iot\x00"},
        {"technology_tag": "x" * 41},
        {"organization": "najd\x00foods"},
    ],
)
def test_list_use_cases_bad_query_answers_422(
    api: Any, client: Client, outsider: User, published: UseCase, query: dict[str, str]
) -> None:
    signed_in(client, outsider)

    response = api.get(API, query)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert response.json()["errors"][0]["field"] == next(iter(query))


def test_list_use_cases_queries_do_not_grow_with_the_page(
    api: Any, client: Client, outsider: User, use_case_factory: Any, author: User
) -> None:
    signed_in(client, outsider)
    use_case_factory(author=author)
    with CaptureQueriesContext(connection) as one:
        api.get(API)
    for use_case in use_case_factory.create_batch(4, author=author):
        add_metrics(use_case, [("Uptime", "90", "99")])
        UseCaseLike.objects.create(use_case=use_case, user=outsider)

    with CaptureQueriesContext(connection) as five:
        response = api.get(API)

    assert response.json()["count"] == 5
    assert len(five.captured_queries) == len(one.captured_queries)


# Options


def test_list_options_answers_the_fixed_lists(api: Any, client: Client, outsider: User) -> None:
    signed_in(client, outsider)

    response = api.get(f"{API}/options")

    body = response.json()
    assert response.status_code == 200
    assert body["categories"][:2] == [
        {"key": "quality_control", "name": "Quality Control"},
        {"key": "predictive_maintenance", "name": "Predictive Maintenance"},
    ]
    assert [option["key"] for option in body["categories"]] == list(Category.values)
    assert [option["key"] for option in body["budget_ranges"]] == list(BudgetRange.values)
    assert body["budget_ranges"][0] == {"key": "under_50k", "name": "Under 50k"}
    assert len(body["cities"]) == len(CITIES)
    assert body["cities"][0] == {"key": "riyadh", "name": "Riyadh", "lat": 24.7136, "lon": 46.6753}


# Creating


def test_create_use_case_with_an_empty_body_makes_an_empty_draft(
    api: Any, client: Client, author: User
) -> None:
    signed_in(client, author)

    empty_object = api.post(API, {})
    no_body = client.post(API, content_type="application/json")

    assert (empty_object.status_code, no_body.status_code) == (201, 201)
    first = empty_object.json()
    assert (first["status"], first["title"], first["slug"], first["wizard_step"]) == (
        "draft",
        "",
        "use-case",
        1,
    )
    assert (first["organization"]["slug"], first["author"]) == ("jubail-valves", brief(author))
    assert (first["metrics"], first["media"], first["budget_currency"]) == ([], [], "SAR")
    assert no_body.json()["slug"] == "use-case-2"
    assert UseCase.objects.filter(author=author, status="draft").count() == 2


def test_create_use_case_accepts_camel_and_snake_case_and_answers_the_use_case(
    api: Any, client: Client, author: User, sent: Sent
) -> None:
    signed_in(client, author)

    response = api.post(
        API,
        {
            "title": "  Solar panels on the warehouse roof ",
            "problem": "Power bills **doubled**.",
            "siteName": "Warehouse 4",
            "contact_name": "Sara Haddad",
            "industryTags": ["  Food  and Beverage ", "food and beverage"],
            "technology_tags": ["Solar"],
            "budgetAmount": "125000.50",
            "city": "jeddah",
            "visibility": "organization",
            "wizardStep": 2,
        },
    )

    assert response.status_code == 201
    body = response.json()
    stored = UseCase.objects.get()
    assert body["id"] == stored.pk
    assert (stored.title, stored.slug, stored.site_name, stored.contact_name) == (
        "Solar panels on the warehouse roof",
        "solar-panels-on-the-warehouse-roof",
        "Warehouse 4",
        "Sara Haddad",
    )
    assert (stored.industry_tags, stored.technology_tags) == (["food and beverage"], ["solar"])
    assert (body["problem_html"], body["summary"]) == (
        "<p>Power bills <strong>doubled</strong>.</p>",
        "Power bills doubled.",
    )
    assert (body["budget_amount"], body["latitude"], body["longitude"]) == (
        "125000.50",
        "21.48580",
        "39.19250",
    )
    assert (body["city_name"], body["visibility"], body["wizard_step"]) == (
        "Jeddah",
        "organization",
        2,
    )
    assert (body["is_liked"], body["view_count"], body["published_at"]) == (False, 0, None)
    assert sorted(UseCaseTag.objects.values_list("kind", "name")) == [
        ("industry", "food and beverage"),
        ("technology", "solar"),
    ]
    assert sent == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x" * 101}, "title"),
        ({"title": "A title with a \x00 inside"}, "title"),
        ({"category": "astrology"}, "category"),
        ({"city": "atlantis"}, "city"),
        ({"city": "riyadh", "latitude": 10, "longitude": 10}, "city"),
        ({"latitude": 24.5}, "latitude"),
        ({"latitude": 91, "longitude": 40}, "latitude"),
        ({"industryTags": [f"tag {n}" for n in range(11)]}, "industryTags"),
        ({"technology_tags": "iot"}, "technology_tags"),
        ({"vendor_website": "javascript:alert(1)"}, "vendor_website"),
        ({"budget_currency": "RIYAL"}, "budget_currency"),
        ({"visibility": "everyone"}, "visibility"),
        ({"wizard_step": 4}, "wizard_step"),
        ({"problem": "x" * 5001}, "problem"),
        ({"status": "published"}, "status"),
        ({"is_featured": True}, "is_featured"),
    ],
)
def test_create_use_case_invalid_input_answers_422_and_stores_nothing(
    api: Any, client: Client, author: User, body: dict[str, Any], field: str
) -> None:
    signed_in(client, author)

    response = api.post(API, body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert response.json()["errors"][0]["field"] == field
    assert UseCase.objects.count() == 0
    assert UseCaseTag.objects.count() == 0


def test_create_use_case_not_json_answers_400(api: Any, client: Client, author: User) -> None:
    signed_in(client, author)

    response = client.post(API, "{not json", content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (400, "bad_request")
    assert UseCase.objects.count() == 0


def test_create_use_case_without_an_organization_answers_403(
    api: Any, client: Client, user_factory: Any
) -> None:
    signed_in(client, user_factory(organization=None, email="loner@example.com"))

    response = api.post(API, {"title": "A title long enough"})

    assert (response.status_code, response.json()["code"]) == (403, "no_organization")
    assert UseCase.objects.count() == 0


# One use case


def test_get_use_case_answers_the_whole_use_case(
    api: Any,
    client: Client,
    outsider: User,
    published: UseCase,
    author: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    add_metrics(published, [("Unplanned stops", "8", "2", False), ("Uptime", "0", "90")])
    document = stored_media(author, published, django_capture_on_commit_callbacks)
    UseCaseBookmark.objects.create(use_case=published, user=outsider)
    signed_in(client, outsider)

    response = api.get(f"{API}/{published.pk}")

    body = response.json()
    stored = UseCase.objects.get(pk=published.pk)
    metrics = list(OutcomeMetric.objects.filter(use_case=published))
    assert response.status_code == 200
    assert set(body) == set(UseCaseOut.model_fields)
    assert (body["id"], body["title"], body["status"]) == (
        published.pk,
        "Vibration monitoring on the press line",
        "published",
    )
    assert (body["is_bookmarked"], body["is_liked"], body["view_count"]) == (True, False, 1)
    assert (body["problem"], body["problem_html"]) == (
        "Unplanned **downtime** on the press line cost us two shifts a month.",
        "<p>Unplanned <strong>downtime</strong> on the press line cost us two shifts a month.</p>",
    )
    assert (body["contact_name"], body["contact_title"], body["review_note"]) == (
        "Omar Haddad",
        "Maintenance Engineer",
        "",
    )
    assert (body["metric_count"], body["best_improvement"]) == (2, "75.00")
    assert body["metrics"] == [
        {
            "id": metrics[0].pk,
            "metric": "Unplanned stops",
            "unit": "%",
            "baseline": "8.0000",
            "result": "2.0000",
            "period": "6 months",
            "higher_is_better": False,
            "position": 0,
            "improvement": "75.00",
        },
        {
            "id": metrics[1].pk,
            "metric": "Uptime",
            "unit": "%",
            "baseline": "0.0000",
            "result": "90.0000",
            "period": "6 months",
            "higher_is_better": True,
            "position": 1,
            "improvement": None,
        },
    ]
    assert body["media"] == [
        {
            "id": document.pk,
            "kind": "pdf",
            "status": "ready",
            "content_type": "application/pdf",
            "original_name": "datasheet.pdf",
            "size_bytes": len(pdf().read()),
            "width": None,
            "height": None,
            "caption": "",
            "position": 0,
            "failure_reason": "",
            "created_at": iso(document.created_at),
            "url": f"/use-cases/media/{document.pk}/original/",
            "large_url": None,
            "small_url": None,
        }
    ]
    assert (body["created_at"], body["submitted_at"]) == (
        iso(stored.created_at),
        iso(stored.submitted_at),
    )


def test_get_use_case_counts_each_users_first_view_only(
    api: Any,
    client: Client,
    outsider: User,
    colleague: User,
    author: User,
    published: UseCase,
) -> None:
    counts = []
    for person in (outsider, outsider, colleague, author, author):
        signed_in(client, person)
        counts.append(api.get(f"{API}/{published.pk}").json()["view_count"])

    assert counts == [1, 1, 2, 2, 2]
    assert sorted(UseCaseView.objects.values_list("user_id", flat=True)) == sorted(
        [outsider.pk, colleague.pk]
    )


@pytest.mark.parametrize(
    ("caller", "target"),
    [
        ("colleague", "internal"),
        ("author", "draft"),
        ("org_admin", "draft"),
        ("moderator", "draft"),
        ("moderator", "internal"),
        ("author", "submitted"),
    ],
)
def test_get_use_case_by_those_who_may_see_it(
    request: pytest.FixtureRequest, api: Any, client: Client, caller: str, target: str
) -> None:
    use_case = request.getfixturevalue(target)
    signed_in(client, request.getfixturevalue(caller))

    response = api.get(f"{API}/{use_case.pk}")

    assert (response.status_code, response.json()["id"]) == (200, use_case.pk)
    # Only published use cases count views.
    assert UseCaseView.objects.count() == (1 if use_case.status == "published" else 0)


@pytest.mark.parametrize("caller", ["author", "org_admin"])
def test_update_use_case_changes_only_the_fields_given(
    request: pytest.FixtureRequest, api: Any, client: Client, draft: UseCase, caller: str
) -> None:
    UseCase.objects.filter(pk=draft.pk).update(
        vendor_name="Acme Sensors", slug="drafting-a-compressor-upgrade"
    )
    before = UseCase.objects.values().get(pk=draft.pk)
    signed_in(client, request.getfixturevalue(caller))

    response = api.patch(
        f"{API}/{draft.pk}",
        {"outcomes": "Stops fell **by half**.", "vendorName": None, "technologyTags": ["PLC"]},
    )

    after = UseCase.objects.values().get(pk=draft.pk)
    changed = {name for name in after if after[name] != before[name]}
    assert response.status_code == 200
    assert changed == {
        "outcomes",
        "outcomes_html",
        "vendor_name",
        "technology_tags",
        "search_document",
        "search_vector",
        "updated_at",
    }
    assert (after["outcomes"], after["vendor_name"], after["technology_tags"]) == (
        "Stops fell **by half**.",
        "",
        ["plc"],
    )
    assert response.json()["outcomes_html"] == "<p>Stops fell <strong>by half</strong>.</p>"
    assert sorted(UseCaseTag.objects.filter(use_case=draft).values_list("kind", "name")) == [
        ("industry", "metal fabrication"),
        ("technology", "plc"),
    ]
    assert UseCaseRevision.objects.count() == 0


def test_update_use_case_published_keeps_a_revision(
    api: Any, client: Client, author: User, published: UseCase
) -> None:
    signed_in(client, author)

    response = api.patch(f"{API}/{published.pk}", {"challenges": "Alarm tuning took weeks."})

    revision = UseCaseRevision.objects.get()
    assert (response.status_code, response.json()["status"]) == (200, "published")
    assert response.json()["challenges"] == "Alarm tuning took weeks."
    assert (revision.editor, revision.changed_fields, revision.previous_values) == (
        author,
        ["challenges"],
        {"challenges": "Tuning the alarm thresholds took six weeks."},
    )


def test_update_use_case_published_must_stay_complete(
    api: Any, client: Client, author: User, published: UseCase
) -> None:
    signed_in(client, author)
    before = library_rows()

    response = api.patch(f"{API}/{published.pk}", {"site_name": None, "contactName": ""})

    assert (response.status_code, response.json()) == (
        422,
        {
            "detail": "Complete these fields first: site_name, contact_name.",
            "code": "incomplete",
            "missing_fields": ["site_name", "contact_name"],
            "errors": [
                {"field": "site_name", "message": "This field is required."},
                {"field": "contact_name", "message": "This field is required."},
            ],
        },
    )
    assert library_rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Too short"}, "title"),
        ({"city": "atlantis"}, "city"),
        ({"longitude": 50}, "latitude"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_update_use_case_invalid_input_answers_422_and_changes_nothing(
    api: Any, client: Client, author: User, draft: UseCase, body: dict[str, Any], field: str
) -> None:
    signed_in(client, author)
    before = library_rows()

    response = api.patch(f"{API}/{draft.pk}", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert response.json()["errors"][0]["field"] == field
    assert library_rows() == before


def test_update_use_case_archived_answers_409(
    api: Any, client: Client, author: User, use_case_factory: Any
) -> None:
    archived = use_case_factory(author=author, archived=True)
    signed_in(client, author)
    before = library_rows()

    response = api.patch(f"{API}/{archived.pk}", {"vendor_name": "Acme"})

    assert (response.status_code, response.json()["code"]) == (409, "invalid_status")
    assert library_rows() == before


@pytest.mark.parametrize(("caller", "status"), [("author", "draft"), ("org_admin", "rejected")])
def test_delete_use_case_by_its_editors_answers_204_and_removes_its_media(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    author: User,
    use_case_factory: Any,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
    caller: str,
    status: str,
) -> None:
    doomed = use_case_factory(author=author, **{status: True})
    stored_media(author, doomed, django_capture_on_commit_callbacks)
    kept = use_case_factory(author=author, draft=True)
    signed_in(client, request.getfixturevalue(caller))

    response = api.delete(f"{API}/{doomed.pk}")
    again = api.delete(f"{API}/{doomed.pk}")

    assert (response.status_code, response.content) == (204, b"")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    assert list(UseCase.objects.values_list("pk", flat=True)) == [kept.pk]
    assert (Media.objects.count(), stored_files(media_root)) == (0, [])


# Metrics


def test_set_metrics_replaces_the_outcomes_in_order(
    api: Any, client: Client, author: User, draft: UseCase
) -> None:
    add_metrics(draft, [("Old metric", "1", "2")])
    signed_in(client, author)

    response = api.request(
        "put",
        f"{API}/{draft.pk}/metrics",
        {
            "metrics": [
                {
                    "metric": "Scrap rate",
                    "unit": "%",
                    "baseline": "8",
                    "result": "2",
                    "higherIsBetter": False,
                    "period": "6 months",
                },
                {"metric": "Output", "baseline": 100, "result": 130},
            ]
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert [
        (m["metric"], m["baseline"], m["result"], m["higher_is_better"], m["improvement"])
        for m in body["metrics"]
    ] == [
        ("Scrap rate", "8.0000", "2.0000", False, "75.00"),
        ("Output", "100.0000", "130.0000", True, "30.00"),
    ]
    assert (body["metric_count"], body["best_improvement"]) == (2, "75.00")
    assert list(OutcomeMetric.objects.values_list("metric", "position")) == [
        ("Scrap rate", 0),
        ("Output", 1),
    ]


def test_set_metrics_empty_list_removes_them_and_published_keeps_a_revision(
    api: Any, client: Client, org_admin: User, published: UseCase
) -> None:
    add_metrics(published, [("Uptime", "90", "99")])
    signed_in(client, org_admin)

    response = api.request("put", f"{API}/{published.pk}/metrics", {"metrics": []})

    assert response.status_code == 200
    assert (response.json()["metrics"], response.json()["metric_count"]) == ([], 0)
    assert response.json()["best_improvement"] is None
    assert OutcomeMetric.objects.count() == 0
    assert UseCaseRevision.objects.get().changed_fields == ["metrics"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metrics": [{"metric": "Uptime", "baseline": "90"}]},
        {"metrics": [{"metric": "", "baseline": "1", "result": "2"}]},
        {"metrics": [{"metric": "Uptime", "baseline": "x", "result": "2"}]},
        {"metrics": [{**METRIC, "trend": "up"}]},
        {"metrics": [METRIC] * 21},
        {"metrics": [{**METRIC, "baseline": "1" * 13}]},
    ],
)
def test_set_metrics_invalid_input_answers_422_and_changes_nothing(
    api: Any, client: Client, author: User, draft: UseCase, body: dict[str, Any]
) -> None:
    add_metrics(draft, [("Uptime", "90", "99")])
    signed_in(client, author)
    before = library_rows()

    response = api.request("put", f"{API}/{draft.pk}/metrics", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert library_rows() == before


# Review


def test_submit_use_case_complete_draft_goes_to_the_review_queue(
    api: Any, client: Client, author: User, moderator: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = api.post(f"{API}/{draft.pk}/submit")
    signed_in(client, moderator)
    queue = api.get(f"{API}/review-queue")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["wizard_step"]) == ("submitted", 3)
    assert response.json()["submitted_at"] is not None
    assert UseCase.objects.get(pk=draft.pk).status == "submitted"
    assert listed_ids(queue) == [draft.pk]


def test_submit_use_case_incomplete_answers_422_with_the_missing_fields(
    api: Any, client: Client, author: User
) -> None:
    use_case = services.create_use_case(
        actor=author, fields={k: v for k, v in COMPLETE.items() if k not in {"problem", "city"}}
    )
    signed_in(client, author)
    before = library_rows()

    response = api.post(f"{API}/{use_case.pk}/submit")

    assert (response.status_code, response.json()) == (
        422,
        {
            "detail": "Complete these fields first: problem, city.",
            "code": "incomplete",
            "missing_fields": ["problem", "city"],
            "errors": [
                {"field": "problem", "message": "This field is required."},
                {"field": "city", "message": "This field is required."},
            ],
        },
    )
    assert library_rows() == before


def test_submit_use_case_rejected_and_reworked_by_the_org_admin(
    api: Any, client: Client, org_admin: User, author: User, use_case_factory: Any
) -> None:
    rejected = use_case_factory(author=author, rejected=True)
    signed_in(client, org_admin)

    response = api.post(f"{API}/{rejected.pk}/submit")

    assert (response.status_code, response.json()["status"]) == (200, "submitted")


def test_publish_use_case_by_staff_publishes_and_notifies_the_author(
    api: Any, client: Client, moderator: User, author: User, submitted: UseCase, sent: Sent
) -> None:
    signed_in(client, moderator)

    response = api.post(f"{API}/{submitted.pk}/publish")

    notification = Notification.objects.get()
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["review_note"]) == ("published", "")
    assert response.json()["published_at"] is not None
    assert (notification.recipient, notification.type, notification.actor) == (
        author,
        "use_case_published",
        moderator,
    )
    assert [(user_id, event["type"]) for user_id, event in sent] == [
        (author.pk, "notification"),
        (author.pk, "unread_counts"),
    ]
    assert sent[0][1]["notification"]["id"] == notification.pk
    signed_in(client, author)
    assert submitted.pk in listed_ids(api.get(API))


def test_reject_use_case_by_staff_keeps_the_note_and_notifies_the_author(
    api: Any, client: Client, moderator: User, author: User, submitted: UseCase, sent: Sent
) -> None:
    signed_in(client, moderator)

    response = api.post(f"{API}/{submitted.pk}/reject", {"note": "  Add the payback period. "})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["review_note"]) == (
        "rejected",
        "Add the payback period.",
    )
    assert response.json()["reviewed_at"] is not None
    notification = Notification.objects.get()
    assert (notification.recipient, notification.type) == (author, "use_case_rejected")
    assert [user_id for user_id, _ in sent] == [author.pk, author.pk]


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "   "}, {"note": "x" * 1001}])
def test_reject_use_case_without_a_note_answers_422_and_changes_nothing(
    api: Any, client: Client, moderator: User, submitted: UseCase, sent: Sent, body: Any
) -> None:
    signed_in(client, moderator)
    before = library_rows()

    response = api.post(f"{API}/{submitted.pk}/reject", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert library_rows() == before
    assert sent == []


@pytest.mark.parametrize("caller", ["author", "org_admin", "moderator"])
def test_archive_use_case_takes_it_out_of_the_library(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    outsider: User,
    published: UseCase,
    caller: str,
) -> None:
    UseCase.objects.filter(pk=published.pk).update(is_featured=True)
    signed_in(client, request.getfixturevalue(caller))

    response = api.post(f"{API}/{published.pk}/archive")
    signed_in(client, outsider)
    listed = api.get(API)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["is_featured"]) == ("archived", False)
    assert listed_ids(listed) == []


def test_feature_use_case_by_staff_sets_and_clears_the_flag(
    api: Any, client: Client, moderator: User, published: UseCase
) -> None:
    signed_in(client, moderator)

    featured = api.post(f"{API}/{published.pk}/feature", {"isFeatured": True})
    cleared = api.post(f"{API}/{published.pk}/feature", {"is_featured": False})
    missing = api.post(f"{API}/{published.pk}/feature", {})

    assert (featured.status_code, featured.json()["is_featured"]) == (200, True)
    assert (cleared.status_code, cleared.json()["is_featured"]) == (200, False)
    assert (missing.status_code, missing.json()["code"]) == (422, "validation_error")
    assert UseCase.objects.get(pk=published.pk).is_featured is False


def test_review_queue_lists_submitted_use_cases_longest_waiting_first(
    api: Any,
    client: Client,
    moderator: User,
    use_case_factory: Any,
    author: User,
    published: UseCase,
    draft: UseCase,
) -> None:
    now = timezone.now()
    newer = use_case_factory(author=author, submitted=True, submitted_at=now)
    older = use_case_factory(
        author=author, submitted=True, submitted_at=now - timedelta(days=2), organization_only=True
    )
    signed_in(client, moderator)

    response = api.get(f"{API}/review-queue")

    assert listed_ids(response) == [older.pk, newer.pk]
    assert response.json()["count"] == 2


# Reactions


def test_like_use_case_toggles_and_sets_the_callers_like(
    api: Any, client: Client, outsider: User, colleague: User, published: UseCase
) -> None:
    signed_in(client, colleague)
    api.post(f"{API}/{published.pk}/like")
    signed_in(client, outsider)

    answers = [
        api.post(f"{API}/{published.pk}/like").json(),
        api.post(f"{API}/{published.pk}/like").json(),
        api.post(f"{API}/{published.pk}/like", {"liked": True}).json(),
        api.post(f"{API}/{published.pk}/like", {"liked": True}).json(),
        api.post(f"{API}/{published.pk}/like", {"liked": False}).json(),
        api.post(f"{API}/{published.pk}/like", {"liked": False}).json(),
        api.post(f"{API}/{published.pk}/like", {"liked": None}).json(),
    ]

    assert answers == [
        {"liked": True, "like_count": 2},
        {"liked": False, "like_count": 1},
        {"liked": True, "like_count": 2},
        {"liked": True, "like_count": 2},
        {"liked": False, "like_count": 1},
        {"liked": False, "like_count": 1},
        {"liked": True, "like_count": 2},
    ]
    assert UseCaseLike.objects.filter(use_case=published).count() == 2
    assert api.get(f"{API}/{published.pk}").json()["is_liked"] is True


def test_like_use_case_bad_body_answers_422(
    api: Any, client: Client, outsider: User, published: UseCase
) -> None:
    signed_in(client, outsider)

    wrong = api.post(f"{API}/{published.pk}/like", {"liked": "very"})
    unknown = api.post(f"{API}/{published.pk}/like", {"loved": True})

    assert (wrong.status_code, wrong.json()["code"]) == (422, "validation_error")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "validation_error")
    assert UseCaseLike.objects.count() == 0


def test_bookmark_use_case_toggles_and_feeds_the_bookmarks_list(
    api: Any,
    client: Client,
    colleague: User,
    published: UseCase,
    internal: UseCase,
    use_case_factory: Any,
) -> None:
    also = use_case_factory(author=published.author)
    signed_in(client, colleague)

    first = api.post(f"{API}/{internal.pk}/bookmark")
    second = api.post(f"{API}/{published.pk}/bookmark", {"bookmarked": True})
    third = api.post(f"{API}/{also.pk}/bookmark")
    removed = api.post(f"{API}/{also.pk}/bookmark")
    bookmarks = api.get(f"{API}/bookmarks")

    assert [r.json() for r in (first, second, third, removed)] == [
        {"bookmarked": True, "bookmark_count": 1},
        {"bookmarked": True, "bookmark_count": 1},
        {"bookmarked": True, "bookmark_count": 1},
        {"bookmarked": False, "bookmark_count": 0},
    ]
    assert listed_ids(bookmarks) == [published.pk, internal.pk]
    assert [item["is_bookmarked"] for item in bookmarks.json()["items"]] == [True, True]


def test_bookmarks_list_leaves_out_what_the_caller_can_no_longer_see(
    api: Any, client: Client, outsider: User, published: UseCase, author: User
) -> None:
    UseCaseBookmark.objects.create(use_case=published, user=outsider)
    signed_in(client, author)
    api.post(f"{API}/{published.pk}/archive")
    signed_in(client, outsider)

    response = api.get(f"{API}/bookmarks")

    assert response.json() == {"items": [], "count": 0}


# The caller's own use cases


def test_list_my_use_cases_every_status_last_changed_first(
    api: Any,
    client: Client,
    author: User,
    colleague: User,
    use_case_factory: Any,
) -> None:
    now = timezone.now()
    mine = [
        use_case_factory(author=author, updated_at=now - timedelta(hours=hours), **trait)
        for hours, trait in (
            (5, {}),
            (4, {"draft": True}),
            (3, {"submitted": True}),
            (2, {"rejected": True}),
            (1, {"archived": True}),
        )
    ]
    use_case_factory(author=colleague, draft=True)
    signed_in(client, author)

    everything = api.get(f"{API}/mine")
    drafts = api.get(f"{API}/mine", {"status": "draft"})
    paged = api.get(f"{API}/mine", {"page_size": 2, "page": 2})
    wrong = api.get(f"{API}/mine", {"status": "deleted"})
    blank = api.get(f"{API}/mine", {"status": ""})

    assert listed_ids(everything) == [use_case.pk for use_case in reversed(mine)]
    assert [item["status"] for item in everything.json()["items"]] == [
        "archived",
        "rejected",
        "submitted",
        "draft",
        "published",
    ]
    assert (listed_ids(drafts), drafts.json()["count"]) == ([mine[1].pk], 1)
    assert (listed_ids(paged), paged.json()["count"]) == ([mine[2].pk, mine[1].pk], 5)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "validation_error")
    assert listed_ids(blank) == listed_ids(everything)


# Media


def test_add_media_files_field_stores_each_file_and_processes_it(
    api: Any,
    client: Client,
    author: User,
    draft: UseCase,
    media_root: Path,
    sent: Sent,
) -> None:
    signed_in(client, author)

    response = api.upload(f"{API}/{draft.pk}/media", {"files": [png(), pdf()]})

    stored = list(Media.objects.filter(use_case=draft))
    assert response.status_code == 201
    assert [(m["id"], m["kind"], m["original_name"], m["position"]) for m in response.json()] == [
        (stored[0].pk, "image", "line.png", 0),
        (stored[1].pk, "pdf", "datasheet.pdf", 1),
    ]
    assert [m.status for m in stored] == ["ready", "ready"]
    assert len(stored_files(media_root)) == 4  # the image, its two thumbnails and the PDF
    assert [(user_id, event["type"], event["media_id"]) for user_id, event in sent] == [
        (author.pk, "media_ready", stored[0].pk),
        (author.pk, "media_ready", stored[1].pk),
    ]
    detail = api.get(f"{API}/{draft.pk}").json()["media"]
    assert [(m["status"], m["width"], m["small_url"]) for m in detail] == [
        ("ready", 640, f"/use-cases/media/{stored[0].pk}/small/"),
        ("ready", None, None),
    ]


def test_add_media_single_file_field_by_an_admin_of_the_organization(
    api: Any, client: Client, org_admin: User, published: UseCase
) -> None:
    signed_in(client, org_admin)

    response = api.upload(f"{API}/{published.pk}/media", {"file": pdf()})

    media = Media.objects.get()
    assert response.status_code == 201
    assert [m["id"] for m in response.json()] == [media.pk]
    assert (media.use_case_id, media.uploaded_by_id, media.kind) == (
        published.pk,
        org_admin.pk,
        "pdf",
    )


def test_add_media_after_the_ones_already_there(
    api: Any, client: Client, author: User, draft: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    stored_media(author, draft, django_capture_on_commit_callbacks)
    signed_in(client, author)

    response = api.upload(f"{API}/{draft.pk}/media", {"files": [pdf()], "file": pdf()})

    assert response.status_code == 201
    assert [m["position"] for m in response.json()] == [1, 2]
    assert Media.objects.count() == 3


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        (lambda: {"files": [png(), renamed_html()]}, 415, "unsupported_media_type"),
        (lambda: {"file": renamed_html()}, 415, "unsupported_media_type"),
        (lambda: {"files": [noisy_png(1400)]}, 413, "file_too_large"),
        (lambda: {"files": [png_bomb()]}, 400, "invalid_image"),
        (lambda: {"files": [pdf() for _ in range(11)]}, 409, "too_many_media"),
        (lambda: {"files": [pdf() for _ in range(10)], "file": pdf()}, 409, "too_many_media"),
        (lambda: {}, 400, "no_files"),
        (lambda: {"caption": "no file here"}, 400, "no_files"),
        (
            lambda: {"files": [SimpleUploadedFile("empty.png", b"", "image/png")]},
            415,
            "unsupported_media_type",
        ),
    ],
    ids=[
        "renamed-html",
        "renamed-html-single",
        "oversized-image",
        "png-bomb",
        "eleven-files",
        "ten-plus-one",
        "no-file",
        "form-without-file",
        "empty-file",
    ],
)
def test_add_media_refused_upload_stores_nothing(
    api: Any,
    client: Client,
    author: User,
    draft: UseCase,
    media_root: Path,
    sent: Sent,
    files: Callable[[], dict[str, Any]],
    status: int,
    code: str,
) -> None:
    signed_in(client, author)
    before = library_rows()

    response = api.upload(f"{API}/{draft.pk}/media", files())

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert library_rows() == before
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []
    assert sent == []


@pytest.mark.parametrize(
    ("limit", "files", "code"),
    [
        ("DATA_UPLOAD_MAX_NUMBER_FILES", lambda: {"files": [pdf() for _ in range(3)]}, "too_large"),
        (
            "DATA_UPLOAD_MAX_NUMBER_FIELDS",
            lambda: {"files": [pdf()], "a": "1", "b": "2", "c": "3"},
            None,
        ),
    ],
    ids=["too-many-files", "too-many-fields"],
)
def test_add_media_request_over_djangos_limits_is_refused_and_stores_nothing(
    api: Any,
    client: Client,
    author: User,
    draft: UseCase,
    media_root: Path,
    settings: Any,
    limit: str,
    files: Callable[[], dict[str, Any]],
    code: str | None,
) -> None:
    signed_in(client, author)
    setattr(settings, limit, 2)

    response = api.upload(f"{API}/{draft.pk}/media", files())

    expected = (413, "too_large") if code else (400, "bad_request")
    assert (response.status_code, response.json()["code"]) == expected
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []


def test_add_media_names_the_file_it_refuses(
    api: Any, client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = api.upload(f"{API}/{draft.pk}/media", {"files": [pdf(), renamed_html()]})

    assert response.json() == {
        "detail": '"evil.png" is of a type that cannot be uploaded. Upload JPEG, PNG or WebP '
        "images, MP4 or WebM videos, or PDF documents.",
        "code": "unsupported_media_type",
    }


def test_add_media_as_json_answers_no_files(
    api: Any, client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = api.post(f"{API}/{draft.pk}/media", {"files": ["not a file"]})

    assert (response.status_code, response.json()["code"]) == (400, "no_files")
    assert Media.objects.count() == 0


def test_delete_media_by_an_editor_removes_the_row_and_its_files(
    api: Any,
    client: Client,
    author: User,
    org_admin: User,
    draft: UseCase,
    media_root: Path,
) -> None:
    signed_in(client, author)
    first, second = api.upload(f"{API}/{draft.pk}/media", {"files": [png(), pdf()]}).json()
    signed_in(client, org_admin)

    response = api.delete(f"{API}/media/{first['id']}")
    again = api.delete(f"{API}/media/{first['id']}")

    remaining = Media.objects.get()
    assert (response.status_code, response.content) == (204, b"")
    assert (again.status_code, again.json()["code"]) == (404, "media_not_found")
    assert remaining.pk == second["id"]
    assert stored_files(media_root) == [remaining.file.name]


# Concurrency, through the real server


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.django_db(transaction=True)
async def test_add_media_five_concurrent_uploads_all_succeed_and_are_processed(
    asgi_server: Any, user_factory: Any, use_case_factory: Any
) -> None:
    author = await sync_to_async(user_factory)()
    use_case = await sync_to_async(use_case_factory)(author=author, draft=True)
    _, token = await sync_to_async(account_services.create_api_token)(actor=author, name="load")
    images = [png(320 + index, 240, name=f"line-{index}.png").read() for index in range(5)]
    # The server stores in the run's media folder (it inherits TEST_MEDIA_ROOT), not this test's.
    server_storage = FileSystemStorage(location=os.environ["TEST_MEDIA_ROOT"])

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{API}/{use_case.pk}/media",
                    files={"files": (f"line-{index}.png", data, "image/png")},
                    headers=bearer(token),
                )
                for index, data in enumerate(images)
            )
        )

    def all_processed() -> bool:
        statuses = Media.objects.filter(use_case=use_case).values_list("status", flat=True)
        return sorted(statuses) == ["ready"] * 5

    await sync_to_async(wait_until)(
        all_processed, timeout=30, message="the uploads were not all processed"
    )
    stored = [media async for media in Media.objects.filter(use_case=use_case)]

    assert [response.status_code for response in responses] == [201] * 5
    answered = [item["id"] for response in responses for item in response.json()]
    assert sorted(answered) == sorted(media.pk for media in stored)
    assert sorted(media.position for media in stored) == [0, 1, 2, 3, 4]
    assert sorted(media.original_name for media in stored) == [
        f"line-{index}.png" for index in range(5)
    ]
    assert sorted(media.width for media in stored) == [320, 321, 322, 323, 324]
    assert all(
        server_storage.exists(name)
        for media in stored
        for name in (media.file.name, media.thumbnail_small.name, media.thumbnail_large.name)
    )
    events = StreamEvent.objects.filter(user=author, type="media_ready")
    assert sorted([event.payload["media_id"] async for event in events]) == sorted(
        media.pk for media in stored
    )


def test_use_cases_api_is_in_the_openapi_schema(client: Client) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert {path for path in paths if path.startswith(API)} == {
        API,
        f"{API}/options",
        f"{API}/mine",
        f"{API}/bookmarks",
        f"{API}/review-queue",
        f"{API}/media/{{media_id}}",
        f"{API}/{{use_case_id}}",
        f"{API}/{{use_case_id}}/metrics",
        f"{API}/{{use_case_id}}/submit",
        f"{API}/{{use_case_id}}/publish",
        f"{API}/{{use_case_id}}/reject",
        f"{API}/{{use_case_id}}/archive",
        f"{API}/{{use_case_id}}/feature",
        f"{API}/{{use_case_id}}/like",
        f"{API}/{{use_case_id}}/bookmark",
        f"{API}/{{use_case_id}}/media",
    }
    upload = paths[f"{API}/{{use_case_id}}/media"]["post"]["requestBody"]["content"]
    assert set(upload["multipart/form-data"]["schema"]["properties"]) == {"files", "file"}
