"""The failed sign-in lockout counts per device: a browser its owner signed in on before is not
locked out by failures from elsewhere (accounts/devices.py)."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client, override_settings

from accounts.devices import SALT
from accounts.models import FailedLogin, User
from accounts.tests.factories import PASSWORD
from conftest import JsonClient

pytestmark = pytest.mark.django_db

EMAIL = "omar@jubail-valves.example"
LOGIN = "/api/v1/auth/login"
DEVICE_COOKIE = settings.LOGIN_DEVICE_COOKIE_NAME


@pytest.fixture
def browser(django_capture_on_commit_callbacks: object) -> Callable[[], JsonClient]:
    """A new browser with no cookies, speaking JSON to the API."""
    return lambda: JsonClient(Client(), django_capture_on_commit_callbacks)


@pytest.fixture
def omar(user_factory: object) -> User:
    return user_factory(email=EMAIL)  # type: ignore[operator]


def login(browser: JsonClient, password: str, email: str = EMAIL) -> object:
    return browser.post(LOGIN, {"email": email, "password": password})


def known_browser(browser: Callable[[], JsonClient], email: str = EMAIL) -> JsonClient:
    """A browser that signed in as `email` and signed out again."""
    laptop = browser()
    assert login(laptop, PASSWORD, email).status_code == 200  # type: ignore[attr-defined]
    assert laptop.post("/api/v1/auth/logout").status_code == 204  # type: ignore[attr-defined]
    return laptop


def fail_five_times(client: JsonClient, email: str = EMAIL) -> list[int]:
    return [
        login(client, "wrong-password", email).status_code  # type: ignore[attr-defined]
        for _ in range(settings.LOGIN_FAILURE_LIMIT)
    ]


def device_id_of(client: JsonClient) -> str:
    return signing.loads(client.client.cookies[DEVICE_COOKIE].value, salt=SALT)["device"]


@override_settings(SESSION_COOKIE_SECURE=True)
def test_login_sets_a_signed_http_only_year_long_device_cookie(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    response = login(browser(), PASSWORD)

    cookie = response.cookies[DEVICE_COOKIE]  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert signing.loads(cookie.value, salt=SALT)["user"] == omar.pk
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"


def test_login_failure_sets_no_device_cookie(browser: Callable[[], JsonClient], omar: User) -> None:
    response = login(browser(), "wrong-password")

    assert response.status_code == 401  # type: ignore[attr-defined]
    assert DEVICE_COOKIE not in response.cookies  # type: ignore[attr-defined]


def test_login_from_the_same_browser_keeps_its_device_id(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    laptop = known_browser(browser)
    first = device_id_of(laptop)

    assert login(laptop, PASSWORD).status_code == 200  # type: ignore[attr-defined]
    assert device_id_of(laptop) == first


def test_logout_keeps_the_device_cookie(browser: Callable[[], JsonClient], omar: User) -> None:
    laptop = browser()
    login(laptop, PASSWORD)
    before = laptop.client.cookies[DEVICE_COOKIE].value

    logout = laptop.post("/api/v1/auth/logout")

    assert logout.status_code == 204  # type: ignore[attr-defined]
    assert DEVICE_COOKIE not in logout.cookies  # type: ignore[attr-defined]
    assert laptop.client.cookies[DEVICE_COOKIE].value == before
    assert laptop.get("/api/v1/users/me").status_code == 401  # type: ignore[attr-defined]


def test_login_from_a_known_device_is_not_locked_out_by_failures_from_elsewhere(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    laptop = known_browser(browser)
    attacker = browser()

    failures = fail_five_times(attacker)
    locked = login(attacker, PASSWORD)
    stranger = login(browser(), PASSWORD)
    known = login(laptop, PASSWORD)

    assert failures == [401] * 5
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert locked.json()["code"] == "account_locked"  # type: ignore[attr-defined]
    assert 890 <= int(locked["Retry-After"]) <= 900  # type: ignore[index]
    assert stranger.status_code == 429  # type: ignore[attr-defined]
    assert known.status_code == 200  # type: ignore[attr-defined]
    assert known.json()["user"]["id"] == omar.pk  # type: ignore[attr-defined]
    # The failures from elsewhere still count against the unknown devices.
    assert FailedLogin.objects.filter(email=EMAIL, device="").count() == 5


def test_login_five_failures_from_a_known_device_lock_that_device_only(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    laptop = known_browser(browser)

    failures = fail_five_times(laptop)
    locked = login(laptop, PASSWORD)
    elsewhere = login(browser(), PASSWORD)

    assert failures == [401] * 5
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert 890 <= int(locked["Retry-After"]) <= 900  # type: ignore[index]
    assert elsewhere.status_code == 200  # type: ignore[attr-defined]
    assert list(FailedLogin.objects.values_list("device", flat=True)) == [device_id_of(laptop)] * 5


def test_login_with_a_tampered_device_cookie_counts_as_unknown(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    laptop = known_browser(browser)
    value = laptop.client.cookies[DEVICE_COOKIE].value
    laptop.client.cookies[DEVICE_COOKIE] = value[:-1] + ("A" if value[-1] != "A" else "B")
    fail_five_times(browser())

    response = login(laptop, PASSWORD)

    assert response.status_code == 429  # type: ignore[attr-defined]
    assert DEVICE_COOKIE not in response.cookies  # type: ignore[attr-defined]


def test_login_with_a_forged_device_cookie_for_the_user_counts_as_unknown(
    browser: Callable[[], JsonClient], omar: User
) -> None:
    forger = browser()
    forger.client.cookies[DEVICE_COOKIE] = signing.dumps(
        {"user": omar.pk, "device": "guessed"}, salt=SALT, key="not-the-secret-key"
    )
    fail_five_times(browser())

    assert login(forger, PASSWORD).status_code == 429  # type: ignore[attr-defined]


def test_login_with_another_users_device_cookie_counts_as_unknown(
    browser: Callable[[], JsonClient], omar: User, user_factory: object
) -> None:
    layla = user_factory(email="layla@jubail-valves.example")  # type: ignore[operator]
    shared = known_browser(browser, layla.email)
    fail_five_times(browser())

    failures_before = FailedLogin.objects.count()
    response = login(shared, PASSWORD)

    assert response.status_code == 429  # type: ignore[attr-defined]
    assert FailedLogin.objects.count() == failures_before


def test_login_page_sets_the_device_cookie_and_its_browser_is_not_locked_out(
    client: Client, browser: Callable[[], JsonClient], omar: User
) -> None:
    signed_in = client.post("/accounts/login/", {"email": EMAIL, "password": PASSWORD})
    client.post("/accounts/logout/")
    fail_five_times(browser())

    response = client.post("/accounts/login/", {"email": EMAIL, "password": PASSWORD})
    stranger = Client().post("/accounts/login/", {"email": EMAIL, "password": PASSWORD})

    cookie = signed_in.cookies[DEVICE_COOKIE]
    assert signing.loads(cookie.value, salt=SALT)["user"] == omar.pk
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert response.status_code == 302
    assert stranger.status_code == 429
