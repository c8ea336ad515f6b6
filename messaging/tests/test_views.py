import re
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertInHTML, assertRedirects, assertTemplateUsed

from accounts.models import User
from messaging import emails, services
from messaging.models import (
    Conversation,
    EmailFrequency,
    Message,
    Notification,
    NotificationPreference,
    Participant,
    Stream,
)
from messaging.notification_types import ADDED_TO_GROUP, DIRECT_MESSAGE, NOTIFICATION_TYPES

pytestmark = pytest.mark.django_db


@pytest.fixture
def sara(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Jubail Valves")
    return user_factory(
        organization=organization,
        first_name="Sara",
        last_name="Haddad",
        email="sara@jubail-valves.example",
    )


@pytest.fixture
def omar(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Najd Foods")
    return user_factory(
        organization=organization,
        first_name="Omar",
        last_name="Khalil",
        email="omar@najdfoods.example",
    )


@pytest.fixture
def layla(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Dammam Plastics")
    return user_factory(organization=organization, first_name="Layla", last_name="Saleh")


@pytest.fixture
def conversation(sara: User, omar: User) -> Conversation:
    return services.start_direct_conversation(actor=sara, other_id=omar.pk)


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def send(actor: User, content: str, **destination: Any) -> Message:
    return services.send_direct_message(actor=actor, content=content, **destination)[0]


def flashed(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def html_of(response: Any) -> str:
    return response.content.decode()


def message_ids_on_page(response: Any) -> list[int]:
    return [
        int(i)
        for i in re.findall(r'<li class="chat-message[^"]*" id="message-(\d+)"', html_of(response))
    ]


def write_counts() -> tuple[int, int, int]:
    return Conversation.objects.count(), Participant.objects.count(), Message.objects.count()


# Who may open what

PRIVATE_PAGES = [
    "/messages/",
    "/messages/archived/",
    "/messages/1/",
    "/notifications/",
    "/notifications/preferences/",
]
PRIVATE_POSTS = [
    "/messages/1/",
    "/messages/1/settings/",
    "/messages/message/1/delete/",
    "/messages/new/1/",
    "/notifications/read/",
    "/notifications/preferences/",
]


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_messaging_page_redirects_anonymous_caller_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)


@pytest.mark.parametrize("path", PRIVATE_POSTS)
def test_messaging_post_by_anonymous_caller_redirects_and_writes_nothing(
    client: Client, conversation: Conversation, path: str
) -> None:
    response = client.post(path, {"content": "Hello", "is_archived": "true", "type": "x"})

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)
    assert write_counts() == (1, 2, 0)
    assert not Participant.objects.filter(is_archived=True).exists()


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_messaging_page_redirects_unverified_user_to_verification(
    client: Client, user_factory: Any, path: str
) -> None:
    signed_in(client, user_factory(unverified=True))

    response = client.get(path)

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)


@pytest.mark.parametrize("path", ["/messages/", "/notifications/", "/notifications/preferences/"])
def test_messaging_pages_have_no_inline_styles_or_unnonced_scripts(
    client: Client, sara: User, path: str
) -> None:
    signed_in(client, sara)

    response = client.get(path)

    html = html_of(response)
    assert response.status_code == 200
    assert " style=" not in html
    assert "<style" not in html
    assert len(re.findall(r"<script\b", html)) == len(re.findall(r"<script (nonce|src)=", html))
    assert '<script src="/static/js/messaging.js" defer></script>' in html


def test_conversation_page_has_no_inline_styles_or_scripts_but_its_json_state(
    client: Client, sara: User, conversation: Conversation
) -> None:
    send(sara, "Hello", conversation_id=conversation.pk)
    signed_in(client, sara)

    html = html_of(client.get(f"/messages/{conversation.pk}/"))

    assert " style=" not in html
    assert "<style" not in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert len(scripts) == 4
    assert [s for s in scripts if not re.match(r"<script (nonce|src)=", s)] == [
        '<script id="chat-state" type="application/json">'
    ]


def test_messaging_script_is_not_loaded_for_signed_out_or_unverified_people(
    client: Client, user_factory: Any
) -> None:
    anonymous = html_of(client.get("/"))
    signed_in(client, user_factory(unverified=True))
    unverified = html_of(client.get("/accounts/verify/"))

    assert "messaging.js" not in anonymous
    assert "messaging.js" not in unverified


def test_conversation_page_renders_right_to_left_in_arabic(
    client: Client, sara: User, conversation: Conversation
) -> None:
    send(sara, "مرحبا", conversation_id=conversation.pk)
    signed_in(client, sara)

    response = client.get(f"/messages/{conversation.pk}/", headers={"accept-language": "ar"})

    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in html_of(response)
    assert '<div class="chat-message__body"><p>مرحبا</p></div>' in html_of(response)


# Header


def test_header_links_to_messages_and_notifications_with_unread_counts(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    send(omar, "One", conversation_id=conversation.pk)
    send(omar, "Two", conversation_id=conversation.pk)
    services.notify(recipient=sara, type=ADDED_TO_GROUP.key, text="Omar added you", actor=omar)
    signed_in(client, sara)

    html = html_of(client.get("/messages/"))

    assertInHTML(
        '<span class="header-icon__badge" data-unread="messages"><span data-unread-count>2'
        '</span><span class="visually-hidden"> unread</span></span>',
        html,
        count=1,
    )
    assertInHTML(
        '<span class="header-icon__badge" data-unread="notifications"><span data-unread-count>1'
        '</span><span class="visually-hidden"> unread</span></span>',
        html,
        count=1,
    )
    assert '<a class="header-icon" href="/messages/" id="header-messages">' in html
    assert '<a class="header-icon" href="/notifications/" id="header-notifications">' in html


def test_header_counts_are_hidden_when_nothing_is_unread(client: Client, sara: User) -> None:
    signed_in(client, sara)

    html = html_of(client.get("/"))

    assert '<span class="header-icon__badge" data-unread="messages" hidden>' in html
    assert '<span class="header-icon__badge" data-unread="notifications" hidden>' in html


# Inbox


def test_inbox_lists_conversations_newest_first_with_excerpt_and_unread_badge(
    client: Client, sara: User, omar: User, layla: User, conversation: Conversation
) -> None:
    send(omar, "How did the **valve** retrofit go?", conversation_id=conversation.pk)
    send(omar, "Any numbers yet?", conversation_id=conversation.pk)
    with_layla = send(sara, "Thanks for the visit", receiver_id=layla.pk).conversation
    signed_in(client, sara)

    response = client.get("/messages/")

    html = html_of(response)
    assert response.status_code == 200
    assertTemplateUsed(response, "messaging/inbox.html")
    rows = re.findall(r'data-conversation-id="(\d+)"', html)
    assert rows == [str(with_layla.pk), str(conversation.pk)]
    assertInHTML('<span class="conversation-row__name">Omar Khalil</span>', html, count=1)
    assertInHTML('<span class="conversation-row__name">Layla Saleh</span>', html, count=1)
    assertInHTML(
        '<span class="conversation-row__excerpt" data-excerpt>Any numbers yet?</span>',
        html,
        count=1,
    )
    assertInHTML(
        '<span class="conversation-row__excerpt" data-excerpt>'
        '<span class="conversation-row__you">You:</span> Thanks for the visit</span>',
        html,
        count=1,
    )
    assertInHTML(
        '<span class="unread-badge" data-unread-badge><span data-count>2</span>'
        '<span class="visually-hidden"> unread</span></span>',
        html,
        count=1,
    )
    assertInHTML(
        '<span class="unread-badge" data-unread-badge hidden><span data-count>0</span>'
        '<span class="visually-hidden"> unread</span></span>',
        html,
        count=1,
    )


def test_inbox_carries_the_stream_head_for_the_script(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    signed_in(client, sara)
    empty_stream = html_of(client.get("/messages/"))
    send(omar, "Hello", conversation_id=conversation.pk)
    send(omar, "Again", conversation_id=conversation.pk)

    html = html_of(client.get("/messages/"))

    assert 'data-last-event-id="0"' in empty_stream
    head = Stream.objects.get(user=sara).last_event_id
    assert head == 2
    assert f'data-last-event-id="{head}"' in html


def test_inbox_shows_a_deleted_last_message_as_deleted(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    message = send(omar, "Wrong person, sorry", conversation_id=conversation.pk)
    services.delete_message(actor=omar, message_id=message.pk)
    signed_in(client, sara)

    html = html_of(client.get("/messages/"))

    assert "Wrong person" not in html
    assertInHTML(
        '<span class="conversation-row__excerpt" data-excerpt><em>Message deleted</em></span>',
        html,
        count=1,
    )


def test_archived_tab_lists_only_archived_conversations(
    client: Client, sara: User, omar: User, layla: User, conversation: Conversation
) -> None:
    send(sara, "Hello Omar", conversation_id=conversation.pk)
    with_layla = send(sara, "Hello Layla", receiver_id=layla.pk).conversation
    services.update_participation(actor=sara, conversation_id=conversation.pk, is_archived=True)
    signed_in(client, sara)

    inbox = html_of(client.get("/messages/"))
    archived = html_of(client.get("/messages/archived/"))

    assert re.findall(r'data-conversation-id="(\d+)"', inbox) == [str(with_layla.pk)]
    assert re.findall(r'data-conversation-id="(\d+)"', archived) == [str(conversation.pk)]
    assert '<a class="subnav__link" href="/messages/archived/" aria-current="page">' in archived


def test_inbox_without_conversations_says_how_to_start_one(client: Client, sara: User) -> None:
    signed_in(client, sara)

    html = html_of(client.get("/messages/"))

    assert (
        '<p class="empty" id="conversation-list-empty">No conversations yet. Find someone in the'
        " people directory and send them a message.</p>"
    ) in html


# A conversation


def test_conversation_page_shows_messages_oldest_first_with_edits_and_deletions(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    first = send(sara, "How did the retrofit go?", conversation_id=conversation.pk)
    second = send(omar, "Well: *12%* less energy", conversation_id=conversation.pk)
    third = send(omar, "Oops, wrong chat", conversation_id=conversation.pk)
    services.edit_message(actor=omar, message_id=second.pk, content="Well: *14%* less energy")
    services.delete_message(actor=omar, message_id=third.pk)
    signed_in(client, sara)

    response = client.get(f"/messages/{conversation.pk}/")

    html = html_of(response)
    assert response.status_code == 200
    assertTemplateUsed(response, "messaging/conversation.html")
    assert message_ids_on_page(response) == [first.pk, second.pk, third.pk]
    assertInHTML(
        '<h1 class="chat__title" id="chat-title"><a href="/accounts/people/'
        f'{omar.pk}/">Omar Khalil</a></h1>',
        html,
        count=1,
    )
    assertInHTML(
        '<div class="chat-message__body"><p>Well: <em>14%</em> less energy</p></div>',
        html,
        count=1,
    )
    assertInHTML('<span class="chat-message__edited">edited</span>', html, count=1)
    assertInHTML(
        '<p class="chat-message__body chat-message__deleted">Message deleted</p>', html, count=1
    )
    assert "Oops, wrong chat" not in html
    assert html.count('<span class="chat-message__sender">Omar Khalil</span>') == 2
    assert html.count('<span class="chat-message__sender">Sara Haddad</span>') == 1
    # Only own messages that are not deleted have a delete button.
    assert html.count("data-delete-form") == 1
    assert f'action="/messages/message/{first.pk}/delete/" data-delete-form' in html


def test_conversation_page_marks_the_conversation_read(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    send(omar, "One", conversation_id=conversation.pk)
    newest = send(omar, "Two", conversation_id=conversation.pk)
    signed_in(client, sara)

    client.get(f"/messages/{conversation.pk}/")

    participant = Participant.objects.get(conversation=conversation, user=sara)
    assert participant.last_read_message_id == newest.pk


def test_conversation_page_shows_seen_under_own_last_message_the_other_has_read(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    first = send(sara, "One", conversation_id=conversation.pk)
    send(sara, "Two", conversation_id=conversation.pk)
    services.mark_conversation_read(
        actor=omar, conversation_id=conversation.pk, message_id=first.pk
    )
    signed_in(client, sara)

    html = html_of(client.get(f"/messages/{conversation.pk}/"))

    assert html.count("data-receipt") == 1
    receipt = re.search(r'id="message-(\d+)"(?:(?!</li>).)*data-receipt>Seen</p>', html, re.S)
    assert receipt is not None
    assert int(receipt.group(1)) == first.pk


def test_group_conversation_page_says_who_has_seen(
    client: Client, sara: User, omar: User, layla: User
) -> None:
    group = services.create_group_conversation(
        actor=sara, title="Valve retrofit", participant_ids=[omar.pk, layla.pk]
    )
    send(sara, "Kick-off on Sunday", conversation_id=group.pk)
    services.mark_conversation_read(actor=layla, conversation_id=group.pk)
    signed_in(client, sara)

    html = html_of(client.get(f"/messages/{group.pk}/"))

    assertInHTML('<h1 class="chat__title" id="chat-title">Valve retrofit</h1>', html, count=1)
    assertInHTML(
        '<p class="chat-message__receipt" data-receipt>Seen by Layla Saleh</p>', html, count=1
    )


def test_conversation_page_carries_its_state_for_the_script(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    message = send(omar, "Hi", conversation_id=conversation.pk)
    signed_in(client, sara)

    response = client.get(f"/messages/{conversation.pk}/")

    assert response.context["chat_state"] == {
        "conversation_id": conversation.pk,
        "user_id": sara.pk,
        "kind": "direct",
        "names": {str(sara.pk): "Sara Haddad", str(omar.pk): "Omar Khalil"},
        "read_up_to": {str(omar.pk): message.pk},
        "last_read_message_id": message.pk,
    }
    # Read before the page's state: the head includes the event of marking it read.
    assert f'data-last-event-id="{response.context["last_event_id"]}"' in html_of(response)


def test_conversation_page_is_404_for_outsiders_and_marks_nothing(
    client: Client, layla: User, omar: User, sara: User, conversation: Conversation
) -> None:
    send(omar, "Private", conversation_id=conversation.pk)
    signed_in(client, layla)

    page = client.get(f"/messages/{conversation.pk}/")
    older = client.get(f"/messages/{conversation.pk}/?before=999")
    post = client.post(f"/messages/{conversation.pk}/", {"content": "Let me in"})

    assert (page.status_code, older.status_code, post.status_code) == (404, 404, 404)
    assert "Private" not in html_of(page)
    assert Message.objects.count() == 1
    assert not Participant.objects.filter(user=layla).exists()


def test_conversation_page_is_404_for_a_missing_conversation(client: Client, sara: User) -> None:
    signed_in(client, sara)

    assert client.get("/messages/999999/").status_code == 404


def test_conversation_page_shows_the_newest_fifty_and_links_to_older(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    sent = [send(omar, f"Reading {i}", conversation_id=conversation.pk) for i in range(55)]
    signed_in(client, sara)

    newest = client.get(f"/messages/{conversation.pk}/")
    older = client.get(f"/messages/{conversation.pk}/?before={sent[5].pk}")

    assert message_ids_on_page(newest) == [m.pk for m in sent[5:]]
    assert f'<a id="chat-older" href="?before={sent[5].pk}">Older messages</a>' in html_of(newest)
    assert message_ids_on_page(older) == [m.pk for m in sent[:5]]
    assert 'id="chat-older"' not in html_of(older)
    assert f'<a href="/messages/{conversation.pk}/">Newest messages</a>' in html_of(older)


def test_send_form_without_javascript_stores_one_message_and_redirects_to_it(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    signed_in(client, sara)
    page = client.get(f"/messages/{conversation.pk}/")
    client_msg_id = page.context["form"].initial["client_msg_id"]
    form = {"content": "  Could you share the **ROI**?  ", "client_msg_id": client_msg_id}

    response = client.post(f"/messages/{conversation.pk}/", form)
    again = client.post(f"/messages/{conversation.pk}/", form)

    message = Message.objects.get()
    url = f"/messages/{conversation.pk}/#message-{message.pk}"
    assertRedirects(response, url, fetch_redirect_response=False)
    assertRedirects(again, url, fetch_redirect_response=False)
    assert (message.sender, message.conversation, message.content) == (
        sara,
        conversation,
        "Could you share the **ROI**?",
    )
    assert message.client_msg_id == client_msg_id
    assert message.content_html == "<p>Could you share the <strong>ROI</strong>?</p>"


def test_send_form_with_empty_content_shows_the_error_and_stores_nothing(
    client: Client, sara: User, conversation: Conversation
) -> None:
    signed_in(client, sara)

    response = client.post(f"/messages/{conversation.pk}/", {"content": "   "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"content": ["This field is required."]}
    assertInHTML(
        '<div class="chat__form-errors" id="chat-form-error" role="alert">'
        "This field is required. </div>",
        html_of(response),
        count=1,
    )
    assert Message.objects.count() == 0


def test_send_form_to_someone_who_blocked_you_shows_why_and_stores_nothing(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    services.block_user(actor=omar, user_id=sara.pk)
    signed_in(client, sara)

    response = client.post(f"/messages/{conversation.pk}/", {"content": "Hello?"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["You cannot message this person."]
    assert Message.objects.count() == 0


def test_delete_button_soft_deletes_own_message(
    client: Client, sara: User, conversation: Conversation
) -> None:
    message = send(sara, "Typo", conversation_id=conversation.pk)
    signed_in(client, sara)

    response = client.post(f"/messages/message/{message.pk}/delete/")

    assertRedirects(response, f"/messages/{conversation.pk}/", fetch_redirect_response=False)
    assert flashed(response) == ["The message is deleted."]
    message.refresh_from_db()
    assert message.deleted_at is not None


def test_delete_button_on_someone_elses_message_is_403_and_deletes_nothing(
    client: Client, sara: User, omar: User, conversation: Conversation
) -> None:
    message = send(omar, "Mine", conversation_id=conversation.pk)
    signed_in(client, sara)

    response = client.post(f"/messages/message/{message.pk}/delete/")

    assert response.status_code == 403
    assert "Only the sender can change this message." in html_of(response)
    message.refresh_from_db()
    assert message.deleted_at is None


def test_archive_and_mute_buttons_update_the_participation(
    client: Client, sara: User, conversation: Conversation
) -> None:
    signed_in(client, sara)

    archive = client.post(f"/messages/{conversation.pk}/settings/", {"is_archived": "true"})
    mute = client.post(f"/messages/{conversation.pk}/settings/", {"is_muted": "true"})

    assertRedirects(archive, "/messages/", fetch_redirect_response=False)
    assertRedirects(mute, f"/messages/{conversation.pk}/", fetch_redirect_response=False)
    participant = Participant.objects.get(conversation=conversation, user=sara)
    assert (participant.is_archived, participant.is_muted) == (True, True)


def test_archive_button_of_an_outsider_is_404_and_changes_nothing(
    client: Client, layla: User, conversation: Conversation
) -> None:
    signed_in(client, layla)

    response = client.post(f"/messages/{conversation.pk}/settings/", {"is_archived": "true"})

    assert response.status_code == 404
    assert not Participant.objects.filter(is_archived=True).exists()


# Starting a conversation


def test_message_button_opens_the_conversation_once(client: Client, sara: User, omar: User) -> None:
    signed_in(client, sara)

    first = client.post(f"/messages/new/{omar.pk}/")
    second = client.post(f"/messages/new/{omar.pk}/")

    conversation = Conversation.objects.get()
    assertRedirects(first, f"/messages/{conversation.pk}/", fetch_redirect_response=False)
    assertRedirects(second, f"/messages/{conversation.pk}/", fetch_redirect_response=False)
    assert write_counts() == (1, 2, 0)


def test_message_button_refuses_a_blocked_pair_with_the_services_message(
    client: Client, sara: User, omar: User
) -> None:
    services.block_user(actor=omar, user_id=sara.pk)
    signed_in(client, sara)

    blocked = client.post(f"/messages/new/{omar.pk}/")
    signed_in(client, omar)
    blocker = client.post(f"/messages/new/{sara.pk}/")

    assert blocked.status_code == 403
    assert "You cannot message this person." in html_of(blocked)
    assert blocker.status_code == 403
    assert "You blocked this person. Unblock them to send a message." in html_of(blocker)
    assert write_counts() == (0, 0, 0)


def test_message_button_refuses_a_deactivated_person(
    client: Client, sara: User, omar: User
) -> None:
    User.objects.filter(pk=omar.pk).update(is_active=False)
    signed_in(client, sara)

    response = client.post(f"/messages/new/{omar.pk}/")

    assert response.status_code == 403
    assert "This person&#x27;s account is deactivated" in html_of(response)
    assert write_counts() == (0, 0, 0)


def test_message_button_to_oneself_or_nobody(client: Client, sara: User) -> None:
    signed_in(client, sara)

    self_message = client.post(f"/messages/new/{sara.pk}/")
    nobody = client.post("/messages/new/999999/")

    assertRedirects(self_message, "/messages/", fetch_redirect_response=False)
    assert flashed(self_message) == ["You cannot start a conversation with yourself."]
    assert nobody.status_code == 404
    assert write_counts() == (0, 0, 0)


def test_message_button_is_post_only(client: Client, sara: User, omar: User) -> None:
    signed_in(client, sara)

    response = client.get(f"/messages/new/{omar.pk}/")

    assert response.status_code == 405
    assert write_counts() == (0, 0, 0)


def test_person_page_has_a_message_button_but_not_ones_own_profile(
    client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    person = html_of(client.get(f"/accounts/people/{omar.pk}/"))
    own = html_of(client.get("/accounts/profile/"))

    assert f'<form class="profile__action" method="post" action="/messages/new/{omar.pk}/">' in (
        person
    )
    assert "/messages/new/" not in own


def test_directory_and_organization_pages_have_message_buttons_for_others(
    client: Client, sara: User, user_factory: Any
) -> None:
    colleague = user_factory(organization=sara.organization, first_name="Hind", last_name="Ali")
    signed_in(client, sara)

    directory = html_of(client.get("/accounts/people/"))
    organization = html_of(client.get("/accounts/organization/"))

    assert f'action="/messages/new/{colleague.pk}/"' in directory
    assert f'action="/messages/new/{sara.pk}/"' not in directory
    assert f'action="/messages/new/{colleague.pk}/"' in organization
    assert f'action="/messages/new/{sara.pk}/"' not in organization


# Notifications


def test_notifications_page_lists_them_newest_first_each_linking_to_its_target(
    client: Client, sara: User, omar: User
) -> None:
    older = services.notify(
        recipient=sara,
        type=ADDED_TO_GROUP.key,
        actor=omar,
        text="Omar added you to “Pumps”",
        link="/messages/41/",
    )
    newer = services.notify(
        recipient=sara,
        type=ADDED_TO_GROUP.key,
        actor=omar,
        text="Omar added you to “Boilers”",
        link="/messages/42/",
    )
    Notification.objects.filter(pk=older.pk).update(read_at=timezone.now())
    signed_in(client, sara)

    response = client.get("/notifications/")

    html = html_of(response)
    assert response.status_code == 200
    assert re.findall(r'data-notification-id="(\d+)"', html) == [str(newer.pk), str(older.pk)]
    assertInHTML(
        '<a class="notification__text" href="/messages/42/">Omar added you to “Boilers”</a>',
        html,
        count=1,
    )
    assert f'<li class="notification is-unread" data-notification-id="{newer.pk}">' in html
    assert f'<li class="notification" data-notification-id="{older.pk}">' in html


def test_notifications_page_never_links_off_the_site(client: Client, sara: User) -> None:
    services.notify(
        recipient=sara, type=ADDED_TO_GROUP.key, text="Odd link", link="https://evil.example/"
    )
    signed_in(client, sara)

    html = html_of(client.get("/notifications/"))

    assert "evil.example" not in html
    assertInHTML('<span class="notification__text">Odd link</span>', html, count=1)


def test_notifications_page_leaves_out_email_only_notifications(client: Client, sara: User) -> None:
    services.update_notification_preference(actor=sara, type=ADDED_TO_GROUP.key, in_app=False)
    services.notify(recipient=sara, type=ADDED_TO_GROUP.key, text="Emailed only")
    signed_in(client, sara)

    html = html_of(client.get("/notifications/"))

    assert "Emailed only" not in html
    assert '<p class="empty" id="notification-list-empty">No notifications yet.</p>' in html


def test_mark_all_read_marks_only_ones_own_notifications(
    client: Client, sara: User, omar: User
) -> None:
    for text in ["One", "Two"]:
        services.notify(recipient=sara, type=ADDED_TO_GROUP.key, text=text)
    services.notify(recipient=omar, type=ADDED_TO_GROUP.key, text="Omar's")
    signed_in(client, sara)

    response = client.post("/notifications/read/")
    again = client.post("/notifications/read/")

    assertRedirects(response, "/notifications/", fetch_redirect_response=False)
    assert flashed(response) == ["2 notifications are marked read."]
    assert flashed(again)[-1] == "You have no unread notifications."
    assert not Notification.objects.filter(recipient=sara, read_at__isnull=True).exists()
    assert Notification.objects.get(recipient=omar).read_at is None


# Preferences


def test_preferences_page_has_a_form_per_registered_type(client: Client, sara: User) -> None:
    services.update_notification_preference(actor=sara, type=DIRECT_MESSAGE.key, email="off")
    signed_in(client, sara)

    response = client.get("/notifications/preferences/")

    html = html_of(response)
    assert response.status_code == 200
    assert re.findall(r'<li class="panel preference" id="preference-(\w+)">', html) == list(
        NOTIFICATION_TYPES
    )
    assertInHTML(
        f'<input type="hidden" name="type" value="{DIRECT_MESSAGE.key}"'
        f' id="id_{DIRECT_MESSAGE.key}_type">',
        html,
        count=1,
    )
    assertInHTML('<option value="off" selected>Off</option>', html, count=1)
    assert f'id="id_{ADDED_TO_GROUP.key}_email"' in html


def test_preferences_form_saves_one_type(client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = client.post(
        "/notifications/preferences/", {"type": DIRECT_MESSAGE.key, "email": "off"}
    )

    assertRedirects(response, "/notifications/preferences/", fetch_redirect_response=False)
    assert flashed(response) == ["Saved: Direct messages."]
    preference = NotificationPreference.objects.get()
    assert (preference.user, preference.type, preference.in_app, preference.email) == (
        sara,
        DIRECT_MESSAGE.key,
        False,
        "off",
    )


def test_preferences_form_with_a_bad_choice_changes_nothing(client: Client, sara: User) -> None:
    signed_in(client, sara)

    bad_choice = client.post(
        "/notifications/preferences/",
        {"type": DIRECT_MESSAGE.key, "in_app": "on", "email": "hourly"},
    )
    unknown_type = client.post("/notifications/preferences/", {"type": "nope", "email": "off"})

    assert bad_choice.status_code == 422
    assert bad_choice.context["preferences"][0]["form"].errors == {
        "email": ["Select a valid choice. hourly is not one of the available choices."]
    }
    assertRedirects(unknown_type, "/notifications/preferences/", fetch_redirect_response=False)
    assert flashed(unknown_type) == ["There is no notification of this type."]
    assert NotificationPreference.objects.count() == 0


# Unsubscribe


def test_unsubscribe_link_asks_to_confirm_and_changes_nothing(client: Client, omar: User) -> None:
    token = emails.make_unsubscribe_token(omar.pk, DIRECT_MESSAGE.key)

    response = client.get(f"/notifications/unsubscribe/{token}/")

    html = html_of(response)
    assert response.status_code == 200
    assertInHTML(
        '<p class="auth__lead">Stop emailing <bdi>omar@najdfoods.example</bdi> about'
        " “Direct messages”?</p>",
        html,
        count=1,
    )
    assert '<form class="form" method="post">' in html
    assert NotificationPreference.objects.count() == 0


def test_unsubscribe_button_turns_that_types_email_off(omar: User) -> None:
    token = emails.make_unsubscribe_token(omar.pk, DIRECT_MESSAGE.key)
    client = Client(enforce_csrf_checks=True)

    response = client.post(f"/notifications/unsubscribe/{token}/")

    assert response.status_code == 200
    assert "You are unsubscribed" in html_of(response)
    preference = NotificationPreference.objects.get()
    assert (preference.user, preference.type, preference.email) == (omar, DIRECT_MESSAGE.key, "off")


def test_unsubscribe_accepts_the_one_click_post_of_mail_clients(omar: User) -> None:
    token = emails.make_unsubscribe_token(omar.pk, ADDED_TO_GROUP.key)
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        f"/notifications/unsubscribe/{token}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    preference = NotificationPreference.objects.get()
    assert (preference.user, preference.type, preference.email) == (omar, ADDED_TO_GROUP.key, "off")


def test_unsubscribe_from_the_daily_digest_turns_off_every_daily_type(
    client: Client, omar: User
) -> None:
    services.update_notification_preference(
        actor=omar, type=DIRECT_MESSAGE.key, email=EmailFrequency.DAILY
    )
    token = emails.make_unsubscribe_token(omar.pk, emails.DAILY_DIGEST)

    confirm = client.get(f"/notifications/unsubscribe/{token}/")

    assert confirm.status_code == 200
    assertInHTML(
        '<p class="auth__lead">Stop emailing <bdi>omar@najdfoods.example</bdi> about'
        " “The daily digest”?</p>",
        html_of(confirm),
        count=1,
    )
    assert NotificationPreference.objects.get().email == EmailFrequency.DAILY

    done = client.post(f"/notifications/unsubscribe/{token}/")

    assert done.status_code == 200
    assert "You are unsubscribed" in html_of(done)
    assert dict(NotificationPreference.objects.filter(user=omar).values_list("type", "email")) == {
        DIRECT_MESSAGE.key: EmailFrequency.OFF,
        ADDED_TO_GROUP.key: EmailFrequency.OFF,
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_unsubscribe_with_a_bad_token_is_400_and_changes_nothing(
    client: Client, omar: User, method: str
) -> None:
    token = emails.make_unsubscribe_token(omar.pk, DIRECT_MESSAGE.key) + "x"

    response = getattr(client, method)(f"/notifications/unsubscribe/{token}/")

    assert response.status_code == 400
    assertInHTML(
        '<p class="auth__lead">This unsubscribe link is not valid.</p>',
        html_of(response),
        count=1,
    )
    assert NotificationPreference.objects.count() == 0


def test_unsubscribe_works_for_a_signed_in_unverified_visitor(
    client: Client, omar: User, user_factory: Any
) -> None:
    signed_in(client, user_factory(unverified=True))
    token = emails.make_unsubscribe_token(omar.pk, DIRECT_MESSAGE.key)

    response = client.post(f"/notifications/unsubscribe/{token}/")

    assert response.status_code == 200
    assert NotificationPreference.objects.get().user == omar
