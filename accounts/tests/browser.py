"""What the browser tests of several apps share: a signed-in person's tab, and two people, each
in a browser context of their own (their own cookies), signed in to the test server."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from playwright.async_api import Page, expect

from accounts.models import User
from accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory


@dataclass
class Tab:
    """A browser tab, with the console errors and uncaught exceptions it reported."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def record_errors(self) -> None:
        self.page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(message.text),
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def sign_in_as(self, user: User) -> None:
        await self.page.goto("/accounts/login/")
        await self.page.get_by_label("Email address").fill(user.email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.locator("main").get_by_role("button", name="Sign in").click()
        await expect(self.page).to_have_url(re.compile(r"/$"))

    async def mark_page(self) -> None:
        """Tag the loaded document: the tag survives everything but a (re)load."""
        await self.page.evaluate("document.body.dataset.testLoaded = 'once'")

    async def assert_not_reloaded(self) -> None:
        await expect(self.page.locator("body")).to_have_attribute("data-test-loaded", "once")


@dataclass
class Person(Tab):
    """One person's tab."""

    user: User = field(kw_only=True)

    async def sign_in(self) -> None:
        await self.sign_in_as(self.user)


def make_person(first_name: str, last_name: str, organization: str, email: str) -> User:
    return UserFactory(
        organization=OrganizationFactory(name=organization),
        first_name=first_name,
        last_name=last_name,
        email=email,
    )


@asynccontextmanager
async def sara_and_omar_signed_in(
    browser_page: Any, asgi_server: Any, person_class: type[Person] = Person
) -> AsyncIterator[tuple[Any, Any]]:
    """Sara in the `browser_page` tab and Omar in a second browser context, both signed in."""
    sara = await sync_to_async(make_person)(
        "Sara", "Haddad", "Jubail Valves", "sara@jubail-valves.example"
    )
    omar = await sync_to_async(make_person)(
        "Omar", "Khalil", "Najd Foods", "omar@najdfoods.example"
    )
    browser = browser_page.page.context.browser
    context = await browser.new_context(base_url=asgi_server.url)
    try:
        people = (
            person_class(browser_page.page, browser_page.errors, user=sara),
            person_class(await context.new_page(), user=omar),
        )
        people[1].record_errors()
        for person in people:
            await person.sign_in()
        yield people
    finally:
        await context.close()
