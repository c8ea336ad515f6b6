import pytest
from django.db import IntegrityError, transaction

from messaging import selectors, services
from messaging.exceptions import (
    BlockedError,
    ClientMessageIdReusedError,
    ConversationNotFoundError,
    MessageDeletedError,
    MessageNotFoundError,
    NotMessageSenderError,
    RecipientInactiveError,
    SelfBlockError,
    SelfMessageError,
    TooManyParticipantsError,
    UnknownNotificationTypeError,
    YouBlockedError,
)
from messaging.models import (
    Block,
    Conversation,
    Message,
    Notification,
    NotificationPreference,
    Participant,
    StreamEvent,
)
from messaging.services import InvalidContentError
from p2p_sandbox.models import OutboundEmail


@pytest.fixture
def pair(user_factory: object) -> tuple:
    return user_factory(first_name="Aisha"), user_factory(first_name="Omar")


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: object) -> object:
    return lambda: django_capture_on_commit_callbacks(execute=True)


def events_of(user: object) -> list[tuple[int, str]]:
    return list(
        StreamEvent.objects.filter(user=user).order_by("event_id").values_list("event_id", "type")
    )


def send(actor: object, to: object, content: str = "Hello", **kwargs: object) -> Message:
    message, _ = services.send_direct_message(
        actor=actor, receiver_id=to.pk, content=content, **kwargs
    )
    return message


def test_send_direct_message_creates_one_conversation_per_pair(pair: tuple) -> None:
    aisha, omar = pair

    first = send(aisha, omar)
    reply = send(omar, aisha, "Hi Aisha")

    assert first.conversation_id == reply.conversation_id
    conversation = Conversation.objects.get()
    assert conversation.kind == "direct"
    assert (conversation.user_low_id, conversation.user_high_id) == tuple(
        sorted((aisha.pk, omar.pk))
    )
    assert set(Participant.objects.values_list("user_id", flat=True)) == {aisha.pk, omar.pk}


def test_conversation_constraint_refuses_a_second_direct_conversation(pair: tuple) -> None:
    aisha, omar = pair
    low, high = sorted((aisha.pk, omar.pk))
    Conversation.objects.create(kind="direct", user_low_id=low, user_high_id=high)

    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(kind="direct", user_low_id=low, user_high_id=high)


def test_send_direct_message_renders_sanitized_markdown(pair: tuple) -> None:
    aisha, omar = pair

    message = send(aisha, omar, "**Bold** <script>alert(1)</script> [x](javascript:alert(1))")

    assert message.content_html == (
        "<p><strong>Bold</strong> &lt;script&gt;alert(1)&lt;/script&gt; "
        "[x](javascript:alert(1))</p>"
    )


@pytest.mark.parametrize("content", ["", "   ", "x" * 5001])
def test_send_direct_message_refuses_bad_content(pair: tuple, content: str) -> None:
    aisha, omar = pair

    with pytest.raises(InvalidContentError):
        send(aisha, omar, content)

    assert Message.objects.count() == 0
    assert Conversation.objects.count() == 0


def test_send_direct_message_stores_a_retried_client_msg_id_once(
    pair: tuple, run_on_commit: object
) -> None:
    aisha, omar = pair
    with run_on_commit():
        first, created = services.send_direct_message(
            actor=aisha, receiver_id=omar.pk, content="Once", client_msg_id="c-1"
        )

    with run_on_commit():
        again, created_again = services.send_direct_message(
            actor=aisha, receiver_id=omar.pk, content="Once", client_msg_id="c-1"
        )

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    assert events_of(omar) == [(1, "new_message")]


def test_send_direct_message_refuses_a_client_msg_id_reused_elsewhere(
    pair: tuple, user_factory: object
) -> None:
    aisha, omar = pair
    send(aisha, omar, client_msg_id="c-1")

    with pytest.raises(ClientMessageIdReusedError):
        send(aisha, user_factory(), client_msg_id="c-1")

    assert Message.objects.count() == 1


def test_send_direct_message_records_events_for_both_sides(
    pair: tuple, run_on_commit: object
) -> None:
    aisha, omar = pair

    with run_on_commit() as callbacks:
        message = send(aisha, omar)

    assert events_of(aisha) == [(1, "new_message")]
    assert events_of(omar) == [(1, "new_message")]
    payload = StreamEvent.objects.get(user=omar).payload
    assert payload["message"]["id"] == message.pk
    assert payload["message"]["sender"]["full_name"] == aisha.get_full_name()
    assert payload["message"]["content_html"] == "<p>Hello</p>"
    assert len(callbacks) == 2  # the stored events, then Omar's unread counts


def test_send_direct_message_to_self_is_refused(pair: tuple) -> None:
    aisha, _ = pair

    with pytest.raises(SelfMessageError):
        send(aisha, aisha)

    assert Conversation.objects.count() == 0


def test_send_direct_message_to_deactivated_person_is_refused(user_factory: object) -> None:
    aisha = user_factory()
    gone = user_factory(is_active=False)

    with pytest.raises(RecipientInactiveError):
        send(aisha, gone)

    assert Message.objects.count() == 0


def test_send_direct_message_refuses_blocked_pairs_both_ways(pair: tuple) -> None:
    aisha, omar = pair
    send(aisha, omar)
    services.block_user(actor=omar, user_id=aisha.pk)

    with pytest.raises(BlockedError):
        send(aisha, omar)
    with pytest.raises(YouBlockedError):
        send(omar, aisha)
    with pytest.raises(BlockedError):
        services.send_direct_message(
            actor=aisha, conversation_id=Conversation.objects.get().pk, content="Again"
        )

    assert Message.objects.count() == 1


def test_unblock_user_allows_messages_again(pair: tuple) -> None:
    aisha, omar = pair
    services.block_user(actor=omar, user_id=aisha.pk)
    services.block_user(actor=omar, user_id=aisha.pk)  # twice keeps one block

    services.unblock_user(actor=omar, user_id=aisha.pk)

    assert Block.objects.count() == 0
    assert send(aisha, omar).pk


def test_block_user_refuses_self(pair: tuple) -> None:
    aisha, _ = pair

    with pytest.raises(SelfBlockError):
        services.block_user(actor=aisha, user_id=aisha.pk)


def test_block_hides_new_group_messages_from_the_blocker(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    karim = user_factory(first_name="Karim")
    group = services.create_group_conversation(
        actor=aisha, title="Line 3 retrofit", participant_ids=[omar.pk, karim.pk]
    )
    before = services.send_direct_message(actor=omar, conversation_id=group.pk, content="Before")[0]
    services.block_user(actor=aisha, user_id=omar.pk)
    StreamEvent.objects.all().delete()

    after = services.send_direct_message(actor=omar, conversation_id=group.pk, content="After")[0]

    seen_by_aisha = list(selectors.list_messages(user_id=aisha.pk, conversation_id=group.pk))
    seen_by_karim = list(selectors.list_messages(user_id=karim.pk, conversation_id=group.pk))
    assert [m.pk for m in seen_by_aisha] == [before.pk]
    assert [m.pk for m in seen_by_karim] == [after.pk, before.pk]
    assert events_of(aisha) == []
    assert events_of(karim) == [(events_of(karim)[0][0], "new_message")]
    assert selectors.get_unread_counts(aisha.pk)["messages"] == 1  # "Before" only


def test_unread_counts_follow_sending_reading_and_deleting(pair: tuple) -> None:
    aisha, omar = pair
    first = send(aisha, omar, "One")
    send(aisha, omar, "Two")
    third = send(aisha, omar, "Three")

    assert selectors.get_unread_counts(omar.pk) == {
        "messages": 3,
        "conversations": 1,
        "notifications": 0,
    }
    assert selectors.get_unread_counts(aisha.pk)["messages"] == 0

    services.delete_message(actor=aisha, message_id=third.pk)
    assert selectors.get_unread_counts(omar.pk)["messages"] == 2

    services.mark_conversation_read(
        actor=omar, conversation_id=first.conversation_id, message_id=first.pk
    )
    assert selectors.get_unread_counts(omar.pk)["messages"] == 1

    services.mark_conversation_read(actor=omar, conversation_id=first.conversation_id)
    assert selectors.get_unread_counts(omar.pk)["messages"] == 0


def test_mark_conversation_read_never_moves_back(pair: tuple, run_on_commit: object) -> None:
    aisha, omar = pair
    first = send(aisha, omar, "One")
    second = send(aisha, omar, "Two")
    services.mark_conversation_read(actor=omar, conversation_id=first.conversation_id)
    StreamEvent.objects.all().delete()

    with run_on_commit():
        participant = services.mark_conversation_read(
            actor=omar, conversation_id=first.conversation_id, message_id=first.pk
        )

    assert participant.last_read_message_id == second.pk
    assert StreamEvent.objects.count() == 0


def test_mark_conversation_read_tells_the_sender(pair: tuple) -> None:
    aisha, omar = pair
    message = send(aisha, omar)

    services.mark_conversation_read(actor=omar, conversation_id=message.conversation_id)

    read = StreamEvent.objects.get(user=aisha, type="message_read")
    assert read.payload == {
        "conversation_id": message.conversation_id,
        "user_id": omar.pk,
        "message_id": message.pk,
    }


def test_mark_conversation_read_refuses_outsiders_and_foreign_messages(
    pair: tuple, user_factory: object
) -> None:
    aisha, omar = pair
    message = send(aisha, omar)
    other = send(user_factory(), aisha, "Elsewhere")

    with pytest.raises(ConversationNotFoundError):
        services.mark_conversation_read(
            actor=user_factory(), conversation_id=message.conversation_id
        )
    with pytest.raises(MessageNotFoundError):
        services.mark_conversation_read(
            actor=omar, conversation_id=message.conversation_id, message_id=other.pk
        )

    assert Participant.objects.get(user=omar).last_read_message_id == 0


def test_muted_conversation_leaves_the_header_count(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    message = send(aisha, omar)
    send(user_factory(), omar, "From someone else")

    services.update_participation(
        actor=omar, conversation_id=message.conversation_id, is_muted=True
    )

    assert selectors.get_unread_counts(omar.pk) == {
        "messages": 1,
        "conversations": 1,
        "notifications": 0,
    }
    assert selectors.count_unread_in(omar.pk, message.conversation_id) == 1


def test_new_message_brings_an_archived_conversation_back(pair: tuple) -> None:
    aisha, omar = pair
    message = send(aisha, omar)
    services.update_participation(
        actor=omar, conversation_id=message.conversation_id, is_archived=True
    )
    assert [p.conversation_id for p in selectors.list_conversations(omar.pk, archived=True)] == [
        message.conversation_id
    ]

    send(aisha, omar, "Are you there?")

    assert list(selectors.list_conversations(omar.pk, archived=True)) == []


def test_edit_message_changes_content_and_tells_participants(pair: tuple) -> None:
    aisha, omar = pair
    message = send(aisha, omar, "Helo")

    edited = services.edit_message(actor=aisha, message_id=message.pk, content="Hello *all*")

    assert edited.content_html == "<p>Hello <em>all</em></p>"
    assert edited.edited_at is not None
    update = StreamEvent.objects.get(user=omar, type="message_updated")
    assert update.payload["message"]["content"] == "Hello *all*"


def test_edit_message_is_the_senders_alone(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    message = send(aisha, omar, "Original")

    with pytest.raises(NotMessageSenderError):
        services.edit_message(actor=omar, message_id=message.pk, content="Changed")
    with pytest.raises(MessageNotFoundError):
        services.edit_message(actor=user_factory(), message_id=message.pk, content="Changed")

    message.refresh_from_db()
    assert (message.content, message.edited_at) == ("Original", None)


def test_delete_message_keeps_its_place_without_content(pair: tuple) -> None:
    aisha, omar = pair
    message = send(aisha, omar, "Secret")

    services.delete_message(actor=aisha, message_id=message.pk)

    update = StreamEvent.objects.get(user=omar, type="message_updated")
    assert update.payload["message"]["is_deleted"] is True
    assert update.payload["message"]["content"] == ""
    assert update.payload["message"]["content_html"] == ""
    with pytest.raises(MessageDeletedError):
        services.edit_message(actor=aisha, message_id=message.pk, content="Back")


def test_create_group_conversation_notifies_the_others(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    karim = user_factory()

    group = services.create_group_conversation(
        actor=aisha, title="Energy audit", participant_ids=[omar.pk, karim.pk, aisha.pk]
    )

    assert group.kind == "group"
    assert Participant.objects.filter(conversation=group).count() == 3
    assert set(Notification.objects.values_list("recipient_id", "type")) == {
        (omar.pk, "added_to_group"),
        (karim.pk, "added_to_group"),
    }
    assert events_of(omar) == [(1, "notification")]


def test_create_group_conversation_caps_participants(user_factory: object) -> None:
    aisha = user_factory()
    others = [user_factory().pk for _ in range(10)]

    with pytest.raises(TooManyParticipantsError):
        services.create_group_conversation(actor=aisha, title="Too many", participant_ids=others)

    assert Conversation.objects.count() == 0


def test_signal_typing_recipients_skips_blocked_and_outsiders(
    pair: tuple, user_factory: object
) -> None:
    aisha, omar = pair
    message = send(aisha, omar)
    assert services.signal_typing_recipients(aisha, message.conversation_id) == [omar.pk]

    services.block_user(actor=aisha, user_id=omar.pk)

    assert services.signal_typing_recipients(omar, message.conversation_id) == []
    assert services.signal_typing_recipients(aisha, message.conversation_id) == []
    with pytest.raises(ConversationNotFoundError):
        services.signal_typing_recipients(user_factory(), message.conversation_id)


def test_notify_stores_pushes_and_emails_as_preferred(pair: tuple, run_on_commit: object) -> None:
    aisha, omar = pair
    services.update_notification_preference(actor=omar, type="added_to_group", email="instant")

    with run_on_commit():
        notification = services.notify(
            recipient=omar,
            type="added_to_group",
            actor=aisha,
            text="Aisha added you to “Audit”",
            link="/messages/1/",
        )

    assert notification is not None
    assert events_of(omar) == [(1, "notification")]
    assert StreamEvent.objects.get(user=omar).payload["notification"]["text"] == (
        "Aisha added you to “Audit”"
    )
    email = OutboundEmail.objects.get()
    assert email.to == omar.email
    assert "/notifications/unsubscribe/" in email.text_body
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    assert selectors.get_unread_counts(omar.pk)["notifications"] == 1


def test_notify_email_only_when_in_app_is_off(pair: tuple) -> None:
    aisha, omar = pair
    services.update_notification_preference(
        actor=omar, type="added_to_group", in_app=False, email="instant"
    )

    notification = services.notify(recipient=omar, type="added_to_group", actor=aisha, text="x")

    assert notification is not None
    assert notification.is_shown_in_app is False
    assert StreamEvent.objects.count() == 0
    assert OutboundEmail.objects.count() == 1
    assert selectors.get_unread_counts(omar.pk)["notifications"] == 0
    assert list(selectors.list_notifications(omar.pk)) == []


def test_notify_skips_self_inactive_blocked_and_all_off(pair: tuple, user_factory: object) -> None:
    aisha, _omar = pair
    gone = user_factory(is_active=False)
    blocker = user_factory()
    services.block_user(actor=blocker, user_id=aisha.pk)
    quiet = user_factory()
    services.update_notification_preference(
        actor=quiet, type="added_to_group", in_app=False, email="off"
    )

    results = [
        services.notify(recipient=aisha, type="added_to_group", actor=aisha, text="x"),
        services.notify(recipient=gone, type="added_to_group", actor=aisha, text="x"),
        services.notify(recipient=blocker, type="added_to_group", actor=aisha, text="x"),
        services.notify(recipient=quiet, type="added_to_group", actor=aisha, text="x"),
    ]

    assert results == [None, None, None, None]
    assert Notification.objects.count() == 0
    assert OutboundEmail.objects.count() == 0


def test_notify_refuses_unknown_types(pair: tuple) -> None:
    aisha, omar = pair

    with pytest.raises(UnknownNotificationTypeError):
        services.notify(recipient=omar, type="no_such_type", actor=aisha, text="x")

    assert Notification.objects.count() == 0


def test_mark_notifications_read_marks_the_actors_own(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    karim = user_factory()
    for person in (omar, omar, karim):
        services.notify(recipient=person, type="added_to_group", actor=aisha, text="x")
    first = Notification.objects.filter(recipient=omar).first()
    karims = Notification.objects.get(recipient=karim)

    assert services.mark_notifications_read(actor=omar, ids=[first.pk, karims.pk]) == 1
    assert services.mark_notifications_read(actor=omar) == 1
    assert services.mark_notifications_read(actor=omar) == 0
    karims.refresh_from_db()
    assert karims.read_at is None


def test_update_notification_preference_validates_and_keeps_one_row(pair: tuple) -> None:
    _, omar = pair

    services.update_notification_preference(actor=omar, type="direct_message", email="daily")
    services.update_notification_preference(actor=omar, type="direct_message", in_app=False)

    preference = NotificationPreference.objects.get()
    assert (preference.in_app, preference.email) == (False, "daily")
    with pytest.raises(UnknownNotificationTypeError):
        services.update_notification_preference(actor=omar, type="nope", email="off")
    assert selectors.get_preference(omar.pk, "direct_message") == (False, "daily")
    assert selectors.get_preference(omar.pk, "added_to_group") == (True, "daily")


def test_push_to_stream_records_an_event_of_another_app(pair: tuple) -> None:
    aisha, _ = pair

    services.push_to_stream(user_id=aisha.pk, type="media_ready", payload={"media_id": 7})
    services.push_to_stream(user_id=aisha.pk, type="media_ready", payload={"media_id": 8})

    assert events_of(aisha) == [(1, "media_ready"), (2, "media_ready")]


def test_describe_conversations_uses_a_fixed_number_of_queries(
    pair: tuple, user_factory: object, django_assert_num_queries: object
) -> None:
    aisha, omar = pair
    for _ in range(5):
        send(user_factory(), aisha)
    send(omar, aisha, "Latest")

    with django_assert_num_queries(3):
        page = selectors.describe_conversations(list(selectors.list_conversations(aisha.pk)))

    assert len(page) == 6
    assert page[0]["last_message"].content == "Latest"
    assert [c["unread_count"] for c in page] == [1] * 6
    assert page[0]["read_up_to"] == {omar.pk: page[0]["last_message"].pk}


def test_search_messages_stays_within_own_conversations(pair: tuple, user_factory: object) -> None:
    aisha, omar = pair
    mine = send(aisha, omar, "The vibration sensor on pump 4")
    send(user_factory(), user_factory(), "Vibration sensor elsewhere")

    found = list(selectors.search_messages(omar.pk, "vibration SENSOR"))

    assert [m.pk for m in found] == [mine.pk]
