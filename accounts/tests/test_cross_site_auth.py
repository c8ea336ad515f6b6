"""Sign-in, sign-up and the other anonymous auth writes refuse requests a browser sends from
another site: the API by Origin, Sec-Fetch-Site and a JSON body, the pages by Django's CSRF
middleware."""

import json

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings

from accounts.models import FailedLogin, Invitation, Organization, User
from accounts.tests.factories import PASSWORD
from p2p_sandbox.models import OutboundEmail

pytestmark = pytest.mark.django_db

EMAIL = "omar@jubail-valves.example"
LOGIN = "/api/v1/auth/login"
CREDENTIALS = {"email": EMAIL, "password": PASSWORD}
CROSS_SITE = {"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"}
REFUSED = {
    "detail": "Requests from other sites are not accepted here.",
    "code": "cross_site_request",
}


@pytest.fixture
def omar(user_factory: object) -> User:
    return user_factory(email=EMAIL)  # type: ignore[operator]


def post(client: Client, path: str, body: dict, content_type: str, **headers: str) -> object:
    return client.post(path, json.dumps(body), content_type=content_type, **headers)


def assert_signed_out(client: Client, response: object) -> None:
    assert SESSION_KEY not in client.session
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # type: ignore[attr-defined]
    assert settings.LOGIN_DEVICE_COOKIE_NAME not in response.cookies  # type: ignore[attr-defined]


def test_login_cross_site_text_plain_post_is_refused_and_starts_no_session(
    client: Client, omar: User
) -> None:
    response = post(client, LOGIN, CREDENTIALS, "text/plain", **CROSS_SITE)

    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.json() == REFUSED  # type: ignore[attr-defined]
    assert_signed_out(client, response)


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "http://testserver:9999"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_ORIGIN": "http://blog.testserver", "HTTP_SEC_FETCH_SITE": "same-site"},
    ],
)
def test_login_from_another_origin_is_refused_even_as_json(
    client: Client, omar: User, headers: dict
) -> None:
    wrong = {**CREDENTIALS, "password": "wrong-password"}

    right = post(client, LOGIN, CREDENTIALS, "application/json", **headers)
    failed = post(client, LOGIN, wrong, "application/json", **headers)

    assert (right.status_code, failed.status_code) == (403, 403)  # type: ignore[attr-defined]
    assert right.json() == REFUSED  # type: ignore[attr-defined]
    assert_signed_out(client, right)
    assert FailedLogin.objects.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_login_with_a_body_that_is_not_json_is_415(
    client: Client, omar: User, content_type: str
) -> None:
    response = post(client, LOGIN, CREDENTIALS, content_type)

    assert response.status_code == 415  # type: ignore[attr-defined]
    assert response.json() == {  # type: ignore[attr-defined]
        "detail": "Send the request body as JSON, with Content-Type: application/json.",
        "code": "unsupported_media_type",
    }
    assert_signed_out(client, response)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.jubail-valves.example"])
@pytest.mark.parametrize(
    "headers",
    [
        {},  # a script: curl, a token user
        {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_ORIGIN": "https://app.jubail-valves.example", "HTTP_SEC_FETCH_SITE": "same-site"},
    ],
)
def test_login_from_own_or_trusted_origin_or_a_script_signs_in(
    client: Client, omar: User, headers: dict
) -> None:
    response = post(client, LOGIN, CREDENTIALS, "application/json", **headers)

    assert response.status_code == 200  # type: ignore[attr-defined]
    assert client.session[SESSION_KEY] == str(omar.pk)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/auth/signup",
            {
                "email": "layla@yanbu-steel.example",
                "password": "Welded-Seams-2026",
                "organizationName": "Yanbu Steel Works",
            },
        ),
        ("/api/v1/auth/verify-email", {"email": EMAIL, "code": "123456"}),
        ("/api/v1/auth/resend-code", {"email": EMAIL}),
        ("/api/v1/auth/password-reset", {"email": EMAIL}),
        (
            "/api/v1/auth/password-reset/confirm",
            {"uid": "MQ", "token": "abc-def", "newPassword": "Welded-Seams-2026"},
        ),
        (
            "/api/v1/auth/accept-invitation",
            {"token": "some-token", "password": "Welded-Seams-2026"},
        ),
    ],
)
def test_anonymous_auth_writes_refuse_cross_site_requests_and_write_nothing(
    client: Client, omar: User, path: str, body: dict
) -> None:
    password_hash = omar.password

    response = post(client, path, body, "text/plain", **CROSS_SITE)

    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.json() == REFUSED  # type: ignore[attr-defined]
    assert User.objects.count() == 1
    assert Organization.objects.count() == 1
    assert Invitation.objects.count() == 0
    assert User.objects.get().password == password_hash
    assert OutboundEmail.objects.count() == 0
    assert_signed_out(client, response)


def csrf_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    return client


@pytest.mark.parametrize("with_token", [False, True])
def test_login_page_refuses_a_forged_post(omar: User, with_token: bool) -> None:
    client = csrf_client()
    form = {"email": EMAIL, "password": PASSWORD}
    if with_token:  # a token the forger somehow holds still fails on the Origin
        form["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value

    response = client.post("/accounts/login/", form, HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403
    assert_signed_out(client, response)
    assert FailedLogin.objects.count() == 0


def test_signup_page_refuses_a_forged_post(db: None) -> None:
    client = csrf_client()

    response = client.post(
        "/accounts/signup/",
        {
            "email": "layla@yanbu-steel.example",
            "password": "Welded-Seams-2026",
            "organization_name": "Yanbu Steel Works",
        },
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert User.objects.count() == 0
    assert Organization.objects.count() == 0
    assert OutboundEmail.objects.count() == 0
    assert_signed_out(client, response)


def test_login_page_post_with_token_from_own_origin_signs_in(omar: User) -> None:
    client = csrf_client()

    response = client.post(
        "/accounts/login/",
        {**CREDENTIALS, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(omar.pk)
