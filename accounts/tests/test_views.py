import hashlib
import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from pytest_django.asserts import assertInHTML, assertRedirects, assertTemplateUsed

from accounts import services
from accounts.models import ApiToken, EmailVerification, FailedLogin, Invitation, Organization, User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {
    "first_name": "Layla",
    "last_name": "Al-Shammari",
    "organization_name": "Yanbu Steel Works",
    "email": "Layla@Yanbu-Steel.example",
    "password": "Welded-Seams-2026",
}
NEW_PASSWORD = "Spindle-Bearings-77"


@pytest.fixture
def org(organization_factory: object) -> Organization:
    return organization_factory(  # type: ignore[operator]
        name="Jubail Valves", slug="jubail-valves", email_domain="jubail-valves.example"
    )


@pytest.fixture
def admin(user_factory: object, org: Organization) -> User:
    return user_factory(  # type: ignore[operator]
        organization=org,
        admin=True,
        email="sara@jubail-valves.example",
        first_name="Sara",
        last_name="Al-Qahtani",
    )


@pytest.fixture
def member(user_factory: object, org: Organization) -> User:
    return user_factory(  # type: ignore[operator]
        organization=org,
        email="omar@jubail-valves.example",
        first_name="Omar",
        last_name="Haddad",
        job_title="Maintenance Engineer",
        expertise_tags=["vibration analysis"],
    )


@pytest.fixture
def outsider(user_factory: object, organization_factory: object) -> User:
    other = organization_factory(  # type: ignore[operator]
        name="Najd Foods", slug="najd-foods", email_domain="najdfoods.example", city="Riyadh"
    )
    return user_factory(  # type: ignore[operator]
        organization=other, admin=True, email="aisha@najdfoods.example", first_name="Aisha"
    )


@pytest.fixture
def unverified(user_factory: object, org: Organization) -> User:
    return user_factory(  # type: ignore[operator]
        organization=org, unverified=True, email="new@jubail-valves.example"
    )


@pytest.fixture
def media_root(settings: object, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    return tmp_path


@pytest.fixture
def committed(django_capture_on_commit_callbacks: object) -> object:
    """Runs the on-commit callbacks (emails, tasks) of what happens inside, as a real request."""
    return lambda: django_capture_on_commit_callbacks(execute=True)  # type: ignore[operator]


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def flashed(response: object) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def code_from(message: mail.EmailMessage) -> str:
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def png(name: str = "me.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (12, 110, 80)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def signed_in_user_id(client: Client) -> int | None:
    value = client.session.get(SESSION_KEY)
    return int(value) if value is not None else None


# Who may open what

PRIVATE_PAGES = [
    "/accounts/profile/",
    "/accounts/settings/",
    "/accounts/people/",
    "/accounts/people/1/",
    "/accounts/organization/",
    "/accounts/organization/edit/",
]
PRIVATE_POSTS = [
    "/accounts/settings/profile/",
    "/accounts/settings/avatar/",
    "/accounts/settings/password/",
    "/accounts/settings/tokens/",
    "/accounts/settings/tokens/1/revoke/",
    "/accounts/organization/edit/",
    "/accounts/organization/logo/",
    "/accounts/organization/members/1/",
    "/accounts/organization/invitations/",
    "/accounts/organization/invitations/1/resend/",
    "/accounts/organization/invitations/1/cancel/",
]


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_private_page_redirects_anonymous_caller_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)


@pytest.mark.parametrize("path", PRIVATE_POSTS)
def test_private_post_by_anonymous_caller_redirects_to_sign_in(client: Client, path: str) -> None:
    response = client.post(path, {"first_name": "Mallory", "name": "x", "email": "x@y.example"})

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)
    assert ApiToken.objects.count() == 0
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        *PRIVATE_PAGES,
        "/accounts/signup/",
        "/accounts/login/",
        "/accounts/password-reset/",
        "/accounts/invitations/some-token/",
    ],
)
def test_page_redirects_unverified_user_to_verification(
    client: Client, unverified: User, path: str
) -> None:
    signed_in(client, unverified)

    response = client.get(path)

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)


@pytest.mark.parametrize("path", PRIVATE_POSTS)
def test_post_by_unverified_user_redirects_to_verification_and_changes_nothing(
    client: Client, unverified: User, path: str
) -> None:
    signed_in(client, unverified)

    response = client.post(path, {"first_name": "Changed", "name": "ci", "email": "a@b.example"})

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)
    unverified.refresh_from_db()
    assert unverified.first_name != "Changed"
    assert ApiToken.objects.count() == 0
    assert Invitation.objects.count() == 0


def test_unverified_user_reaches_verification_resend_and_sign_out(
    client: Client, unverified: User, committed: object
) -> None:
    signed_in(client, unverified)

    page = client.get("/accounts/verify/")
    with committed():  # type: ignore[operator]
        resend = client.post("/accounts/verify/resend/")
    sign_out = client.post("/accounts/logout/")

    assert page.status_code == 200
    assertTemplateUsed(page, "accounts/verify_email.html")
    assertRedirects(resend, "/accounts/verify/", fetch_redirect_response=False)
    assert len(mail.outbox) == 1
    assertRedirects(sign_out, "/", fetch_redirect_response=False)
    assert signed_in_user_id(client) is None


def test_unverified_user_sees_no_people_link(client: Client, unverified: User) -> None:
    signed_in(client, unverified)

    response = client.get("/")

    assert "/accounts/people/" not in response.content.decode()


@pytest.mark.parametrize("path", ["/accounts/signup/", "/accounts/login/"])
def test_signed_out_pages_send_a_verified_user_home(
    client: Client, member: User, path: str
) -> None:
    signed_in(client, member)

    response = client.get(path)

    assertRedirects(response, "/", fetch_redirect_response=False)


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/profile/",
        "/accounts/settings/",
        "/accounts/people/",
        "/accounts/organization/",
        "/accounts/signup/",
        "/accounts/verify/",
    ],
)
def test_pages_have_no_inline_styles_or_unnonced_scripts(
    client: Client, admin: User, unverified: User, path: str
) -> None:
    if path == "/accounts/verify/":
        signed_in(client, unverified)
    elif path != "/accounts/signup/":
        signed_in(client, admin)

    response = client.get(path)

    html = response.content.decode()
    assert response.status_code == 200
    assert " style=" not in html
    assert "<style" not in html
    assert len(re.findall(r"<script\b", html)) == len(re.findall(r"<script (nonce|src)=", html))


# Sign-up


def test_signup_page_creates_the_organization_and_its_admin_and_signs_in(
    client: Client, committed: object
) -> None:
    with committed():  # type: ignore[operator]
        response = client.post("/accounts/signup/", SIGNUP)

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)
    user = User.objects.get()
    assert user.email == "layla@yanbu-steel.example"
    assert (user.first_name, user.last_name) == ("Layla", "Al-Shammari")
    assert user.role == User.Role.ADMIN
    assert user.is_email_verified is False
    assert user.organization.name == "Yanbu Steel Works"
    assert user.organization.email_domain == "yanbu-steel.example"
    assert signed_in_user_id(client) == user.pk
    assert [message.to for message in mail.outbox] == [["layla@yanbu-steel.example"]]
    assert flashed(response) == ["Welcome! We sent a 6-digit code to layla@yanbu-steel.example."]


def test_home_page_links_to_sign_up(client: Client) -> None:
    response = client.get("/")

    assertInHTML(
        '<a class="button button--primary button--large" href="/accounts/signup/">'
        "Join your organization</a>",
        response.content.decode(),
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"email": "layla@gmail.com"},
            "email",
            "Sign up with your work email address, not a personal one.",
        ),
        ({"password": "12345678"}, "password", "This password is too common."),
        ({"first_name": "<script>"}, "first_name", "Use letters (Latin or Arabic)"),
        ({"organization_name": "x"}, "organization_name", "at least 2 characters"),
    ],
)
def test_signup_page_shows_errors_on_their_field_and_creates_nothing(
    client: Client, overrides: dict, field: str, message: str
) -> None:
    response = client.post("/accounts/signup/", {**SIGNUP, **overrides})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    html = response.content.decode()
    assert f'<ul class="errorlist" id="id_{field}_error">' in html
    assert re.search(rf'id="id_{field}"[^>]*aria-invalid="true"', html) or re.search(
        rf'aria-invalid="true"[^>]*id="id_{field}"', html
    )
    assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in html or (
        f'aria-describedby="id_{field}_error"' in html
    )
    assert f'<label for="id_{field}"' in html
    assert User.objects.count() == 0
    assert Organization.objects.count() == 0
    assert mail.outbox == []


def test_signup_page_refuses_a_second_account_for_a_known_domain(
    client: Client, org: Organization, admin: User
) -> None:
    response = client.post("/accounts/signup/", {**SIGNUP, "email": "new@jubail-valves.example"})

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An organization with this email domain is already on P2P Sandbox. "
        "Ask its admin for an invitation."
    ]
    assert User.objects.count() == 1


# Email verification


def sign_up_on_the_page(client: Client, committed: object) -> User:
    with committed():  # type: ignore[operator]
        client.post("/accounts/signup/", SIGNUP)
    return User.objects.get(email="layla@yanbu-steel.example")


def test_emailed_code_verifies_the_address_through_the_page(
    client: Client, committed: object
) -> None:
    user = sign_up_on_the_page(client, committed)
    code = code_from(mail.outbox[0])

    page = client.get("/accounts/verify/")
    response = client.post("/accounts/verify/", {"code": f" {code[:3]} {code[3:]} "})

    assert "layla@yanbu-steel.example" in page.content.decode()
    assertRedirects(response, "/", fetch_redirect_response=False)
    user.refresh_from_db()
    assert user.is_email_verified
    assert flashed(response)[-1] == "Your email address is confirmed. Welcome to P2P Sandbox!"
    assert client.get("/accounts/profile/").status_code == 200


def test_wrong_code_shows_the_service_message_on_the_code_field(
    client: Client, committed: object
) -> None:
    user = sign_up_on_the_page(client, committed)
    wrong = "000000" if code_from(mail.outbox[0]) != "000000" else "111111"

    response = client.post("/accounts/verify/", {"code": wrong})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "code": ["This code is not correct. 4 attempts left."]
    }
    user.refresh_from_db()
    assert user.is_email_verified is False
    assert EmailVerification.objects.get(user=user).failed_attempts == 1


def test_malformed_code_is_refused_before_it_counts_as_an_attempt(
    client: Client, committed: object
) -> None:
    user = sign_up_on_the_page(client, committed)

    response = client.post("/accounts/verify/", {"code": "12ab56"})

    assert response.context["form"].errors == {"code": ["Enter the 6 digits of the code."]}
    assert EmailVerification.objects.get(user=user).failed_attempts == 0


def test_expired_code_says_so(client: Client, committed: object) -> None:
    sign_up_on_the_page(client, committed)
    code = code_from(mail.outbox[0])

    with time_machine.travel(timezone.now() + timedelta(minutes=8)):
        response = client.post("/accounts/verify/", {"code": code})

    assert response.context["form"].errors == {
        "code": ["This code has expired. Ask for a new one."]
    }


def test_resend_waits_for_the_cooldown_then_sends_a_new_code(
    client: Client, committed: object
) -> None:
    sign_up_on_the_page(client, committed)

    with committed():  # type: ignore[operator]
        too_soon = client.post("/accounts/verify/resend/")
    assert len(mail.outbox) == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=61)), committed():  # type: ignore[operator]
        later = client.post("/accounts/verify/resend/")

    assertRedirects(too_soon, "/accounts/verify/", fetch_redirect_response=False)
    assert re.fullmatch(
        r"A code was sent less than a minute ago\. Wait a moment before asking again\. "
        r"Try again in (60|59) seconds\.",
        flashed(too_soon)[-1],
    )
    assertRedirects(later, "/accounts/verify/", fetch_redirect_response=False)
    assert flashed(later)[-1] == "A new code is on its way to layla@yanbu-steel.example."
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["layla@yanbu-steel.example"]
    assert re.fullmatch(r"\d{6}", code_from(mail.outbox[1]))


def test_verification_page_sends_anonymous_caller_to_sign_in(client: Client) -> None:
    response = client.get("/accounts/verify/")

    assertRedirects(
        response, "/accounts/login/?next=/accounts/verify/", fetch_redirect_response=False
    )


def test_verification_page_sends_a_verified_user_home(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.get("/accounts/verify/")
    resend = client.post("/accounts/verify/resend/")

    assertRedirects(response, "/", fetch_redirect_response=False)
    assertRedirects(resend, "/", fetch_redirect_response=False)
    assert mail.outbox == []


# Signing in and out


def test_login_signs_in_and_follows_a_local_next_url(client: Client, member: User) -> None:
    page = client.get("/accounts/login/?next=/accounts/settings/")
    response = client.post(
        "/accounts/login/",
        {
            "email": "OMAR@jubail-valves.example",
            "password": PASSWORD,
            "next": "/accounts/settings/",
        },
    )

    assert 'name="next" value="/accounts/settings/"' in page.content.decode()
    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)
    assert signed_in_user_id(client) == member.pk
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""]
)
def test_login_ignores_a_next_url_that_is_not_local(
    client: Client, member: User, next_url: str
) -> None:
    response = client.post(
        "/accounts/login/",
        {"email": member.email, "password": PASSWORD, "next": next_url},
    )

    assertRedirects(response, "/", fetch_redirect_response=False)


def test_login_remembers_the_users_language(client: Client, user_factory: object) -> None:
    user = user_factory(language="ar")  # type: ignore[operator]

    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})

    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    assert client.get("/").headers["Content-Language"] == "ar"


def test_login_failure_says_the_same_for_unknown_address_and_wrong_password(
    client: Client, member: User
) -> None:
    unknown = client.post(
        "/accounts/login/", {"email": "nobody@jubail-valves.example", "password": PASSWORD}
    )
    wrong = client.post("/accounts/login/", {"email": member.email, "password": "not-it-123"})

    for response in (unknown, wrong):
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [
            "The email address or password is not correct."
        ]
    assert signed_in_user_id(client) is None


def test_login_shows_the_lockout_message_and_refuses_even_the_right_password(
    client: Client, member: User
) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/accounts/login/", {"email": member.email, "password": "not-it-123"})

    response = client.post("/accounts/login/", {"email": member.email, "password": PASSWORD})

    assert response.status_code == 429
    assert 840 < int(response["Retry-After"]) <= 900
    assert response.context["form"].non_field_errors() == [
        "Too many failed sign-in attempts. Try again later. You can try again in 15 minutes."
    ]
    assert "Too many failed sign-in attempts." in response.content.decode()
    assert signed_in_user_id(client) is None


def test_lockout_of_an_unknown_address_looks_the_same(client: Client) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/accounts/login/", {"email": "ghost@nowhere.example", "password": "x"})

    response = client.post("/accounts/login/", {"email": "ghost@nowhere.example", "password": "x"})

    assert response.status_code == 429
    assert (
        response.context["form"]
        .non_field_errors()[0]
        .startswith("Too many failed sign-in attempts.")
    )


def test_login_of_an_unverified_user_goes_to_verification(client: Client, unverified: User) -> None:
    response = client.post(
        "/accounts/login/",
        {"email": unverified.email, "password": PASSWORD, "next": "/accounts/settings/"},
    )

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)
    assert signed_in_user_id(client) == unverified.pk


def test_logout_is_post_only(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert signed_in_user_id(client) == member.pk


def test_logout_ends_the_session(client: Client, member: User) -> None:
    signed_in(client, member)
    other_device = Client()
    other_device.force_login(member)

    response = client.post("/accounts/logout/")

    assertRedirects(response, "/", fetch_redirect_response=False)
    assert flashed(response) == ["You are signed out."]
    assert signed_in_user_id(client) is None
    # Like the API, signing out ends the user's other sessions too.
    assert other_device.get("/accounts/profile/").status_code == 302


# Password reset


def test_password_reset_request_looks_the_same_for_every_address(
    client: Client, member: User, committed: object
) -> None:
    with committed():  # type: ignore[operator]
        known = client.post("/accounts/password-reset/", {"email": member.email})
        unknown = client.post(
            "/accounts/password-reset/", {"email": "nobody@jubail-valves.example"}
        )

    for response in (known, unknown):
        assertRedirects(response, "/accounts/password-reset/sent/", fetch_redirect_response=False)
    assert [message.to for message in mail.outbox] == [[member.email]]
    assert client.get("/accounts/password-reset/sent/").status_code == 200


def reset_link(message: mail.EmailMessage) -> str:
    return re.search(r"(/accounts/reset/[\w-]+/[\w-]+/)", message.body).group(1)


def test_password_reset_link_sets_a_new_password(
    client: Client, member: User, committed: object
) -> None:
    with committed():  # type: ignore[operator]
        client.post("/accounts/password-reset/", {"email": member.email})
    link = reset_link(mail.outbox[0])
    FailedLogin.objects.create(email=member.email)

    page = client.get(link)
    with committed():  # type: ignore[operator]
        response = client.post(
            link, {"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD}
        )
    reused = client.get(link)

    assert page.status_code == 200
    assertTemplateUsed(page, "accounts/password_reset_confirm.html")
    assertRedirects(response, "/accounts/login/", fetch_redirect_response=False)
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert FailedLogin.objects.count() == 0
    assert reused.status_code == 400
    assertTemplateUsed(reused, "accounts/link_invalid.html")


def test_password_reset_with_a_bad_link_changes_nothing(client: Client, member: User) -> None:
    path = "/accounts/reset/MQ/not-a-token/"

    page = client.get(path)
    response = client.post(
        path, {"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD}
    )

    for answer in (page, response):
        assert answer.status_code == 400
        assert "This link is not valid or has expired." in answer.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_password_reset_needs_the_same_password_twice(
    client: Client, member: User, committed: object
) -> None:
    with committed():  # type: ignore[operator]
        client.post("/accounts/password-reset/", {"email": member.email})

    response = client.post(
        reset_link(mail.outbox[0]),
        {"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD + "x"},
    )

    assert response.context["form"].errors == {
        "new_password_repeat": ["The two passwords are not the same."]
    }
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


# Settings


def test_settings_page_shows_every_section(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.get("/accounts/settings/")

    html = response.content.decode()
    assertTemplateUsed(response, "accounts/settings.html")
    for section in ("profile", "picture", "password", "tokens"):
        assert f'id="{section}"' in html
    assert 'value="vibration analysis"' in html
    assert 'enctype="multipart/form-data"' in html


def test_profile_update_saves_the_profile_and_the_language(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.post(
        "/accounts/settings/profile/",
        {
            "first_name": "Omar",
            "last_name": "Al-Haddad",
            "job_title": "Reliability Lead",
            "expertise_tags": "PLC,  Predictive   maintenance, plc, ",
            "language": "ar",
        },
    )

    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)
    member.refresh_from_db()
    assert member.last_name == "Al-Haddad"
    assert member.job_title == "Reliability Lead"
    assert member.expertise_tags == ["plc", "predictive maintenance"]
    assert member.language == "ar"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": "R2-D2"}, "first_name"),
        ({"expertise_tags": ",".join(f"topic {n}" for n in range(11))}, "expertise_tags"),
        ({"expertise_tags": "x" * 41}, "expertise_tags"),
        ({"language": "fr"}, "language"),
    ],
)
def test_profile_update_with_bad_input_shows_the_error_and_changes_nothing(
    client: Client, member: User, data: dict, field: str
) -> None:
    signed_in(client, member)
    valid = {"first_name": "Omar", "last_name": "Haddad", "job_title": "", "language": "en"}

    response = client.post("/accounts/settings/profile/", {**valid, **data})

    assert response.status_code == 200
    assertTemplateUsed(response, "accounts/settings.html")
    assert list(response.context["profile_form"].errors) == [field]
    member.refresh_from_db()
    assert (member.first_name, member.expertise_tags, member.language) == (
        "Omar",
        ["vibration analysis"],
        "en",
    )


def test_get_on_a_settings_form_address_goes_to_the_settings_page(
    client: Client, member: User
) -> None:
    signed_in(client, member)

    response = client.get("/accounts/settings/profile/")

    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)


def test_password_change_keeps_this_session_and_ends_the_others(
    client: Client, member: User
) -> None:
    signed_in(client, member)
    other_device = Client()
    other_device.force_login(member)

    response = client.post(
        "/accounts/settings/password/",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_repeat": NEW_PASSWORD,
        },
    )

    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert client.get("/accounts/settings/").status_code == 200
    assert other_device.get("/accounts/settings/").status_code == 302


def test_password_change_with_the_wrong_current_password_changes_nothing(
    client: Client, member: User
) -> None:
    signed_in(client, member)

    response = client.post(
        "/accounts/settings/password/",
        {
            "current_password": "not-it-123",
            "new_password": NEW_PASSWORD,
            "new_password_repeat": NEW_PASSWORD,
        },
    )

    assert response.context["password_form"].errors == {
        "current_password": ["The current password is not correct."]
    }
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_avatar_upload_goes_through_the_service(
    client: Client, member: User, media_root: Path, committed: object
) -> None:
    signed_in(client, member)

    with committed():  # type: ignore[operator]
        response = client.post("/accounts/settings/avatar/", {"avatar": png()})

    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)
    member.refresh_from_db()
    assert member.avatar.name.startswith("users/avatars/")
    assert member.avatar.name.endswith(".webp")
    assert f'src="{member.avatar.url}"' in client.get("/accounts/settings/").content.decode()


def test_avatar_that_is_not_an_image_is_refused_on_its_field(
    client: Client, member: User, media_root: Path
) -> None:
    signed_in(client, member)
    fake = SimpleUploadedFile("me.png", b"not an image at all", content_type="image/png")

    response = client.post("/accounts/settings/avatar/", {"avatar": fake})

    assert response.context["avatar_form"].errors == {
        "avatar": ["The file is not a JPEG, PNG or WebP image."]
    }
    member.refresh_from_db()
    assert (member.avatar.name, member.avatar_pending) == ("", "")
    assert list(media_root.rglob("*.*")) == []


def test_api_token_is_shown_once(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.post("/accounts/settings/tokens/", {"name": "ERP export"})
    settings_page = client.get("/accounts/settings/")

    assert response.status_code == 200
    assertTemplateUsed(response, "accounts/api_token_create.html")
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r'value="(p2p_[\w-]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(user=member)
    assert token.name == "ERP export"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    html = settings_page.content.decode()
    assert raw not in html
    assert f"{token.prefix}…" in html
    assert client.get("/api/v1/users/me", headers={"authorization": f"Bearer {raw}"}).json()[
        "email"
    ] == (member.email)


def test_api_token_without_a_name_is_refused(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.post("/accounts/settings/tokens/", {"name": "  "})

    assert response.context["api_token_form"].errors == {"name": ["This field is required."]}
    assert ApiToken.objects.count() == 0


def test_api_token_revoke(client: Client, member: User) -> None:
    token, _ = services.create_api_token(actor=member, name="CI")
    signed_in(client, member)

    response = client.post(f"/accounts/settings/tokens/{token.pk}/revoke/")

    assertRedirects(response, "/accounts/settings/", fetch_redirect_response=False)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_someone_elses_token_is_404_and_changes_nothing(
    client: Client, member: User, admin: User
) -> None:
    token, _ = services.create_api_token(actor=admin, name="Admin's")
    signed_in(client, member)

    response = client.post(f"/accounts/settings/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# Profiles and the people directory


def test_own_profile_page(client: Client, member: User) -> None:
    signed_in(client, member)

    response = client.get("/accounts/profile/")

    html = response.content.decode()
    assert "Omar Haddad" in html
    assert "Maintenance Engineer" in html
    assert "Jubail Valves" in html
    assert member.email in html
    assert 'href="/accounts/settings/"' in html
    assert '<a class="nav-link" href="/accounts/people/">People</a>' in html


def test_person_page_shows_the_profile_but_not_the_email_to_outsiders(
    client: Client, member: User, outsider: User
) -> None:
    signed_in(client, outsider)

    response = client.get(f"/accounts/people/{member.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Omar Haddad" in html
    assert "Maintenance Engineer" in html
    assert "Jubail Valves" in html
    assert "vibration analysis" in html
    assert member.email not in html


def test_person_page_shows_the_email_to_colleagues(
    client: Client, member: User, admin: User
) -> None:
    signed_in(client, admin)

    response = client.get(f"/accounts/people/{member.pk}/")

    assert member.email in response.content.decode()


def test_person_page_is_404_for_unverified_and_deactivated_people(
    client: Client, member: User, unverified: User, user_factory: object
) -> None:
    gone = user_factory(is_active=False)  # type: ignore[operator]
    signed_in(client, member)

    assert client.get(f"/accounts/people/{unverified.pk}/").status_code == 404
    assert client.get(f"/accounts/people/{gone.pk}/").status_code == 404
    assert client.get("/accounts/people/999999/").status_code == 404


def directory_names(response: object) -> list[str]:
    return [person.get_full_name() for person in response.context["people"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({}, ["Aisha Al-Harbi", "Omar Haddad", "Sara Al-Qahtani"]),
        ({"search": "omar"}, ["Omar Haddad"]),
        ({"search": "najd"}, ["Aisha Al-Harbi"]),
        ({"organization": "jubail-valves"}, ["Omar Haddad", "Sara Al-Qahtani"]),
        ({"expertise": "Vibration Analysis"}, ["Omar Haddad"]),
        ({"city": "riyadh"}, ["Aisha Al-Harbi"]),
        ({"city": "Riyadh", "search": "omar"}, []),
    ],
)
def test_directory_filters(
    client: Client,
    admin: User,
    member: User,
    outsider: User,
    unverified: User,
    query: dict,
    names: list[str],
) -> None:
    outsider.last_name = "Al-Harbi"
    outsider.save()
    signed_in(client, admin)

    response = client.get("/accounts/people/", query)

    assert response.status_code == 200
    assert directory_names(response) == names


def test_directory_page_size_is_capped_at_100(client: Client, admin: User, member: User) -> None:
    signed_in(client, admin)

    capped = client.get("/accounts/people/", {"page_size": 500})
    paged = client.get("/accounts/people/", {"page_size": 1, "page": 2})
    nonsense = client.get("/accounts/people/", {"page_size": "many", "page": "last"})

    assert capped.context["page"].paginator.per_page == 100
    assert paged.context["page"].number == 2
    assert directory_names(paged) == ["Sara Al-Qahtani"]
    html = paged.content.decode()
    assert 'href="?page_size=1&amp;page=1"' in html
    assert "Page 2 of 2" in html
    assert nonsense.context["page"].paginator.per_page == 20


def test_directory_queries_do_not_grow_with_the_people_listed(
    client: Client, admin: User, user_factory: object
) -> None:
    signed_in(client, admin)
    client.get("/accounts/people/")
    with CaptureQueriesContext(connection) as few:
        client.get("/accounts/people/")
    user_factory.create_batch(6)  # type: ignore[attr-defined]

    with CaptureQueriesContext(connection) as many:
        response = client.get("/accounts/people/")

    assert len(response.context["people"]) == 7
    assert len(many) == len(few)


# Organization


def test_member_sees_the_organization_without_admin_controls(
    client: Client, member: User, admin: User, user_factory: object, org: Organization
) -> None:
    user_factory(organization=org, is_active=False, first_name="Gone", last_name="Person")  # type: ignore[operator]
    signed_in(client, member)

    response = client.get("/accounts/organization/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Jubail Valves" in html
    assert "Sara Al-Qahtani" in html
    assert "Gone Person" not in html
    assert "/accounts/organization/invitations/" not in html
    assert "/accounts/organization/members/" not in html
    assert "/accounts/organization/edit/" not in html


def test_admin_sees_invitations_and_member_controls(
    client: Client, admin: User, member: User, user_factory: object, org: Organization
) -> None:
    user_factory(organization=org, is_active=False, first_name="Gone", last_name="Person")  # type: ignore[operator]
    services.invite_member(actor=admin, email="lina@jubail-valves.example")
    signed_in(client, admin)

    response = client.get("/accounts/organization/")

    html = response.content.decode()
    assert "Gone Person" in html
    assert "lina@jubail-valves.example" in html
    assert f'action="/accounts/organization/members/{member.pk}/"' in html
    assert f'action="/accounts/organization/members/{admin.pk}/"' not in html
    assert 'action="/accounts/organization/invitations/"' in html


def admin_actions(member: User, invitation: Invitation) -> list[tuple[str, str, dict]]:
    return [
        ("get", "/accounts/organization/edit/", {}),
        ("post", "/accounts/organization/edit/", {"name": "Hijacked"}),
        ("post", "/accounts/organization/logo/", {}),
        ("post", "/accounts/organization/invitations/", {"email": "x@jubail-valves.example"}),
        ("post", f"/accounts/organization/invitations/{invitation.pk}/resend/", {}),
        ("post", f"/accounts/organization/invitations/{invitation.pk}/cancel/", {}),
        ("post", f"/accounts/organization/members/{member.pk}/", {"role": "admin"}),
        ("post", f"/accounts/organization/members/{member.pk}/", {"is_active": "false"}),
    ]


@pytest.mark.parametrize("action", range(8))
def test_member_gets_403_on_admin_actions_and_nothing_changes(
    client: Client, admin: User, member: User, user_factory: object, action: int
) -> None:
    colleague = user_factory(organization=member.organization)  # type: ignore[operator]
    invitation = services.invite_member(actor=admin, email="lina@jubail-valves.example")
    sent_at = invitation.sent_at
    mail.outbox.clear()
    method, path, data = admin_actions(colleague, invitation)[action]
    signed_in(client, member)

    response = getattr(client, method)(path, data)

    assert response.status_code == 403
    assertTemplateUsed(response, "accounts/forbidden.html")
    assert "Only your organization&#x27;s admins can do this." in response.content.decode()
    colleague.refresh_from_db()
    assert (colleague.role, colleague.is_active) == ("member", True)
    invitation.refresh_from_db()
    assert (invitation.cancelled_at, invitation.sent_at) == (None, sent_at)
    assert Invitation.objects.count() == 1
    assert Organization.objects.get(pk=member.organization_id).name == "Jubail Valves"
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/organization/members/{member}/", {"role": "admin"}),
        ("/accounts/organization/members/{member}/", {"is_active": "false"}),
        ("/accounts/organization/invitations/{invitation}/resend/", {}),
        ("/accounts/organization/invitations/{invitation}/cancel/", {}),
    ],
)
def test_acting_on_another_organizations_member_or_invitation_is_404(
    client: Client, admin: User, outsider: User, user_factory: object, path: str, data: dict
) -> None:
    their_member = user_factory(organization=outsider.organization)  # type: ignore[operator]
    their_invitation = services.invite_member(actor=outsider, email="new@najdfoods.example")
    mail.outbox.clear()
    signed_in(client, admin)

    response = client.post(
        path.format(member=their_member.pk, invitation=their_invitation.pk), data
    )

    assert response.status_code == 404
    their_member.refresh_from_db()
    assert (their_member.role, their_member.is_active) == ("member", True)
    their_invitation.refresh_from_db()
    assert their_invitation.cancelled_at is None
    assert mail.outbox == []


def test_admin_invites_a_colleague_by_email(client: Client, admin: User, committed: object) -> None:
    signed_in(client, admin)

    with committed():  # type: ignore[operator]
        response = client.post(
            "/accounts/organization/invitations/",
            {"email": "Lina@Jubail-Valves.example", "role": "member"},
        )

    assertRedirects(response, "/accounts/organization/", fetch_redirect_response=False)
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "lina@jubail-valves.example",
        "member",
        admin,
    )
    assert [message.to for message in mail.outbox] == [["lina@jubail-valves.example"]]
    assert re.search(r"/accounts/invitations/[\w-]+/", mail.outbox[0].body)
    assert flashed(response) == ["An invitation is on its way to lina@jubail-valves.example."]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("lina@gmail.com", "Invite people with an email address in your organization's domain."),
        ("omar@jubail-valves.example", "This person already has an account on P2P Sandbox."),
    ],
)
def test_invitation_refused_by_the_service_shows_on_the_email_field(
    client: Client, admin: User, member: User, email: str, message: str
) -> None:
    signed_in(client, admin)

    response = client.post("/accounts/organization/invitations/", {"email": email})

    assert response.status_code == 200
    assertTemplateUsed(response, "accounts/organization.html")
    assert response.context["invitation_form"].errors == {"email": [message]}
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_admin_resends_after_the_cooldown_and_cancels_an_invitation(
    client: Client, admin: User, committed: object
) -> None:
    invitation = services.invite_member(actor=admin, email="lina@jubail-valves.example")
    signed_in(client, admin)
    resend = f"/accounts/organization/invitations/{invitation.pk}/resend/"

    with committed():  # type: ignore[operator]
        too_soon = client.post(resend)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)), committed():  # type: ignore[operator]
        resent = client.post(resend)
    cancelled = client.post(f"/accounts/organization/invitations/{invitation.pk}/cancel/")

    assert re.fullmatch(
        r"This invitation was sent less than a minute ago\. Try again in (60|59) seconds\.",
        flashed(too_soon)[-1],
    )
    assert flashed(resent)[-1] == "A new invitation is on its way to lina@jubail-valves.example."
    assert len(mail.outbox) == 1
    assertRedirects(cancelled, "/accounts/organization/", fetch_redirect_response=False)
    invitation.refresh_from_db()
    assert invitation.cancelled_at is not None


def test_admin_changes_a_role_and_deactivates_and_reactivates_a_member(
    client: Client, admin: User, member: User
) -> None:
    signed_in(client, admin)
    member_session = Client()
    member_session.force_login(member)
    path = f"/accounts/organization/members/{member.pk}/"

    promoted = client.post(path, {"role": "admin"})
    member.refresh_from_db()
    assert member.role == "admin"
    deactivated = client.post(path, {"is_active": "false"})
    member.refresh_from_db()
    assert member.is_active is False
    assert member_session.get("/accounts/profile/").status_code == 302
    reactivated = client.post(path, {"is_active": "true"})

    member.refresh_from_db()
    assert member.is_active is True
    assert flashed(promoted)[-1] == "Omar Haddad is now: Organization admin."
    assert flashed(deactivated)[-1] == "Omar Haddad is deactivated and signed out everywhere."
    assert flashed(reactivated)[-1] == "Omar Haddad is active again."


def test_last_admin_cannot_step_down(client: Client, admin: User) -> None:
    signed_in(client, admin)

    response = client.post(f"/accounts/organization/members/{admin.pk}/", {"role": "member"})

    assertRedirects(response, "/accounts/organization/", fetch_redirect_response=False)
    assert flashed(response) == ["An organization must keep at least one active admin."]
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_member_update_without_a_change_is_refused(
    client: Client, admin: User, member: User
) -> None:
    signed_in(client, admin)

    response = client.post(f"/accounts/organization/members/{member.pk}/", {"role": "owner"})

    assert flashed(response) == ["Choose a role, or deactivate or reactivate the member."]
    member.refresh_from_db()
    assert member.role == "member"


def test_admin_edits_the_organization_profile(client: Client, admin: User) -> None:
    signed_in(client, admin)

    page = client.get("/accounts/organization/edit/")
    response = client.post(
        "/accounts/organization/edit/",
        {
            "name": "Jubail Valves & Fittings",
            "industry_sector": "manufacturing",
            "size": "medium",
            "city": "Jubail",
            "country": "sa",
            "website": "https://jubail-valves.example",
        },
    )

    assert 'value="Jubail Valves"' in page.content.decode()
    assertRedirects(response, "/accounts/organization/", fetch_redirect_response=False)
    organization = Organization.objects.get(pk=admin.organization_id)
    assert (organization.name, organization.size, organization.country) == (
        "Jubail Valves & Fittings",
        "medium",
        "SA",
    )


def test_organization_profile_with_bad_input_changes_nothing(client: Client, admin: User) -> None:
    signed_in(client, admin)

    response = client.post(
        "/accounts/organization/edit/",
        {"name": "J", "industry_sector": "cheese", "size": "small", "country": "Saudi"},
    )

    assert set(response.context["form"].errors) == {"name", "industry_sector", "country"}
    assert Organization.objects.get(pk=admin.organization_id).name == "Jubail Valves"


def test_admin_uploads_the_logo(
    client: Client, admin: User, media_root: Path, committed: object
) -> None:
    signed_in(client, admin)

    with committed():  # type: ignore[operator]
        response = client.post("/accounts/organization/logo/", {"logo": png("logo.png")})

    assertRedirects(response, "/accounts/organization/edit/", fetch_redirect_response=False)
    organization = Organization.objects.get(pk=admin.organization_id)
    assert organization.logo.name.startswith("organizations/logos/")


def test_user_without_an_organization_has_no_organization_page(
    client: Client, user_factory: object
) -> None:
    loner = user_factory(organization=None, email="staff@p2psandbox.example")  # type: ignore[operator]
    signed_in(client, loner)

    assert client.get("/accounts/organization/").status_code == 404
    assert client.get("/accounts/organization/edit/").status_code == 403


# Invitations


def invitation_link(admin: User, email: str, committed: object) -> str:
    with committed():  # type: ignore[operator]
        services.invite_member(actor=admin, email=email)
    return re.search(r"(/accounts/invitations/[\w-]+/)", mail.outbox[-1].body).group(1)


def test_invitation_accept_page_creates_the_member_and_signs_them_in(
    client: Client, admin: User, committed: object
) -> None:
    link = invitation_link(admin, "lina@jubail-valves.example", committed)

    page = client.get(link)
    response = client.post(
        link, {"first_name": "Lina", "last_name": "Farouk", "password": NEW_PASSWORD}
    )

    html = page.content.decode()
    assert "Jubail Valves" in html
    assert "lina@jubail-valves.example" in html
    assertRedirects(response, "/", fetch_redirect_response=False)
    lina = User.objects.get(email="lina@jubail-valves.example")
    assert (lina.organization_id, lina.role, lina.is_email_verified) == (
        admin.organization_id,
        "member",
        True,
    )
    assert signed_in_user_id(client) == lina.pk
    assert Invitation.objects.get().accepted_at is not None
    assert client.get(link).status_code == 400


def test_invitation_accept_with_a_weak_password_creates_nothing(
    client: Client, admin: User, committed: object
) -> None:
    link = invitation_link(admin, "lina@jubail-valves.example", committed)

    response = client.post(link, {"first_name": "Lina", "password": "password"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"password": ["This password is too common."]}
    assert not User.objects.filter(email="lina@jubail-valves.example").exists()
    assert Invitation.objects.get().accepted_at is None


def test_unknown_invitation_link_shows_the_invalid_link_page(client: Client) -> None:
    page = client.get("/accounts/invitations/not-a-token/")
    response = client.post(
        "/accounts/invitations/not-a-token/", {"first_name": "X", "password": NEW_PASSWORD}
    )

    for answer in (page, response):
        assert answer.status_code == 400
        assertTemplateUsed(answer, "accounts/link_invalid.html")
    assert User.objects.count() == 0
