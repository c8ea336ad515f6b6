from datetime import datetime
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from accounts.models import User
from messaging import services
from messaging.models import (
    Block,
    Conversation,
    Message,
    Notification,
    NotificationPreference,
    Participant,
    StreamEvent,
)
from messaging.notification_types import ADDED_TO_GROUP, NOTIFICATION_TYPES

pytestmark = pytest.mark.django_db

NOT_IN_CONVERSATION = {
    "detail": "This conversation does not exist or you are not in it.",
    "code": "conversation_not_found",
}
MESSAGE_NOT_FOUND = {
    "detail": "This message does not exist or you cannot see it.",
    "code": "message_not_found",
}
NO_UNREAD = {"messages": 0, "conversations": 0, "notifications": 0}


@pytest.fixture
def sara(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Jubail Valves")
    return user_factory(organization=organization, first_name="Sara", last_name="Haddad")


@pytest.fixture
def omar(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Najd Foods")
    return user_factory(organization=organization, first_name="Omar", last_name="Khalil")


@pytest.fixture
def layla(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="Dammam Plastics")
    return user_factory(organization=organization, first_name="Layla", last_name="Saleh")


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def iso(value: datetime) -> str:
    """A datetime as the API renders it."""
    return DjangoJSONEncoder().default(value)


def brief(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "full_name": user.get_full_name(),
        "avatar_url": None,
        "organization_name": user.organization.name,
    }


def send(actor: User, content: str, **destination: Any) -> Message:
    return services.send_direct_message(actor=actor, content=content, **destination)[0]


def write_counts() -> tuple[int, int, int, int]:
    return (
        Conversation.objects.count(),
        Participant.objects.count(),
        Message.objects.count(),
        StreamEvent.objects.count(),
    )


# Anonymous callers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/messages"),
        ("get", "/api/v1/messages/conversations"),
        ("post", "/api/v1/messages/conversations"),
        ("get", "/api/v1/messages/conversations/1"),
        ("patch", "/api/v1/messages/conversations/1"),
        ("get", "/api/v1/messages/conversations/1/messages"),
        ("post", "/api/v1/messages/conversations/1/read"),
        ("patch", "/api/v1/messages/1"),
        ("delete", "/api/v1/messages/1"),
        ("get", "/api/v1/messages/unread"),
        ("get", "/api/v1/messages/search?q=valve"),
        ("get", "/api/v1/messages/blocks"),
        ("post", "/api/v1/messages/blocks"),
        ("delete", "/api/v1/messages/blocks/1"),
        ("get", "/api/v1/notifications"),
        ("post", "/api/v1/notifications/read"),
        ("get", "/api/v1/notifications/preferences"),
        ("patch", "/api/v1/notifications/preferences"),
    ],
)
def test_messaging_api_anonymous_callers_get_401(client: Client, method: str, path: str) -> None:
    response = getattr(client, method)(path, content_type="application/json")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided or are not valid.",
        "code": "not_authenticated",
    }


def test_send_message_anonymous_writes_nothing(api: Any, omar: User) -> None:
    response = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hello"})

    assert response.status_code == 401
    assert write_counts() == (0, 0, 0, 0)


def test_send_message_unverified_sender_gets_403(
    api: Any, client: Client, user_factory: Any, omar: User
) -> None:
    signed_in(client, user_factory(unverified=True))

    response = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hello"})

    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    assert write_counts() == (0, 0, 0, 0)


# Sending


def test_send_message_to_a_person_answers_201_and_opens_their_conversation(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages",
        {
            "receiver_id": omar.pk,
            "content": "**Valve** retrofit: how did it go? <script>x()</script>",
            "client_msg_id": "c-1",
        },
    )

    message = Message.objects.get()
    conversation = Conversation.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": message.pk,
        "conversation_id": conversation.pk,
        "sender": brief(sara),
        "content": "**Valve** retrofit: how did it go? <script>x()</script>",
        "content_html": (
            "<p><strong>Valve</strong> retrofit: how did it go? &lt;script&gt;x()&lt;/script&gt;"
            "</p>"
        ),
        "client_msg_id": "c-1",
        "created_at": iso(message.created_at),
        "edited_at": None,
        "is_deleted": False,
    }
    assert (conversation.kind, conversation.user_low_id, conversation.user_high_id) == (
        "direct",
        min(sara.pk, omar.pk),
        max(sara.pk, omar.pk),
    )
    assert sorted(conversation.participants.values_list("user_id", flat=True)) == sorted(
        [sara.pk, omar.pk]
    )


def test_send_message_accepts_camel_case_fields(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages", {"receiverId": omar.pk, "content": "Hi", "clientMsgId": "c-9"}
    )

    assert response.status_code == 201
    assert Message.objects.get().client_msg_id == "c-9"


def test_send_message_into_a_conversation_by_id_answers_201(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    first = send(sara, "Hello", receiver_id=omar.pk)
    signed_in(client, omar)

    response = api.post(
        "/api/v1/messages", {"conversation_id": first.conversation_id, "content": "Hi Sara"}
    )

    assert response.status_code == 201
    assert (response.json()["conversation_id"], response.json()["sender"]["id"]) == (
        first.conversation_id,
        omar.pk,
    )
    assert list(Message.objects.order_by("id").values_list("sender_id", "content")) == [
        (sara.pk, "Hello"),
        (omar.pk, "Hi Sara"),
    ]
    assert Conversation.objects.count() == 1


def test_send_message_repeated_client_msg_id_answers_200_with_the_stored_message(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)
    payload = {"receiver_id": omar.pk, "content": "Hello", "client_msg_id": "retry-1"}

    first = api.post("/api/v1/messages", payload)
    events_after_first = StreamEvent.objects.count()
    again = api.post("/api/v1/messages", {**payload, "content": "Hello (retried)"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Message.objects.count() == 1
    assert StreamEvent.objects.count() == events_after_first


def test_send_message_client_msg_id_reused_for_another_place_answers_409(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    send(sara, "Hello", receiver_id=omar.pk, client_msg_id="c-1")
    before = write_counts()
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages", {"receiver_id": layla.pk, "content": "Hi", "client_msg_id": "c-1"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "client_msg_id_reused"
    assert write_counts() == before


def test_send_message_the_same_client_msg_id_of_two_senders_stores_two_messages(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    send(sara, "Hello", receiver_id=omar.pk, client_msg_id="c-1")
    signed_in(client, omar)

    response = api.post(
        "/api/v1/messages", {"receiver_id": sara.pk, "content": "Hi", "client_msg_id": "c-1"}
    )

    assert response.status_code == 201
    assert Message.objects.count() == 2


def test_send_message_to_self_answers_400(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages", {"receiver_id": sara.pk, "content": "Note to self"})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "You cannot start a conversation with yourself.",
        "code": "self_message",
    }
    assert write_counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("content", ["", "   \n ", "x" * 5001])
def test_send_message_empty_or_too_long_content_answers_422(
    api: Any, client: Client, sara: User, omar: User, content: str
) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": content})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [error["field"] for error in response.json()["errors"]] == ["content"]
    assert write_counts() == (0, 0, 0, 0)


def test_send_message_content_of_exactly_5000_characters_is_accepted(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "x" * 5000})

    assert response.status_code == 201
    assert len(Message.objects.get().content) == 5000


@pytest.mark.parametrize("destination", ["both", "neither"])
def test_send_message_needs_exactly_one_destination(
    api: Any, client: Client, sara: User, omar: User, destination: str
) -> None:
    conversation_id = send(omar, "Hello", receiver_id=sara.pk).conversation_id
    before = write_counts()
    payload: dict[str, Any] = {"content": "Hi"}
    if destination == "both":
        payload |= {"receiver_id": omar.pk, "conversation_id": conversation_id}
    signed_in(client, sara)

    response = api.post("/api/v1/messages", payload)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "The request body is not valid.",
        "code": "validation_error",
        "errors": [
            {
                "field": None,
                "message": "Value error, Give either receiver_id or conversation_id.",
                "location": "body",
            }
        ],
    }
    assert write_counts() == before


def test_send_message_unknown_field_answers_422(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages", {"receiver_id": omar.pk, "content": "Hi", "sender_id": omar.pk}
    )

    assert response.status_code == 422
    assert write_counts() == (0, 0, 0, 0)


def test_send_message_to_an_unknown_person_answers_404(
    api: Any, client: Client, sara: User
) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages", {"receiver_id": sara.pk + 1000, "content": "Hi"})

    assert response.status_code == 404
    assert response.json()["code"] == "recipient_not_found"
    assert write_counts() == (0, 0, 0, 0)


def test_send_message_to_a_deactivated_person_answers_403(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    User.objects.filter(pk=omar.pk).update(is_active=False)
    before = write_counts()
    signed_in(client, sara)

    by_person = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hi"})
    by_conversation = api.post(
        "/api/v1/messages", {"conversation_id": conversation_id, "content": "Hi"}
    )

    expected = {
        "detail": "This person's account is deactivated; they cannot receive messages.",
        "code": "recipient_inactive",
    }
    assert (by_person.status_code, by_person.json()) == (403, expected)
    assert (by_conversation.status_code, by_conversation.json()) == (403, expected)
    assert write_counts() == before


def test_send_message_between_a_blocked_pair_answers_403_in_both_directions(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    Block.objects.create(blocker=sara, blocked=omar)
    before = write_counts()

    signed_in(client, omar)
    blocked_by_person = api.post("/api/v1/messages", {"receiver_id": sara.pk, "content": "Hi"})
    blocked_in_conversation = api.post(
        "/api/v1/messages", {"conversation_id": conversation_id, "content": "Hi"}
    )
    signed_in(client, sara)
    blocker_by_person = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hi"})
    blocker_in_conversation = api.post(
        "/api/v1/messages", {"conversation_id": conversation_id, "content": "Hi"}
    )

    blocked = {"detail": "You cannot message this person.", "code": "blocked"}
    you_blocked = {
        "detail": "You blocked this person. Unblock them to send a message.",
        "code": "you_blocked",
    }
    assert (blocked_by_person.status_code, blocked_by_person.json()) == (403, blocked)
    assert (blocked_in_conversation.status_code, blocked_in_conversation.json()) == (
        403,
        blocked,
    )
    assert (blocker_by_person.status_code, blocker_by_person.json()) == (403, you_blocked)
    assert (blocker_in_conversation.status_code, blocker_in_conversation.json()) == (
        403,
        you_blocked,
    )
    assert write_counts() == before


def test_send_message_blocked_pair_cannot_start_a_conversation(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    Block.objects.create(blocker=omar, blocked=sara)
    signed_in(client, sara)

    response = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hi"})

    assert (response.status_code, response.json()["code"]) == (403, "blocked")
    assert write_counts() == (0, 0, 0, 0)


def test_send_message_into_a_foreign_conversation_answers_404(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    before = write_counts()
    signed_in(client, layla)

    response = api.post("/api/v1/messages", {"conversation_id": conversation_id, "content": "Hi"})
    unknown = api.post(
        "/api/v1/messages", {"conversation_id": conversation_id + 99, "content": "x"}
    )

    assert (response.status_code, response.json()) == (404, NOT_IN_CONVERSATION)
    assert (unknown.status_code, unknown.json()) == (404, NOT_IN_CONVERSATION)
    assert write_counts() == before


def test_send_message_with_a_bearer_token(client: Client, sara: User, omar: User) -> None:
    _, token = account_services.create_api_token(actor=sara, name="ERP")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    sent = client.post(
        "/api/v1/messages",
        {"receiver_id": omar.pk, "content": "From the ERP"},
        content_type="application/json",
        **bearer,
    )
    unread = client.get("/api/v1/messages/unread", **bearer)
    made_up = client.get("/api/v1/messages/unread", HTTP_AUTHORIZATION="Bearer p2p_made-up")

    assert sent.status_code == 201
    assert sent.json()["sender"]["id"] == sara.pk
    assert Message.objects.get().sender_id == sara.pk
    assert (unread.status_code, unread.json()) == (200, NO_UNREAD)
    assert made_up.status_code == 401


# Conversations


def test_list_conversations_shows_last_message_unread_count_and_read_receipts(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    first = send(omar, "Hello Sara", receiver_id=sara.pk)
    send(omar, "Are you there?", receiver_id=sara.pk)
    services.mark_conversation_read(
        actor=sara, conversation_id=first.conversation_id, message_id=first.pk
    )
    newest = send(layla, "Question about molds", receiver_id=sara.pk)
    last_from_omar = Message.objects.filter(sender=omar).latest("id")
    signed_in(client, sara)

    response = api.get("/api/v1/messages/conversations")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2
    assert [item["id"] for item in body["items"]] == [
        newest.conversation_id,
        first.conversation_id,
    ]
    with_omar = body["items"][1]
    assert {key: value for key, value in with_omar.items() if key != "participants"} == {
        "id": first.conversation_id,
        "kind": "direct",
        "title": "",
        "last_message": {
            "id": last_from_omar.pk,
            "conversation_id": first.conversation_id,
            "sender": brief(omar),
            "content": "Are you there?",
            "content_html": "<p>Are you there?</p>",
            "client_msg_id": None,
            "created_at": iso(last_from_omar.created_at),
            "edited_at": None,
            "is_deleted": False,
        },
        "last_message_at": iso(Conversation.objects.get(pk=first.conversation_id).last_message_at),
        "unread_count": 1,
        "is_archived": False,
        "is_muted": False,
        "read_up_to": {str(omar.pk): last_from_omar.pk},
    }
    assert sorted(with_omar["participants"], key=lambda person: person["id"]) == sorted(
        [brief(sara), brief(omar)], key=lambda person: person["id"]
    )
    assert body["items"][0]["unread_count"] == 1


def test_list_conversations_is_paginated(
    api: Any, client: Client, sara: User, user_factory: Any
) -> None:
    for person in user_factory.create_batch(3):
        send(person, "Hello", receiver_id=sara.pk)
    signed_in(client, sara)

    first = api.get("/api/v1/messages/conversations", {"page_size": 2})
    second = api.get("/api/v1/messages/conversations", {"page_size": 2, "page": 2})

    assert (first.json()["count"], len(first.json()["items"])) == (3, 2)
    assert (second.json()["count"], len(second.json()["items"])) == (3, 1)
    assert len({item["id"] for item in first.json()["items"] + second.json()["items"]}) == 3


def test_list_conversations_queries_do_not_grow_with_the_page(
    api: Any, client: Client, sara: User, user_factory: Any
) -> None:
    signed_in(client, sara)
    send(user_factory(), "Hello", receiver_id=sara.pk)
    with CaptureQueriesContext(connection) as one:
        api.get("/api/v1/messages/conversations")
    for person in user_factory.create_batch(4):
        send(person, "Hello", receiver_id=sara.pk)
        send(sara, "Hi", receiver_id=person.pk)

    with CaptureQueriesContext(connection) as five:
        response = api.get("/api/v1/messages/conversations")

    assert response.json()["count"] == 5
    assert len(five.captured_queries) == len(one.captured_queries) > 0


def test_list_conversations_shows_nothing_of_other_peoples_conversations(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    send(sara, "Hello", receiver_id=omar.pk)
    signed_in(client, layla)

    response = api.get("/api/v1/messages/conversations")

    assert (response.status_code, response.json()) == (200, {"items": [], "count": 0})


def test_get_conversation_answers_the_participant(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "Hello", receiver_id=omar.pk)
    signed_in(client, omar)

    response = api.get(f"/api/v1/messages/conversations/{message.conversation_id}")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["unread_count"]) == (
        message.conversation_id,
        1,
    )
    assert response.json()["last_message"]["id"] == message.pk


def test_get_conversation_outsider_gets_404_as_for_a_missing_one(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    signed_in(client, layla)

    foreign = api.get(f"/api/v1/messages/conversations/{conversation_id}")
    missing = api.get(f"/api/v1/messages/conversations/{conversation_id + 99}")

    assert (foreign.status_code, foreign.json()) == (404, NOT_IN_CONVERSATION)
    assert (missing.status_code, missing.json()) == (404, NOT_IN_CONVERSATION)


def test_create_group_answers_201_and_notifies_the_others(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages/conversations",
        {"title": "Valve retrofit", "participantIds": [omar.pk, layla.pk, sara.pk]},
    )

    conversation = Conversation.objects.get()
    body = response.json()
    assert response.status_code == 201
    assert {key: value for key, value in body.items() if key != "participants"} == {
        "id": conversation.pk,
        "kind": "group",
        "title": "Valve retrofit",
        "last_message": None,
        "last_message_at": None,
        "unread_count": 0,
        "is_archived": False,
        "is_muted": False,
        "read_up_to": {str(omar.pk): 0, str(layla.pk): 0},
    }
    assert sorted(person["id"] for person in body["participants"]) == sorted(
        [sara.pk, omar.pk, layla.pk]
    )
    assert sorted(
        Notification.objects.values_list("recipient_id", "type", "actor_id", "link")
    ) == sorted(
        [
            (omar.pk, ADDED_TO_GROUP.key, sara.pk, f"/messages/{conversation.pk}/"),
            (layla.pk, ADDED_TO_GROUP.key, sara.pk, f"/messages/{conversation.pk}/"),
        ]
    )


def test_create_group_of_more_than_10_participants_answers_422(
    api: Any, client: Client, sara: User, user_factory: Any
) -> None:
    others = [person.pk for person in user_factory.create_batch(11)]
    signed_in(client, sara)

    ten_others = api.post(
        "/api/v1/messages/conversations", {"title": "Too many", "participant_ids": others[:10]}
    )
    eleven_ids = api.post(
        "/api/v1/messages/conversations", {"title": "Too many", "participant_ids": others}
    )

    assert (ten_others.status_code, ten_others.json()) == (
        422,
        {
            "detail": "A group conversation has at most 10 participants.",
            "code": "too_many_participants",
        },
    )
    assert (eleven_ids.status_code, eleven_ids.json()["code"]) == (422, "validation_error")
    assert write_counts() == (0, 0, 0, 0)
    assert Notification.objects.count() == 0


def test_create_group_with_someone_who_blocked_the_creator_answers_403(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    Block.objects.create(blocker=layla, blocked=sara)
    signed_in(client, sara)

    response = api.post(
        "/api/v1/messages/conversations", {"title": "Plant", "participant_ids": [omar.pk, layla.pk]}
    )

    assert (response.status_code, response.json()["code"]) == (403, "blocked")
    assert write_counts() == (0, 0, 0, 0)
    assert Notification.objects.count() == 0


def test_update_conversation_mutes_and_archives_for_the_caller_only(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    signed_in(client, omar)

    response = api.patch(
        f"/api/v1/messages/conversations/{conversation_id}", {"isMuted": True, "isArchived": True}
    )

    assert response.status_code == 200
    assert (response.json()["is_muted"], response.json()["is_archived"]) == (True, True)
    assert sorted(Participant.objects.values_list("user_id", "is_muted", "is_archived")) == sorted(
        [(sara.pk, False, False), (omar.pk, True, True)]
    )


def test_update_conversation_outsider_gets_404_and_changes_nothing(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    signed_in(client, layla)

    response = api.patch(f"/api/v1/messages/conversations/{conversation_id}", {"isMuted": True})

    assert (response.status_code, response.json()) == (404, NOT_IN_CONVERSATION)
    assert list(Participant.objects.values_list("is_muted", "is_archived")) == [
        (False, False),
        (False, False),
    ]


def test_archived_conversation_leaves_the_list_until_a_new_message_arrives(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    conversation_id = send(sara, "Hello", receiver_id=omar.pk).conversation_id
    signed_in(client, omar)
    api.patch(f"/api/v1/messages/conversations/{conversation_id}", {"isArchived": True})

    listed = api.get("/api/v1/messages/conversations")
    archived = api.get("/api/v1/messages/conversations", {"archived": "true"})
    send(sara, "Ping", receiver_id=omar.pk)
    listed_after_new_message = api.get("/api/v1/messages/conversations")

    assert listed.json() == {"items": [], "count": 0}
    assert [item["id"] for item in archived.json()["items"]] == [conversation_id]
    assert archived.json()["items"][0]["is_archived"] is True
    assert [item["id"] for item in listed_after_new_message.json()["items"]] == [conversation_id]


# One conversation's messages


@pytest.fixture
def five_messages(sara: User, omar: User) -> list[Message]:
    """Sara sends the odd ones, Omar the even ones, in one conversation."""
    return [
        send(
            sara if index % 2 else omar,
            f"Message {index}",
            receiver_id=(omar.pk if index % 2 else sara.pk),
        )
        for index in range(1, 6)
    ]


def page_of(response: Any) -> tuple[list[int], bool]:
    body = response.json()
    return [message["id"] for message in body["messages"]], body["has_more"]


def test_list_messages_newest_page_oldest_first(
    api: Any, client: Client, sara: User, five_messages: list[Message]
) -> None:
    ids = [message.pk for message in five_messages]
    path = f"/api/v1/messages/conversations/{five_messages[0].conversation_id}/messages"
    signed_in(client, sara)

    everything = api.get(path)
    newest_two = api.get(path, {"limit": 2})

    assert everything.status_code == 200
    assert page_of(everything) == (ids, False)
    assert page_of(newest_two) == (ids[3:], True)
    assert everything.json()["messages"][0] == {
        "id": ids[0],
        "conversation_id": five_messages[0].conversation_id,
        "sender": brief(sara),
        "content": "Message 1",
        "content_html": "<p>Message 1</p>",
        "client_msg_id": None,
        "created_at": iso(five_messages[0].created_at),
        "edited_at": None,
        "is_deleted": False,
    }


def test_list_messages_before_scrolls_back(
    api: Any, client: Client, sara: User, five_messages: list[Message]
) -> None:
    ids = [message.pk for message in five_messages]
    path = f"/api/v1/messages/conversations/{five_messages[0].conversation_id}/messages"
    signed_in(client, sara)

    older = api.get(path, {"before": ids[3], "limit": 2})
    oldest = api.get(path, {"before": ids[1], "limit": 2})

    assert page_of(older) == ([ids[1], ids[2]], True)
    assert page_of(oldest) == ([ids[0]], False)


def test_list_messages_after_catches_up(
    api: Any, client: Client, omar: User, five_messages: list[Message]
) -> None:
    ids = [message.pk for message in five_messages]
    path = f"/api/v1/messages/conversations/{five_messages[0].conversation_id}/messages"
    signed_in(client, omar)

    next_two = api.get(path, {"after": ids[1], "limit": 2})
    rest = api.get(path, {"after": ids[3], "limit": 2})
    nothing_new = api.get(path, {"after": ids[4]})

    assert page_of(next_two) == ([ids[2], ids[3]], True)
    assert page_of(rest) == ([ids[4]], False)
    assert page_of(nothing_new) == ([], False)


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"before": 5, "after": 1}])
def test_list_messages_bad_query_answers_422(
    api: Any, client: Client, sara: User, five_messages: list[Message], query: dict
) -> None:
    signed_in(client, sara)

    response = api.get(
        f"/api/v1/messages/conversations/{five_messages[0].conversation_id}/messages", query
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_list_messages_outsider_gets_404(
    api: Any, client: Client, layla: User, five_messages: list[Message]
) -> None:
    signed_in(client, layla)

    response = api.get(
        f"/api/v1/messages/conversations/{five_messages[0].conversation_id}/messages"
    )

    assert (response.status_code, response.json()) == (404, NOT_IN_CONVERSATION)


def test_list_messages_shows_a_deleted_message_in_place_without_its_content(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "Oops, wrong price", receiver_id=omar.pk)
    services.delete_message(actor=sara, message_id=message.pk)
    signed_in(client, omar)

    response = api.get(f"/api/v1/messages/conversations/{message.conversation_id}/messages")

    shown = response.json()["messages"][0]
    assert (shown["id"], shown["content"], shown["content_html"], shown["is_deleted"]) == (
        message.pk,
        "",
        "",
        True,
    )


# Reading


def test_mark_read_answers_the_read_position_and_fresh_counts(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    sent = [send(sara, f"Message {index}", receiver_id=omar.pk) for index in range(3)]
    conversation_id = sent[0].conversation_id
    signed_in(client, omar)

    partly = api.post(
        f"/api/v1/messages/conversations/{conversation_id}/read", {"messageId": sent[1].pk}
    )
    everything = api.post(f"/api/v1/messages/conversations/{conversation_id}/read", {})

    assert (partly.status_code, partly.json()) == (
        200,
        {
            "last_read_message_id": sent[1].pk,
            "unread": {"messages": 1, "conversations": 1, "notifications": 0},
        },
    )
    assert everything.json() == {"last_read_message_id": sent[2].pk, "unread": NO_UNREAD}
    assert Participant.objects.get(user=omar).last_read_message_id == sent[2].pk


def test_mark_read_never_moves_backwards(
    api: Any, client: Client, omar: User, five_messages: list[Message]
) -> None:
    conversation_id = five_messages[0].conversation_id
    signed_in(client, omar)
    api.post(f"/api/v1/messages/conversations/{conversation_id}/read", {})

    response = api.post(
        f"/api/v1/messages/conversations/{conversation_id}/read",
        {"message_id": five_messages[0].pk},
    )

    assert response.json()["last_read_message_id"] == five_messages[4].pk


def test_mark_read_unknown_message_answers_404(
    api: Any, client: Client, omar: User, five_messages: list[Message], layla: User
) -> None:
    elsewhere = send(layla, "Other", receiver_id=omar.pk)
    conversation_id = five_messages[0].conversation_id
    before = Participant.objects.get(user=omar, conversation_id=conversation_id)
    signed_in(client, omar)

    response = api.post(
        f"/api/v1/messages/conversations/{conversation_id}/read", {"message_id": elsewhere.pk}
    )

    assert (response.status_code, response.json()) == (404, MESSAGE_NOT_FOUND)
    assert Participant.objects.get(pk=before.pk).last_read_message_id == before.last_read_message_id


def test_mark_read_outsider_gets_404_and_changes_nothing(
    api: Any, client: Client, layla: User, five_messages: list[Message]
) -> None:
    conversation_id = five_messages[0].conversation_id
    before = sorted(Participant.objects.values_list("user_id", "last_read_message_id"))
    events = StreamEvent.objects.count()
    signed_in(client, layla)

    response = api.post(f"/api/v1/messages/conversations/{conversation_id}/read", {})

    assert (response.status_code, response.json()) == (404, NOT_IN_CONVERSATION)
    assert sorted(Participant.objects.values_list("user_id", "last_read_message_id")) == before
    assert StreamEvent.objects.count() == events


# Editing and deleting


def test_edit_message_by_its_sender(api: Any, client: Client, sara: User, omar: User) -> None:
    message = send(sara, "The valve leaks", receiver_id=omar.pk)
    signed_in(client, sara)

    response = api.patch(f"/api/v1/messages/{message.pk}", {"content": "The valve *leaked*"})

    message.refresh_from_db()
    assert response.status_code == 200
    assert response.json() == {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "sender": brief(sara),
        "content": "The valve *leaked*",
        "content_html": "<p>The valve <em>leaked</em></p>",
        "client_msg_id": None,
        "created_at": iso(message.created_at),
        "edited_at": iso(message.edited_at),
        "is_deleted": False,
    }
    assert message.edited_at is not None


def test_edit_message_by_another_participant_answers_403(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "The valve leaks", receiver_id=omar.pk)
    events = StreamEvent.objects.count()
    signed_in(client, omar)

    response = api.patch(f"/api/v1/messages/{message.pk}", {"content": "Hijacked"})

    message.refresh_from_db()
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "Only the sender can change this message.", "code": "not_message_sender"},
    )
    assert (message.content, message.edited_at) == ("The valve leaks", None)
    assert StreamEvent.objects.count() == events


def test_edit_message_by_an_outsider_answers_404(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    message = send(sara, "The valve leaks", receiver_id=omar.pk)
    signed_in(client, layla)

    response = api.patch(f"/api/v1/messages/{message.pk}", {"content": "Hijacked"})

    message.refresh_from_db()
    assert (response.status_code, response.json()) == (404, MESSAGE_NOT_FOUND)
    assert (message.content, message.edited_at) == ("The valve leaks", None)


def test_edit_message_with_empty_content_answers_422(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "The valve leaks", receiver_id=omar.pk)
    signed_in(client, sara)

    response = api.patch(f"/api/v1/messages/{message.pk}", {"content": "  "})

    message.refresh_from_db()
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert (message.content, message.edited_at) == ("The valve leaks", None)


def test_edit_message_deleted_answers_409(api: Any, client: Client, sara: User, omar: User) -> None:
    message = send(sara, "The valve leaks", receiver_id=omar.pk)
    services.delete_message(actor=sara, message_id=message.pk)
    signed_in(client, sara)

    response = api.patch(f"/api/v1/messages/{message.pk}", {"content": "Back again"})

    message.refresh_from_db()
    assert (response.status_code, response.json()["code"]) == (409, "message_deleted")
    assert (message.content, message.edited_at) == ("The valve leaks", None)


def test_delete_message_by_its_sender_keeps_it_in_place(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "Wrong price", receiver_id=omar.pk)
    signed_in(client, sara)

    response = api.delete(f"/api/v1/messages/{message.pk}")

    message.refresh_from_db()
    assert response.status_code == 200
    assert (
        response.json()["id"],
        response.json()["content"],
        response.json()["content_html"],
        response.json()["is_deleted"],
    ) == (message.pk, "", "", True)
    assert message.deleted_at is not None
    assert message.content == "Wrong price"


def test_delete_message_by_another_participant_answers_403(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    message = send(sara, "Wrong price", receiver_id=omar.pk)
    events = StreamEvent.objects.count()
    signed_in(client, omar)

    response = api.delete(f"/api/v1/messages/{message.pk}")

    message.refresh_from_db()
    assert (response.status_code, response.json()["code"]) == (403, "not_message_sender")
    assert message.deleted_at is None
    assert StreamEvent.objects.count() == events


def test_delete_message_by_an_outsider_answers_404(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    message = send(sara, "Wrong price", receiver_id=omar.pk)
    signed_in(client, layla)

    response = api.delete(f"/api/v1/messages/{message.pk}")

    message.refresh_from_db()
    assert (response.status_code, response.json()) == (404, MESSAGE_NOT_FOUND)
    assert message.deleted_at is None


# Unread counts


def test_unread_counts_follow_send_read_and_delete(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    signed_in(client, sara)
    first = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "One"}).json()
    second = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Two"}).json()
    signed_in(client, layla)
    api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Three"})
    sender_counts = api.get("/api/v1/messages/unread").json()

    signed_in(client, omar)
    after_send = api.get("/api/v1/messages/unread").json()
    api.post(
        f"/api/v1/messages/conversations/{first['conversation_id']}/read",
        {"message_id": first["id"]},
    )
    after_read = api.get("/api/v1/messages/unread").json()
    signed_in(client, sara)
    api.delete(f"/api/v1/messages/{second['id']}")
    signed_in(client, omar)
    after_delete = api.get("/api/v1/messages/unread").json()

    assert sender_counts == NO_UNREAD
    assert after_send == {"messages": 3, "conversations": 2, "notifications": 0}
    assert after_read == {"messages": 2, "conversations": 2, "notifications": 0}
    assert after_delete == {"messages": 1, "conversations": 1, "notifications": 0}


def test_unread_counts_leave_out_a_muted_conversation(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    conversation_id = send(sara, "One", receiver_id=omar.pk).conversation_id
    signed_in(client, omar)
    api.patch(f"/api/v1/messages/conversations/{conversation_id}", {"isMuted": True})
    send(sara, "Two", receiver_id=omar.pk)

    header = api.get("/api/v1/messages/unread").json()
    conversation = api.get(f"/api/v1/messages/conversations/{conversation_id}").json()

    assert header == NO_UNREAD
    assert (conversation["unread_count"], conversation["is_muted"]) == (2, True)


def test_unread_counts_include_notifications(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    services.notify(recipient=omar, type=ADDED_TO_GROUP.key, actor=sara, text="Sara added you")
    signed_in(client, omar)

    response = api.get("/api/v1/messages/unread")

    assert (response.status_code, response.json()) == (
        200,
        {"messages": 0, "conversations": 0, "notifications": 1},
    )


# Search


def test_search_messages_finds_only_the_callers_conversations(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    own = send(sara, "The valve retrofit cut leaks by 40%", receiver_id=omar.pk)
    send(sara, "Budget approved", receiver_id=omar.pk)
    theirs = send(layla, "Valve supplier list", receiver_id=omar.pk)
    deleted = send(omar, "valve prices, ignore", receiver_id=sara.pk)
    services.delete_message(actor=omar, message_id=deleted.pk)

    signed_in(client, sara)
    as_sara = api.get("/api/v1/messages/search", {"q": "VALVE"})
    two_words = api.get("/api/v1/messages/search", {"q": "leaks valve"})
    signed_in(client, omar)
    as_omar = api.get("/api/v1/messages/search", {"q": "valve"})

    assert as_sara.status_code == 200
    assert [item["id"] for item in as_sara.json()["items"]] == [own.pk]
    assert as_sara.json()["count"] == 1
    assert as_sara.json()["items"][0]["content"] == "The valve retrofit cut leaks by 40%"
    assert [item["id"] for item in two_words.json()["items"]] == [own.pk]
    assert [item["id"] for item in as_omar.json()["items"]] == [theirs.pk, own.pk]


@pytest.mark.parametrize("query", [{}, {"q": ""}, {"q": "   "}])
def test_search_messages_without_a_query_answers_422(
    api: Any, client: Client, sara: User, query: dict
) -> None:
    signed_in(client, sara)

    response = api.get("/api/v1/messages/search", query)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


# Blocks


def test_block_user_answers_201_and_lists_the_block(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages/blocks", {"userId": omar.pk})
    again = api.post("/api/v1/messages/blocks", {"user_id": omar.pk})
    listed = api.get("/api/v1/messages/blocks")

    block = Block.objects.get()
    expected = {"user": brief(omar), "created_at": iso(block.created_at)}
    assert (response.status_code, response.json()) == (201, expected)
    assert (again.status_code, again.json()) == (201, expected)
    assert (block.blocker_id, block.blocked_id) == (sara.pk, omar.pk)
    assert listed.json() == {"items": [expected], "count": 1}


def test_block_user_self_answers_400(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages/blocks", {"user_id": sara.pk})

    assert (response.status_code, response.json()["code"]) == (400, "self_block")
    assert Block.objects.count() == 0


def test_block_user_unknown_answers_404(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.post("/api/v1/messages/blocks", {"user_id": sara.pk + 1000})

    assert (response.status_code, response.json()["code"]) == (404, "recipient_not_found")
    assert Block.objects.count() == 0


def test_list_blocks_shows_only_the_callers_blocks(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    Block.objects.create(blocker=layla, blocked=omar)
    signed_in(client, sara)

    response = api.get("/api/v1/messages/blocks")

    assert response.json() == {"items": [], "count": 0}


def test_unblock_user_answers_204_and_messages_flow_again(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    Block.objects.create(blocker=sara, blocked=omar)
    Block.objects.create(blocker=layla, blocked=omar)
    signed_in(client, sara)

    response = api.delete(f"/api/v1/messages/blocks/{omar.pk}")
    sent = api.post("/api/v1/messages", {"receiver_id": omar.pk, "content": "Hello again"})

    assert response.status_code == 204
    assert list(Block.objects.values_list("blocker_id", "blocked_id")) == [(layla.pk, omar.pk)]
    assert sent.status_code == 201


# Notifications


def make_notification(recipient: User, actor: User, text: str) -> Notification:
    notification = services.notify(
        recipient=recipient, type=ADDED_TO_GROUP.key, actor=actor, text=text, link="/messages/1/"
    )
    assert notification is not None
    return notification


def test_list_notifications_shows_the_callers_newest_first(
    api: Any, client: Client, sara: User, omar: User, layla: User
) -> None:
    older = make_notification(omar, sara, "Sara added you to “Valves”")
    newer = make_notification(omar, layla, "Layla added you to “Molds”")
    make_notification(sara, omar, "Omar added you to “Food safety”")
    signed_in(client, omar)

    response = api.get("/api/v1/notifications")

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": newer.pk,
                "type": "added_to_group",
                "actor": brief(layla),
                "text": "Layla added you to “Molds”",
                "link": "/messages/1/",
                "created_at": iso(newer.created_at),
                "is_read": False,
            },
            {
                "id": older.pk,
                "type": "added_to_group",
                "actor": brief(sara),
                "text": "Sara added you to “Valves”",
                "link": "/messages/1/",
                "created_at": iso(older.created_at),
                "is_read": False,
            },
        ],
        "count": 2,
    }


def test_list_notifications_unread_only(api: Any, client: Client, sara: User, omar: User) -> None:
    read = make_notification(omar, sara, "First")
    unread = make_notification(omar, sara, "Second")
    services.mark_notifications_read(actor=omar, ids=[read.pk])
    signed_in(client, omar)

    response = api.get("/api/v1/notifications", {"unread": "true"})
    everything = api.get("/api/v1/notifications")

    assert [item["id"] for item in response.json()["items"]] == [unread.pk]
    assert [(item["id"], item["is_read"]) for item in everything.json()["items"]] == [
        (unread.pk, False),
        (read.pk, True),
    ]


def test_list_notifications_leaves_out_those_kept_only_for_email(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    services.update_notification_preference(
        actor=omar, type=ADDED_TO_GROUP.key, in_app=False, email="daily"
    )
    make_notification(omar, sara, "Email only")
    signed_in(client, omar)

    response = api.get("/api/v1/notifications")

    assert response.json() == {"items": [], "count": 0}
    assert Notification.objects.get().is_shown_in_app is False


def test_mark_notifications_read_by_ids(api: Any, client: Client, sara: User, omar: User) -> None:
    first = make_notification(omar, sara, "First")
    second = make_notification(omar, sara, "Second")
    signed_in(client, omar)

    response = api.post("/api/v1/notifications/read", {"ids": [first.pk]})

    assert (response.status_code, response.json()) == (
        200,
        {"marked": 1, "unread": {"messages": 0, "conversations": 0, "notifications": 1}},
    )
    assert Notification.objects.get(pk=first.pk).read_at is not None
    assert Notification.objects.get(pk=second.pk).read_at is None


def test_mark_notifications_read_without_ids_marks_all_of_the_callers(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    make_notification(omar, sara, "First")
    make_notification(omar, sara, "Second")
    saras = make_notification(sara, omar, "Sara's")
    signed_in(client, omar)

    response = api.post("/api/v1/notifications/read", {})

    assert response.json() == {"marked": 2, "unread": NO_UNREAD}
    assert Notification.objects.filter(read_at__isnull=True).get() == saras


def test_mark_notifications_read_of_someone_else_marks_nothing(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    saras = make_notification(sara, omar, "Sara's")
    signed_in(client, omar)

    response = api.post("/api/v1/notifications/read", {"ids": [saras.pk]})

    assert response.json() == {"marked": 0, "unread": NO_UNREAD}
    assert Notification.objects.get().read_at is None


def test_list_preferences_shows_every_type_with_its_default(
    api: Any, client: Client, omar: User
) -> None:
    signed_in(client, omar)

    response = api.get("/api/v1/notifications/preferences")

    by_type = {preference["type"]: preference for preference in response.json()}
    assert response.status_code == 200
    assert [preference["type"] for preference in response.json()] == list(NOTIFICATION_TYPES)
    assert by_type["direct_message"] == {
        "type": "direct_message",
        "label": "Direct messages",
        "description": str(NOTIFICATION_TYPES["direct_message"].description),
        "in_app": True,
        "email": "instant",
    }
    assert (by_type["added_to_group"]["in_app"], by_type["added_to_group"]["email"]) == (
        True,
        "daily",
    )


def test_update_preference_changes_only_the_callers_choice(
    api: Any, client: Client, sara: User, omar: User
) -> None:
    signed_in(client, omar)

    response = api.patch(
        "/api/v1/notifications/preferences",
        {"type": "direct_message", "email": "daily", "inApp": False},
    )

    by_type = {preference["type"]: preference for preference in response.json()}
    assert response.status_code == 200
    assert (by_type["direct_message"]["in_app"], by_type["direct_message"]["email"]) == (
        False,
        "daily",
    )
    assert list(
        NotificationPreference.objects.values_list("user_id", "type", "in_app", "email")
    ) == [(omar.pk, "direct_message", False, "daily")]


def test_update_preference_unknown_type_answers_422(api: Any, client: Client, omar: User) -> None:
    signed_in(client, omar)

    response = api.patch("/api/v1/notifications/preferences", {"type": "gossip", "email": "off"})

    assert (response.status_code, response.json()) == (
        422,
        {"detail": "There is no notification of this type.", "code": "unknown_notification_type"},
    )
    assert NotificationPreference.objects.count() == 0


def test_update_preference_unknown_email_choice_answers_422(
    api: Any, client: Client, omar: User
) -> None:
    signed_in(client, omar)

    response = api.patch(
        "/api/v1/notifications/preferences", {"type": "direct_message", "email": "weekly"}
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert NotificationPreference.objects.count() == 0
