import asyncio
import re
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import events
from accounts.models import EmailVerification, FailedLogin, Organization, User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "Layla@Yanbu-Steel.example",
    "password": "Welded-Seams-2026",
    "organizationName": "Yanbu Steel Works",
    "firstName": "Layla",
    "lastName": "Al-Shammari",
}


def code_from(message: mail.EmailMessage) -> str:
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def sign_up(api: object, **overrides: str) -> object:
    return api.post("/api/v1/auth/signup", {**SIGNUP, **overrides})  # type: ignore[attr-defined]


def test_signup_creates_the_organization_and_its_admin_and_emails_a_code(api: object) -> None:
    response = sign_up(api)

    body = response.json()
    assert response.status_code == 201
    assert body["user"]["email"] == "layla@yanbu-steel.example"
    assert body["user"]["role"] == "admin"
    assert body["user"]["is_email_verified"] is False
    assert body["organization"]["name"] == "Yanbu Steel Works"
    assert body["organization"]["email_domain"] == "yanbu-steel.example"
    user = User.objects.get()
    assert user.check_password("Welded-Seams-2026")
    assert user.organization.slug == "yanbu-steel-works"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["layla@yanbu-steel.example"]
    code = code_from(mail.outbox[0])
    assert code not in EmailVerification.objects.get().code_hash


def test_signup_accepts_snake_case(api: object) -> None:
    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/signup",
        {
            "email": "ops@tabuk-dates.example",
            "password": "Palm-Groves-88",
            "organization_name": "Tabuk Dates",
        },
    )

    assert response.status_code == 201
    assert response.json()["organization"]["name"] == "Tabuk Dates"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"email": "layla@gmail.com"}, 400, "personal_email_domain"),
        ({"email": "layla@Hotmail.com"}, 400, "personal_email_domain"),
        ({"password": "12345678"}, 422, "invalid_password"),
        ({"email": "not-an-email"}, 422, "validation_error"),
        ({"firstName": "<script>"}, 422, "validation_error"),
        ({"organizationName": "x" * 201}, 422, "validation_error"),
        ({"isStaff": True}, 422, "validation_error"),
    ],
)
def test_signup_bad_input_is_refused_and_writes_nothing(
    api: object, overrides: dict, status: int, code: str
) -> None:
    response = sign_up(api, **overrides)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert (User.objects.count(), Organization.objects.count(), len(mail.outbox)) == (0, 0, 0)


def test_signup_for_a_domain_with_an_organization_asks_for_an_invitation(
    api: object, organization_factory: object
) -> None:
    organization_factory(email_domain="yanbu-steel.example")  # type: ignore[operator]

    response = sign_up(api)

    assert response.status_code == 409
    assert response.json()["code"] == "organization_exists"
    assert "invitation" in response.json()["detail"]
    assert User.objects.count() == 0


def test_verify_email_with_the_emailed_code(api: object) -> None:
    sign_up(api)

    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": code_from(mail.outbox[0])}
    )

    assert response.status_code == 200
    assert response.json()["user"]["is_email_verified"] is True
    assert User.objects.get().email_verified_at is not None
    assert EmailVerification.objects.count() == 0


def test_verify_email_five_wrong_codes_spend_the_code(api: object) -> None:
    sign_up(api)
    code = code_from(mail.outbox[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    answers = [
        api.post("/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": wrong})  # type: ignore[attr-defined]
        for _ in range(5)
    ]
    right_too_late = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": code}
    )

    assert [answer.json()["code"] for answer in answers] == ["invalid_code"] * 4 + [
        "code_attempts_exceeded"
    ]
    assert answers[0].json()["detail"] == "This code is not correct. 4 attempts left."
    assert right_too_late.status_code == 400
    assert right_too_late.json()["code"] == "code_attempts_exceeded"
    assert User.objects.get().email_verified_at is None


def test_verify_email_code_expires_after_seven_minutes(api: object) -> None:
    sign_up(api)
    code = code_from(mail.outbox[0])

    with time_machine.travel(timezone.now() + timedelta(minutes=7, seconds=1)):
        response = api.post(  # type: ignore[attr-defined]
            "/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": code}
        )

    assert response.status_code == 400
    assert response.json()["code"] == "code_expired"
    assert User.objects.get().email_verified_at is None


def test_verify_email_for_an_unknown_address_says_invalid_code(api: object) -> None:
    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/verify-email", {"email": "nobody@nowhere.example", "code": "123456"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"


def test_resend_code_waits_a_minute_then_sends_a_new_code(api: object) -> None:
    sign_up(api)
    first_code = code_from(mail.outbox[0])

    too_soon = api.post("/api/v1/auth/resend-code", {"email": SIGNUP["email"]})  # type: ignore[attr-defined]
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        later = api.post("/api/v1/auth/resend-code", {"email": SIGNUP["email"]})  # type: ignore[attr-defined]

    assert too_soon.status_code == 429
    assert too_soon.json()["code"] == "resend_too_soon"
    assert 1 <= int(too_soon["Retry-After"]) <= 60
    assert later.status_code == 202
    assert len(mail.outbox) == 2
    old = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": first_code}
    )
    new = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/verify-email", {"email": SIGNUP["email"], "code": code_from(mail.outbox[1])}
    )
    assert (old.status_code, new.status_code) == (400, 200)


def test_resend_code_for_an_unknown_address_answers_the_same(api: object) -> None:
    response = api.post("/api/v1/auth/resend-code", {"email": "nobody@nowhere.example"})  # type: ignore[attr-defined]

    assert response.status_code == 202
    assert mail.outbox == []


def test_login_starts_a_new_session_and_returns_the_user(
    api: object, client: Client, user_factory: object
) -> None:
    user = user_factory(email="omar@jubail-valves.example")  # type: ignore[operator]
    client.get("/")
    anonymous_key = client.session.session_key

    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/login", {"email": "OMAR@jubail-valves.example", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session.session_key != anonymous_key


def test_login_with_a_wrong_password_is_401(api: object, user_factory: object) -> None:
    user_factory(email="omar@jubail-valves.example")  # type: ignore[operator]

    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/login", {"email": "omar@jubail-valves.example", "password": "wrong"}
    )

    assert response.status_code == 401
    assert response.json() == {
        "detail": "The email address or password is not correct.",
        "code": "invalid_credentials",
    }


@pytest.mark.parametrize("exists", [True, False])
def test_login_lockout_after_five_failures_for_fifteen_minutes(
    api: object, user_factory: object, exists: bool
) -> None:
    email = "omar@jubail-valves.example"
    if exists:
        user_factory(email=email)  # type: ignore[operator]

    failures = [
        api.post(  # type: ignore[attr-defined]
            "/api/v1/auth/login",
            {"email": email, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
        )
        for attempt in range(5)
    ]
    locked = api.post("/api/v1/auth/login", {"email": email, "password": PASSWORD})  # type: ignore[attr-defined]
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        after = api.post("/api/v1/auth/login", {"email": email, "password": PASSWORD})  # type: ignore[attr-defined]

    assert [failure.status_code for failure in failures] == [401] * 5
    assert locked.status_code == 429
    assert locked.json() == {
        "detail": "Too many failed sign-in attempts. Try again later.",
        "code": "account_locked",
    }
    assert 890 <= int(locked["Retry-After"]) <= 900
    assert after.status_code == (200 if exists else 401)


def test_failures_older_than_the_window_do_not_lock(api: object, user_factory: object) -> None:
    user_factory(email="omar@jubail-valves.example")  # type: ignore[operator]
    old = timezone.now() - timedelta(minutes=16)
    FailedLogin.objects.bulk_create(
        [FailedLogin(email="omar@jubail-valves.example", created_at=old) for _ in range(5)]
    )

    response = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/login", {"email": "omar@jubail-valves.example", "password": PASSWORD}
    )

    assert response.status_code == 200


def test_unverified_user_signs_in_but_may_only_verify(api: object, user_factory: object) -> None:
    user_factory(email="new@jubail-valves.example", unverified=True)  # type: ignore[operator]

    login = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/login", {"email": "new@jubail-valves.example", "password": PASSWORD}
    )
    me = api.get("/api/v1/users/me")  # type: ignore[attr-defined]
    directory = api.get("/api/v1/users")  # type: ignore[attr-defined]

    assert login.status_code == 200
    assert me.status_code == 200
    assert directory.status_code == 403
    assert directory.json()["code"] == "email_not_verified"


def test_logout_ends_every_session_of_the_user(user_factory: object) -> None:
    user = user_factory()  # type: ignore[operator]
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)

    logout = laptop.post("/api/v1/auth/logout")

    assert logout.status_code == 204
    assert laptop.get("/api/v1/users/me").status_code == 401
    assert phone.get("/api/v1/users/me").status_code == 401


def test_session_ends_after_thirty_idle_minutes(client: Client, user_factory: object) -> None:
    client.force_login(user_factory())  # type: ignore[operator]
    start = timezone.now()

    with time_machine.travel(start + timedelta(minutes=29)):
        active = client.get("/api/v1/users/me")
    with time_machine.travel(start + timedelta(minutes=58)):
        still_active = client.get("/api/v1/users/me")
    with time_machine.travel(start + timedelta(minutes=89)):
        idle = client.get("/api/v1/users/me")

    assert (active.status_code, still_active.status_code, idle.status_code) == (200, 200, 401)
    last_seen = User.objects.get().last_seen_at
    assert start + timedelta(minutes=57) < last_seen < start + timedelta(minutes=59)


def test_session_ends_eight_hours_after_sign_in_even_when_active(
    client: Client, user_factory: object
) -> None:
    client.force_login(user_factory())  # type: ignore[operator]
    start = timezone.now()

    statuses = []
    for minutes in range(20, 8 * 60, 20):  # active every 20 minutes for almost 8 hours
        with time_machine.travel(start + timedelta(minutes=minutes)):
            statuses.append(client.get("/api/v1/users/me").status_code)
    with time_machine.travel(start + timedelta(hours=8, minutes=1)):
        past_the_limit = client.get("/api/v1/users/me").status_code

    assert statuses == [200] * 23
    assert past_the_limit == 401


def test_csrf_is_enforced_for_session_callers(user_factory: object) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_factory(first_name="Omar"))  # type: ignore[operator]

    without_token = client.patch(
        "/api/v1/users/me", {"firstName": "Mallory"}, content_type="application/json"
    )
    client.get("/")
    with_token = client.patch(
        "/api/v1/users/me",
        {"firstName": "Omar"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )

    assert without_token.status_code == 403
    assert without_token.json()["code"] == "csrf_failed"
    assert with_token.status_code == 200
    assert User.objects.get().first_name == "Omar"


def test_password_reset_link_from_the_email_sets_a_new_password(
    api: object, user_factory: object
) -> None:
    user = user_factory(email="omar@jubail-valves.example")  # type: ignore[operator]
    other_device = Client()
    other_device.force_login(user)

    requested = api.post("/api/v1/auth/password-reset", {"email": "omar@jubail-valves.example"})  # type: ignore[attr-defined]
    uid, token = re.search(r"/accounts/reset/([^/]+)/([^/]+)/", mail.outbox[0].body).groups()
    confirmed = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/password-reset/confirm",
        {"uid": uid, "token": token, "newPassword": "Fresh-Bearings-42"},
    )
    reused = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/password-reset/confirm",
        {"uid": uid, "token": token, "newPassword": "Another-Pass-43"},
    )

    assert requested.status_code == 202
    assert confirmed.status_code == 200
    assert reused.status_code == 400
    assert reused.json()["code"] == "invalid_token"
    user.refresh_from_db()
    assert user.check_password("Fresh-Bearings-42")
    assert other_device.get("/api/v1/users/me").status_code == 401


def test_password_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
    api: object,
) -> None:
    response = api.post("/api/v1/auth/password-reset", {"email": "nobody@nowhere.example"})  # type: ignore[attr-defined]

    assert response.status_code == 202
    assert (
        response.json()["detail"] == "If an account has this address, a reset link is on its way."
    )
    assert mail.outbox == []


def test_password_change_keeps_this_session_and_ends_the_others(
    client: Client, user_factory: object
) -> None:
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)
    other = Client()
    other.force_login(user)

    wrong = client.post(
        "/api/v1/users/me/password",
        {"currentPassword": "nope", "newPassword": "Fresh-Bearings-42"},
        content_type="application/json",
    )
    changed = client.post(
        "/api/v1/users/me/password",
        {"currentPassword": PASSWORD, "newPassword": "Fresh-Bearings-42"},
        content_type="application/json",
    )

    assert wrong.status_code == 400
    assert wrong.json()["code"] == "wrong_password"
    assert changed.status_code == 204
    assert client.get("/api/v1/users/me").status_code == 200
    assert other.get("/api/v1/users/me").status_code == 401


def test_logout_tells_the_users_live_connections_to_close(
    api: object, user_factory: object
) -> None:
    user = user_factory()  # type: ignore[operator]
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.sessions_group(user.pk), channel)
    api.client.force_login(user)  # type: ignore[attr-defined]

    api.post("/api/v1/auth/logout")  # type: ignore[attr-defined]

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert async_to_sync(receive)() == {"type": "sessions.ended", "user_id": user.pk}
