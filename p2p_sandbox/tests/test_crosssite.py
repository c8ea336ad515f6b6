import pytest
from django.test import RequestFactory, override_settings

from p2p_sandbox.crosssite import (
    CrossSiteRequestError,
    JsonRequiredError,
    check_json_request,
    check_same_origin,
    is_allowed_origin,
)

OWN = "http://testserver"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": OWN},
        {"HTTP_ORIGIN": OWN, "HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "none"},
    ],
)
def test_check_same_origin_lets_own_origin_and_scripts_through(headers: dict) -> None:
    check_same_origin(RequestFactory().post("/", **headers))


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "Cross-Site", "HTTP_ORIGIN": OWN},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "http://testserver:9999"},
        {"HTTP_ORIGIN": "https://testserver"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "http://blog.testserver"},
    ],
)
def test_check_same_origin_refuses_other_sites_and_origins(headers: dict) -> None:
    with pytest.raises(CrossSiteRequestError):
        check_same_origin(RequestFactory().post("/", **headers))


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com", "https://*.example.org"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://portal.example.org", True),
        ("https://example.org", True),
        ("http://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://evil.example.com", False),
        ("http://portal.example.org", False),
        ("https://[broken", False),
    ],
)
def test_is_allowed_origin_compares_whole_trusted_origins(origin: str, allowed: bool) -> None:
    assert is_allowed_origin(origin, own="http://testserver") is allowed


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com"])
def test_check_same_origin_accepts_a_trusted_same_site_origin() -> None:
    request = RequestFactory().post(
        "/", HTTP_ORIGIN="https://app.example.com", HTTP_SEC_FETCH_SITE="same-site"
    )

    check_same_origin(request)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_check_json_request_refuses_bodies_a_form_can_send(content_type: str) -> None:
    request = RequestFactory().post("/", "{}", content_type=content_type)

    with pytest.raises(JsonRequiredError):
        check_json_request(request)


def test_check_json_request_accepts_json_with_a_charset() -> None:
    check_json_request(
        RequestFactory().post("/", "{}", content_type="application/json; charset=utf-8")
    )
