import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from accounts.models import User
from accounts.tests import browser
from forums import services
from forums.models import Category, Post, Topic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Person(browser.Person):
    async def wait_until_live(self) -> None:
        """The page's forum socket is connected and caught up."""
        await expect(self.page.locator("[data-forum-page]")).to_have_attribute(
            "data-live-state", "live"
        )

    def posts(self) -> Any:
        return self.page.locator("#post-list > .forum-post")


@pytest.fixture
async def sara_and_omar(browser_page: Any, asgi_server: Any) -> AsyncIterator[tuple]:
    async with browser.sara_and_omar_signed_in(browser_page, asgi_server, Person) as people:
        yield people


def category(slug: str, name: str) -> Category:
    """A seeded category: tests with committed transactions empty the tables after them, the
    data migration's rows too."""
    return Category.objects.get_or_create(slug=slug, defaults={"name": name})[0]


def open_topic(author: User, replier: User) -> int:
    category("maintenance", "Maintenance")
    topic = services.create_topic(
        actor=author,
        category="maintenance",
        title="How often do you replace pump seals?",
        content="Our **seals** fail every 3 months.",
    )
    services.create_post(actor=replier, topic_id=topic.pk, content="Which seal type?")
    return topic.pk


async def test_two_people_follow_one_topic_live(sara_and_omar: tuple) -> None:
    sara, omar = sara_and_omar
    topic_id = await sync_to_async(open_topic)(sara.user, omar.user)

    await sara.page.goto(f"/forums/t/{topic_id}/")
    await sara.wait_until_live()
    await sara.mark_page()
    viewers = sara.page.locator("#topic-viewer-count")
    await expect(viewers).to_have_text("1 viewing")

    # Omar opens the same topic: Sara sees him arrive.
    await omar.page.goto(f"/forums/t/{topic_id}/")
    await omar.wait_until_live()
    await omar.mark_page()
    await expect(viewers).to_have_text("2 viewing")
    await expect(sara.page.locator("#topic-viewer-names")).to_have_text("Omar Khalil")
    await expect(omar.page.locator("#topic-viewer-names")).to_have_text("Sara Haddad")

    # Omar writes: Sara sees him typing, then his reply, without reloading.
    await omar.page.get_by_label("Your reply").fill("Cartridge seals, **EPDM**.")
    await expect(sara.page.locator("#topic-typing")).to_have_text("Omar Khalil is typing…")
    await omar.page.get_by_role("button", name="Post reply").click()

    await expect(sara.posts()).to_have_count(2)
    arrived = sara.posts().last
    await expect(arrived.locator(".forum-post__body")).to_have_text("Cartridge seals, EPDM.")
    await expect(arrived.locator(".forum-post__author")).to_have_text("Omar Khalil")
    await expect(arrived.locator(".forum-post__organization")).to_have_text("Najd Foods")
    await expect(sara.page.locator("#topic-typing")).to_have_text("")
    await expect(sara.page.locator("#topic-reply-count")).to_have_text("2")
    # Omar's page shows his own reply once, from the socket; his form is empty again.
    await expect(omar.posts()).to_have_count(2)
    await expect(omar.posts().last.locator(".forum-post__body")).to_have_text(
        "Cartridge seals, EPDM."
    )
    await expect(omar.page.get_by_label("Your reply")).to_have_value("")
    await omar.assert_not_reloaded()

    # Sara answers that reply with "Reply"; Omar sees the quote, and likes it.
    await arrived.get_by_role("link", name="Reply").click()
    await expect(sara.page.locator("#reply-to-name")).to_have_text("Omar Khalil")
    await sara.page.get_by_label("Your reply").fill("Thanks, we will try EPDM.")
    await sara.page.get_by_role("button", name="Post reply").click()
    answer_at_omar = omar.posts().last
    await expect(answer_at_omar.locator(".forum-post__quote")).to_have_text(
        "In reply to Omar Khalil Cartridge seals, EPDM."
    )
    await expect(sara.page.locator("#reply-to")).to_be_hidden()
    await answer_at_omar.get_by_role("button", name="Like").click()
    await expect(answer_at_omar.locator(".like-button")).to_have_attribute("aria-pressed", "true")
    await expect(sara.posts().last.locator("[data-like-count]")).to_have_text("1")

    # Sara, the topic's author, marks Omar's reply as the best answer: Omar sees it.
    await sara.posts().nth(1).get_by_role("button", name="Mark best answer").click()
    await expect(omar.posts().nth(1).locator("[data-best-marker]")).to_be_visible()
    await expect(omar.page.locator("#topic-solved")).to_be_visible()

    # Omar leaves: Sara sees the count go down.
    await omar.page.goto("/forums/")
    await expect(viewers).to_have_text("1 viewing")
    await expect(sara.page.locator("#topic-viewer-names")).to_have_text("")

    await sara.assert_not_reloaded()
    posts = await sync_to_async(list)(
        Post.objects.filter(topic_id=topic_id)
        .order_by("id")
        .values_list("pk", "author_id", "content", "reply_to_id", "like_count")
    )
    _question, answer, thanks = posts
    assert [(p[1], p[2], p[4]) for p in posts] == [
        (omar.user.pk, "Which seal type?", 0),
        (omar.user.pk, "Cartridge seals, **EPDM**.", 0),
        (sara.user.pk, "Thanks, we will try EPDM.", 1),
    ]
    assert thanks[3] == answer[0]
    topic = await Topic.objects.aget(pk=topic_id)
    assert (topic.reply_count, topic.best_answer_id) == (3, answer[0])
    assert sara.errors == []
    assert omar.errors == []


async def test_a_new_topic_with_its_preview_appears_in_an_open_list(
    sara_and_omar: tuple,
) -> None:
    sara, omar = sara_and_omar
    await sync_to_async(category)("energy-efficiency", "Energy Efficiency")
    await omar.page.goto("/forums/")
    await omar.wait_until_live()
    await omar.mark_page()
    banner = omar.page.locator("#new-topics")
    await expect(banner).to_be_hidden()

    await sara.page.goto("/forums/new/?category=energy-efficiency")
    await expect(sara.page.get_by_label("Category")).to_have_value("energy-efficiency")
    await sara.page.get_by_label("Title").fill("Compressed air leaks: how do you find them?")
    await sara.page.get_by_label("Text").fill(
        "We lose **30%** of our air.\n\n<script>alert('x')</script>"
    )
    await sara.page.get_by_label("Tags").fill("compressed air, leaks")
    await sara.page.get_by_role("button", name="Preview").click()

    preview = sara.page.locator("[data-preview-body]")
    await expect(preview.locator("strong")).to_have_text("30%")
    await expect(preview).to_contain_text("<script>alert('x')</script>")
    assert await preview.locator("script").count() == 0
    await expect(sara.page).to_have_url(re.compile(r"/forums/new/\?category=energy-efficiency$"))
    assert await Topic.objects.acount() == 0

    await sara.page.get_by_role("button", name="Publish topic").click()
    await expect(sara.page).to_have_url(re.compile(r"/forums/t/\d+/$"))
    await expect(sara.page.get_by_role("heading", level=1)).to_have_text(
        "Compressed air leaks: how do you find them?"
    )
    await expect(sara.page.locator(".forum-topic__body strong")).to_have_text("30%")

    # Omar's open list counts the new topic and shows it on request, without reloading.
    await expect(banner).to_be_visible()
    await expect(omar.page.locator("#new-topics-text")).to_have_text("1 new topic")
    await omar.page.get_by_role("button", name="Show").click()
    await expect(banner).to_be_hidden()
    row = omar.page.locator("#topic-list .topic-row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".topic-row__title")).to_have_text(
        "Compressed air leaks: how do you find them?"
    )
    await omar.assert_not_reloaded()

    topic = await Topic.objects.select_related("category").aget()
    assert (topic.author_id, topic.category.slug) == (sara.user.pk, "energy-efficiency")
    assert sara.errors == []
    assert omar.errors == []


async def test_a_dropped_socket_reconnects_and_resumes_the_missed_replies(
    sara_and_omar: tuple,
) -> None:
    sara, omar = sara_and_omar
    topic_id = await sync_to_async(open_topic)(sara.user, omar.user)
    sockets: list[Any] = []
    refuse = {"connections": False}

    async def route(socket: Any) -> None:
        if refuse["connections"]:
            await socket.close(code=4000, reason="test: server unreachable")
            return
        socket.connect_to_server()
        sockets.append(socket)

    await omar.page.route_web_socket(re.compile(r"/ws/forum/\d+/$"), route)
    await omar.page.goto(f"/forums/t/{topic_id}/")
    await omar.wait_until_live()
    await omar.mark_page()
    await sara.page.goto(f"/forums/t/{topic_id}/")
    await sara.wait_until_live()

    # Omar's connection drops and, for a while, cannot come back; Sara replies meanwhile.
    refuse["connections"] = True
    await sockets[-1].close(code=4000, reason="test: connection lost")
    await expect(omar.page.locator("[data-forum-page]")).to_have_attribute(
        "data-live-state", "offline"
    )
    for text in ["First while you were away", "Second while you were away"]:
        await sara.page.get_by_label("Your reply").fill(text)
        await sara.page.get_by_role("button", name="Post reply").click()
        await expect(sara.posts().last.locator(".forum-post__body")).to_have_text(text)
    refuse["connections"] = False

    await expect(omar.posts().locator(".forum-post__body")).to_have_text(
        ["Which seal type?", "First while you were away", "Second while you were away"],
        timeout=20_000,
    )
    await omar.wait_until_live()
    await omar.assert_not_reloaded()
    assert len(sockets) == 2
    assert await Post.objects.filter(topic_id=topic_id).acount() == 3
    assert sara.errors == []
    assert omar.errors == []


def fill_topic(author: User, replier: User, count: int) -> tuple[int, list[int]]:
    category("general", "General")
    topic = services.create_topic(actor=author, category="general", title="Kiln burner readings")
    posts = [
        services.create_post(actor=replier, topic_id=topic.pk, content=f"Reading {number}")
        for number in range(1, count + 1)
    ]
    return topic.pk, [post.pk for post in posts]


async def test_older_replies_load_in_place_and_edits_and_deletions_show_live(
    sara_and_omar: tuple,
) -> None:
    sara, omar = sara_and_omar
    topic_id, post_ids = await sync_to_async(fill_topic)(sara.user, omar.user, 52)

    await sara.page.goto(f"/forums/t/{topic_id}/")
    await sara.wait_until_live()
    await sara.mark_page()
    bodies = sara.posts().locator(".forum-post__body")
    await expect(sara.posts()).to_have_count(50)
    await expect(bodies.first).to_have_text("Reading 3")

    await sara.page.get_by_role("link", name="Older replies").click()
    await expect(sara.posts()).to_have_count(52)
    await expect(bodies.first).to_have_text("Reading 1")
    await expect(sara.page.locator("#posts-older")).to_have_count(0)

    # Omar corrects his last reading and deletes the one before, through his pages (the
    # edit page, then the delete button that asks first): Sara sees both in place.
    await omar.page.goto(f"/forums/t/{topic_id}/")
    own = omar.page.locator(f"#post-{post_ids[-1]}")
    await own.get_by_role("link", name="Edit").click()
    await omar.page.get_by_label("Text").fill("Reading 52: *corrected*")
    await omar.page.get_by_role("button", name="Save changes").click()
    await expect(omar.page).to_have_url(re.compile(rf"/forums/t/{topic_id}/#post-\d+$"))
    omar.page.once("dialog", lambda dialog: dialog.accept())
    await omar.page.locator(f"#post-{post_ids[-2]}").get_by_role("button", name="Delete").click()
    await expect(omar.page.locator(".message--success")).to_have_text("The post is deleted.")

    last = sara.page.locator(f"#post-{post_ids[-1]}")
    await expect(last.locator(".forum-post__body")).to_have_text("Reading 52: corrected")
    await expect(last.locator(".forum-post__edited")).to_have_text("edited")
    deleted = sara.page.locator(f"#post-{post_ids[-2]}")
    await expect(deleted.locator(".forum-post__deleted")).to_have_text("Post deleted")
    await expect(deleted).to_have_class(re.compile("is-deleted"))
    await expect(sara.page.locator("#topic-reply-count")).to_have_text("51")
    await expect(sara.posts()).to_have_count(52)
    await sara.assert_not_reloaded()
    assert sara.errors == []
    assert omar.errors == []
