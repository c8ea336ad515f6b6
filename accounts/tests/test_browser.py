import re

import pytest
from playwright.async_api import expect

from accounts.models import User
from p2p_sandbox.models import OutboundEmail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "layla@yanbu-steel.example"
PASSWORD = "Welded-Seams-2026"


async def sent_code(to: str) -> str:
    """The code in the verification email the server sent, read from the email outbox."""
    email = await OutboundEmail.objects.filter(to=to).order_by("-created_at").afirst()
    assert email is not None, f"no email was sent to {to}"
    return re.search(r"\b(\d{6})\b", email.text_body).group(1)


async def test_sign_up_verify_sign_out_and_sign_in_again(browser_page: object) -> None:
    page = browser_page.page  # type: ignore[attr-defined]
    user_menu = page.locator("#user-menu")

    await page.goto("/")
    await page.get_by_role("link", name="Join your organization").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Join P2P Sandbox")
    await page.get_by_label("First name").fill("Layla")
    await page.get_by_label("Last name").fill("Al-Shammari")
    await page.get_by_label("Organization name").fill("Yanbu Steel Works")
    await page.get_by_label("Work email address").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()

    await expect(page).to_have_url(re.compile(r"/accounts/verify/$"))
    await expect(page.locator("#messages")).to_contain_text(f"We sent a 6-digit code to {EMAIL}")
    await page.get_by_label("6-digit code").fill(await sent_code(EMAIL))
    await page.get_by_role("button", name="Confirm").click()

    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.locator("#messages")).to_contain_text("Your email address is confirmed.")
    await expect(user_menu.get_by_role("link", name="Layla Al-Shammari")).to_be_visible()
    user = await User.objects.select_related("organization").aget(email=EMAIL)
    assert user.is_email_verified
    assert (user.role, user.organization.name) == ("admin", "Yanbu Steel Works")

    await user_menu.get_by_role("button", name="Sign out").click()

    await expect(page.locator("#messages")).to_contain_text("You are signed out.")
    await user_menu.get_by_role("link", name="Sign in").click()
    await page.get_by_label("Email address").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.locator("main").get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(user_menu.get_by_role("link", name="Layla Al-Shammari")).to_be_visible()
    # Console errors include Content-Security-Policy violations and failed static files.
    assert browser_page.errors == []  # type: ignore[attr-defined]


async def test_wrong_password_shows_the_error_in_the_browser(browser_page: object) -> None:
    page = browser_page.page  # type: ignore[attr-defined]

    await page.goto("/accounts/login/")
    await page.get_by_label("Email address").fill("nobody@factory.example")
    await page.get_by_label("Password").fill("not-the-password")
    await page.locator("main").get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("The email address or password is not correct.")
    await expect(page.get_by_label("Email address")).to_have_value("nobody@factory.example")
    assert browser_page.errors == []  # type: ignore[attr-defined]
