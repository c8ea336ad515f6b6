import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from accounts.models import User
from accounts.tests import browser
from messaging import services
from messaging.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Person(browser.Person):
    async def wait_until_live(self) -> None:
        """The page's personal stream is connected and caught up."""
        await expect(self.page.locator("html")).to_have_attribute("data-stream-state", "live")

    def header_count(self, kind: str) -> Any:
        return self.page.locator(f'#user-menu [data-unread="{kind}"]')


@pytest.fixture
async def sara_and_omar(browser_page: Any, asgi_server: Any) -> AsyncIterator[tuple]:
    async with browser.sara_and_omar_signed_in(browser_page, asgi_server, Person) as people:
        yield people


async def test_two_people_chat_live(sara_and_omar: tuple) -> None:
    sara, omar = sara_and_omar

    # Omar waits on his (empty) inbox; Sara opens his profile and presses "Message".
    await omar.page.goto("/messages/")
    await omar.wait_until_live()
    await expect(omar.header_count("messages")).to_be_hidden()
    await sara.page.goto(f"/accounts/people/{omar.user.pk}/")
    await sara.page.locator("main").get_by_role("button", name="Message", exact=True).click()
    await expect(sara.page).to_have_url(re.compile(r"/messages/\d+/$"))
    await expect(sara.page.get_by_role("heading", level=1)).to_have_text("Omar Khalil")
    await sara.wait_until_live()

    await sara.page.get_by_label("Message", exact=True).fill("How did the **valve** retrofit go?")
    await sara.page.get_by_role("button", name="Send").click()

    sara_message = sara.page.locator(".chat-message--own").last
    await expect(sara_message.locator(".chat-message__body")).to_have_text(
        "How did the valve retrofit go?"
    )
    await expect(sara_message).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    # Omar's inbox and header update without a reload.
    row = omar.page.locator(".conversation-row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".conversation-row__name")).to_have_text("Sara Haddad")
    await expect(row.locator("[data-excerpt]")).to_have_text("How did the valve retrofit go?")
    await expect(row.locator("[data-unread-badge]")).to_have_text("1 unread")
    await expect(omar.header_count("messages")).to_have_text("1 unread")

    # Omar opens the conversation: it is read, and Sara sees the receipt.
    await row.get_by_role("link").click()
    await expect(omar.page.locator(".chat-message").last).to_contain_text(
        "How did the valve retrofit go?"
    )
    await expect(omar.header_count("messages")).to_be_hidden()
    await expect(sara_message.locator(".chat-message__receipt")).to_have_text("Seen")
    await omar.wait_until_live()

    # Omar types: Sara sees it, then his message, without reloading.
    await omar.page.get_by_label("Message", exact=True).fill("Very well: 14% less energy.")
    await expect(sara.page.locator("#chat-typing")).to_have_text("Omar Khalil is typing…")
    await omar.page.get_by_label("Message", exact=True).press("Enter")

    omar_message_at_sara = sara.page.locator(".chat-message:not(.chat-message--own)").last
    await expect(omar_message_at_sara.locator(".chat-message__body")).to_have_text(
        "Very well: 14% less energy."
    )
    await expect(omar_message_at_sara.locator(".chat-message__sender")).to_have_text("Omar Khalil")
    await expect(sara.page.locator("#chat-typing")).to_have_text("")
    # Sara's page is visible, so it read the message: Omar sees the receipt.
    omar_message = omar.page.locator(".chat-message--own").last
    await expect(omar_message.locator(".chat-message__receipt")).to_have_text("Seen")
    await expect(omar.page.locator("[data-receipt]")).to_have_count(1)

    # Sara goes to her inbox; Omar writes again: her header and the row count it live.
    await sara.page.goto("/messages/")
    await sara.wait_until_live()
    await expect(sara.header_count("messages")).to_be_hidden()
    await omar.page.get_by_label("Message", exact=True).fill("Numbers are in the use case.")
    await omar.page.get_by_role("button", name="Send").click()

    await expect(sara.header_count("messages")).to_have_text("1 unread")
    sara_row = sara.page.locator(".conversation-row").first
    await expect(sara_row.locator("[data-unread-badge]")).to_have_text("1 unread")
    await expect(sara_row.locator("[data-excerpt]")).to_have_text("Numbers are in the use case.")

    messages = await sync_to_async(list)(Message.objects.order_by("id"))
    assert [(m.sender_id, m.content) for m in messages] == [
        (sara.user.pk, "How did the **valve** retrofit go?"),
        (omar.user.pk, "Very well: 14% less energy."),
        (omar.user.pk, "Numbers are in the use case."),
    ]
    # Sent by the script, each with its own client_msg_id (a UUID).
    assert all(re.fullmatch(r"[0-9a-f-]{36}", m.client_msg_id or "") for m in messages)
    assert sara.errors == []
    assert omar.errors == []


def fill_conversation(sara: User, omar: User, count: int) -> int:
    conversation = services.start_direct_conversation(actor=omar, other_id=sara.pk)
    for number in range(1, count + 1):
        services.send_direct_message(
            actor=omar, conversation_id=conversation.pk, content=f"Reading {number}"
        )
    services.send_direct_message(
        actor=sara, conversation_id=conversation.pk, content="Thanks, noted"
    )
    return conversation.pk


async def test_older_messages_load_on_scroll_and_edits_and_deletes_show_live(
    sara_and_omar: tuple,
) -> None:
    sara, omar = sara_and_omar
    conversation_id = await sync_to_async(fill_conversation)(sara.user, omar.user, 54)

    await omar.page.goto(f"/messages/{conversation_id}/")
    await sara.page.goto(f"/messages/{conversation_id}/")
    for person in (sara, omar):
        await person.wait_until_live()
    sara_messages = sara.page.locator(".chat-message")
    await expect(sara_messages).to_have_count(50)
    await expect(sara_messages.first.locator(".chat-message__body")).to_have_text("Reading 6")

    await sara.page.locator("#chat-log").evaluate("log => { log.scrollTop = 0; }")

    await expect(sara_messages).to_have_count(55)
    await expect(sara_messages.first.locator(".chat-message__body")).to_have_text("Reading 1")
    await expect(sara.page.locator("#chat-older")).to_have_count(0)

    # Sara corrects her message, then deletes it; Omar sees both without reloading.
    own = sara.page.locator(".chat-message--own").last
    await own.get_by_role("button", name="Edit").click()
    await own.get_by_label("Edit your message").fill("Thanks, noted: *14%*")
    await own.get_by_role("button", name="Save").click()
    at_omar = omar.page.locator(".chat-message").last
    await expect(at_omar.locator(".chat-message__body")).to_have_text("Thanks, noted: 14%")
    await expect(at_omar.locator(".chat-message__edited")).to_have_text("edited")

    sara.page.once("dialog", lambda dialog: dialog.accept())
    await own.get_by_role("button", name="Delete").click()
    await expect(at_omar.locator(".chat-message__deleted")).to_have_text("Message deleted")
    await expect(sara.page.locator(".chat-message").last).to_have_class(re.compile("is-deleted"))
    message = await Message.objects.filter(sender=sara.user).aget()
    assert (message.content, message.deleted_at is not None) == ("Thanks, noted: *14%*", True)
    assert sara.errors == []
    assert omar.errors == []


async def test_a_dropped_socket_reconnects_and_resumes_what_it_missed(
    sara_and_omar: tuple,
) -> None:
    sara, omar = sara_and_omar
    conversation_id = await sync_to_async(fill_conversation)(sara.user, omar.user, 1)
    sockets: list[Any] = []
    refuse = {"connections": False}

    async def route(socket: Any) -> None:
        if refuse["connections"]:
            await socket.close(code=4000, reason="test: server unreachable")
            return
        socket.connect_to_server()
        sockets.append(socket)

    await omar.page.route_web_socket(re.compile(r"/ws/messaging/$"), route)
    await omar.page.goto(f"/messages/{conversation_id}/")
    await omar.wait_until_live()
    await sara.page.goto(f"/messages/{conversation_id}/")
    await sara.wait_until_live()

    # Omar's connection drops and, for a while, cannot come back; Sara writes meanwhile.
    refuse["connections"] = True
    await sockets[-1].close(code=4000, reason="test: connection lost")
    await expect(omar.page.locator("html")).to_have_attribute("data-stream-state", "offline")
    for text in ["First while you were away", "Second while you were away"]:
        await sara.page.get_by_label("Message", exact=True).fill(text)
        await sara.page.get_by_role("button", name="Send").click()
        await expect(sara.page.locator(".chat-message--own").last).to_have_attribute(
            "data-message-id", re.compile(r"^\d+$")
        )
    refuse["connections"] = False

    bodies = omar.page.locator(".chat-message .chat-message__body")
    await expect(bodies).to_have_text(
        [
            "Reading 1",
            "Thanks, noted",
            "First while you were away",
            "Second while you were away",
        ],
        timeout=20_000,
    )
    await omar.wait_until_live()
    assert len(sockets) == 2
    assert sara.errors == []
    assert omar.errors == []
