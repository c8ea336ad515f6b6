import pytest
from django.http import Http404
from django.test import Client
from ninja import NinjaAPI, Router
from ninja.pagination import paginate
from ninja.testing import TestClient
from pydantic import Field

from p2p_sandbox.api import add_error_handlers
from p2p_sandbox.errors import AppError, ConflictError, RateLimitedError
from p2p_sandbox.schemas import InputSchema

# A small API with the project's error handlers and input schema base, for the shapes that no
# real operation produces yet.
router = Router()


class ItemIn(InputSchema):
    display_name: str = Field(min_length=3)
    unit_count: int = Field(ge=1)


@router.post("/items")
def create_item(request: object, payload: ItemIn) -> dict:
    if payload.display_name == "taken":
        raise ConflictError("An item with this name exists.", code="item_exists")
    return payload.model_dump()


@router.get("/items/{item_id}")
def get_item(request: object, item_id: int) -> dict:
    raise Http404


@router.get("/limited")
def limited(request: object) -> dict:
    raise RateLimitedError("Slow down.", retry_after=42)


@router.get("/numbers", response=list[int])
@paginate
def numbers(request: object) -> list[int]:
    return list(range(250))


@router.get("/broken")
def broken(request: object) -> dict:
    raise RuntimeError("internal detail that must not leak")


errors_api = NinjaAPI(urls_namespace="test-errors")
add_error_handlers(errors_api)
errors_api.add_router("/", router)


@pytest.fixture
def api_client() -> TestClient:
    return TestClient(errors_api)


def test_unknown_api_url_is_a_json_404(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_openapi_schema_is_served(client: Client) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "P2P Sandbox API"


def test_docs_are_off_without_debug_or_api_docs(client: Client) -> None:
    response = client.get("/api/v1/docs")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_http404_in_an_operation_has_the_error_shape(api_client: TestClient) -> None:
    response = api_client.get("/items/7")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_validation_error_is_422_with_field_errors(api_client: TestClient) -> None:
    response = api_client.post("/items", json={"displayName": "ab", "unit_count": 0})

    body = response.json()
    assert response.status_code == 422
    assert body["code"] == "validation_error"
    assert body["detail"].startswith("displayName: ")
    assert [(error["field"], error["location"]) for error in body["errors"]] == [
        ("displayName", "body"),
        ("unit_count", "body"),
    ]


def test_malformed_json_is_a_400(api_client: TestClient) -> None:
    response = api_client.post("/items", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot parse request body", "code": "bad_request"}


def test_input_schema_accepts_camel_case_and_snake_case(api_client: TestClient) -> None:
    camel = api_client.post("/items", json={"displayName": "valve", "unitCount": 3})
    snake = api_client.post("/items", json={"display_name": "valve", "unit_count": 3})

    assert camel.status_code == snake.status_code == 200
    assert camel.json() == snake.json() == {"display_name": "valve", "unit_count": 3}


def test_app_error_renders_its_code_message_and_status(api_client: TestClient) -> None:
    response = api_client.post("/items", json={"displayName": "taken", "unitCount": 1})

    assert response.status_code == 409
    assert response.json() == {"detail": "An item with this name exists.", "code": "item_exists"}


def test_rate_limited_error_sets_retry_after(api_client: TestClient) -> None:
    response = api_client.get("/limited")

    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.json() == {"detail": "Slow down.", "code": "rate_limited"}


def test_unexpected_error_is_a_500_without_internal_detail(api_client: TestClient) -> None:
    response = api_client.get("/broken")

    assert response.status_code == 500
    assert response.json() == {
        "detail": "Something went wrong on our side.",
        "code": "server_error",
    }


def test_pagination_caps_the_page_size_at_100(api_client: TestClient) -> None:
    response = api_client.get("/numbers?page=1&page_size=1000")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 250
    assert body["items"] == list(range(100))


def test_app_error_defaults_come_from_the_subclass() -> None:
    error = ConflictError()

    assert (error.code, error.status, error.message) == (
        "conflict",
        409,
        "This conflicts with the current state.",
    )
    assert isinstance(error, AppError)


def test_unknown_fields_are_refused_with_422(api_client: TestClient) -> None:
    response = api_client.post(
        "/items", json={"displayName": "valve", "unitCount": 3, "isAdmin": True}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "isAdmin", "message": "Extra inputs are not permitted", "location": "body"}
    ]


def test_body_over_the_size_limit_is_a_413_with_the_error_shape(
    client: Client, settings: object
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # type: ignore[attr-defined]

    response = client.post(
        "/api/v1/auth/login",
        data='{"email": "a@b.example", "password": "' + "x" * 2048 + '"}',
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large.", "code": "too_large"}
