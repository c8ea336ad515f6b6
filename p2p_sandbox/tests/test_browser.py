import pytest
from playwright.async_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def test_landing_page_renders_in_a_browser_without_errors(browser_page: object) -> None:
    page = browser_page.page  # type: ignore[attr-defined]

    response = await page.goto("/")

    assert response.status == 200
    await expect(page.locator("h1#hero-title")).to_have_text("Where factories learn from factories")
    await expect(page.get_by_role("navigation", name="Primary")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    stylesheet_applied = await page.evaluate(
        "getComputedStyle(document.querySelector('main')).display !== 'inline'"
    )
    assert stylesheet_applied is True
    # Console errors include Content-Security-Policy violations and failed static files.
    assert browser_page.errors == []  # type: ignore[attr-defined]


async def test_menu_button_opens_and_closes_the_navigation_on_a_phone(
    browser_page: object,
) -> None:
    page = browser_page.page  # type: ignore[attr-defined]
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/")
    menu_button = page.locator("#menu-toggle")
    menu = page.locator("#site-menu")

    await expect(menu_button).to_have_attribute("aria-expanded", "false")
    await expect(menu).to_be_hidden()
    await menu_button.click()
    await expect(menu_button).to_have_attribute("aria-expanded", "true")
    await expect(menu).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(menu_button).to_have_attribute("aria-expanded", "false")
    await expect(menu).to_be_hidden()
    await expect(menu_button).to_be_focused()
    assert browser_page.errors == []  # type: ignore[attr-defined]


async def test_arabic_page_is_right_to_left_in_a_browser(browser_page: object) -> None:
    page = browser_page.page  # type: ignore[attr-defined]
    await page.set_extra_http_headers({"Accept-Language": "ar"})

    await page.goto("/")

    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("html")).to_have_attribute("lang", "ar")
    direction = await page.evaluate("getComputedStyle(document.body).direction")
    assert direction == "rtl"
