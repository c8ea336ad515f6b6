import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import User
from forums import events, selectors, services, tasks
from forums.exceptions import (
    InvalidContentError,
    InvalidReplyToError,
    InvalidSubscriptionLevelError,
    InvalidTagsError,
    InvalidTitleError,
    NotAllowedError,
    NotAPostOfTopicError,
    PostNotFoundError,
    TopicLockedError,
    TopicNotFoundError,
    UnknownCategoryError,
)
from forums.models import (
    Bookmark,
    Category,
    Post,
    PostLike,
    Subscription,
    Tag,
    Topic,
    TopicLike,
    TopicView,
)
from forums.tests.factories import general_category
from messaging.models import Notification
from p2p_sandbox.models import OutboundEmail

pytestmark = pytest.mark.services

Sent = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Run the on-commit callbacks (the events) of the writes inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def people(user_factory: Any, organization_factory: Any) -> dict[str, User]:
    plant, refinery = organization_factory(), organization_factory()
    return {
        "aisha": user_factory(organization=plant, first_name="Aisha", last_name="Rahman"),
        "omar": user_factory(organization=refinery, first_name="Omar", last_name="Haddad"),
        "admin": user_factory(organization=plant, admin=True, first_name="Layla"),
        "other_admin": user_factory(organization=refinery, admin=True, first_name="Karim"),
        "staff": user_factory(is_staff=True, first_name="Sara"),
    }


@pytest.fixture
def outsiders(user_factory: Any) -> dict[str, Any]:
    return {
        "anonymous": AnonymousUser(),
        "unverified": user_factory(unverified=True),
        "inactive": user_factory(is_active=False),
    }


def new_topic(actor: User, **fields: Any) -> Topic:
    values = {"category": general_category(), "title": "Kiln burner restarts every hour", **fields}
    return services.create_topic(actor=actor, **values)


def reply(actor: User, topic: Topic, content: str = "Check the flame sensor.", **kw: Any) -> Post:
    return services.create_post(actor=actor, topic_id=topic.pk, content=content, **kw)


def event_types(sent: Sent) -> list[tuple[str, str]]:
    return [(group, event["type"]) for group, event in sent]


def snapshot(topic: Topic) -> dict[str, Any]:
    """What a denied or invalid write must leave as it was."""
    topic.refresh_from_db()
    return {
        "topic": (
            topic.title,
            topic.content,
            topic.content_html,
            topic.edited_at,
            topic.reply_count,
            topic.like_count,
            topic.view_count,
            topic.is_pinned,
            topic.is_locked,
            topic.category_id,
            topic.best_answer_id,
            topic.last_post_id,
            topic.deleted_at,
        ),
        "tags": sorted(topic.tags.values_list("name", flat=True)),
        "posts": list(
            Post.objects.order_by("id").values_list("id", "content", "deleted_at", "like_count")
        ),
        "likes": TopicLike.objects.count() + PostLike.objects.count(),
        "bookmarks": Bookmark.objects.count(),
        "subscriptions": sorted(Subscription.objects.values_list("user_id", "level")),
        "views": TopicView.objects.count(),
        "notifications": Notification.objects.count(),
    }


# create_topic


def test_create_topic_stores_rendered_topic_tags_and_author_follow(
    people: dict[str, User], run: Any, sent_events: Sent, general: Category
) -> None:
    aisha = people["aisha"]

    with run():
        topic = new_topic(
            aisha,
            title="  Kiln burner   restarts every hour ",
            content="The **flame** sensor trips.\n\n<script>alert(1)</script>",
            tags=["Burners", " flame  Safety ", "burners"],
        )

    topic.refresh_from_db()
    assert topic.title == "Kiln burner restarts every hour"
    assert topic.content == "The **flame** sensor trips.\n\n<script>alert(1)</script>"
    assert topic.content_html == (
        "<p>The <strong>flame</strong> sensor trips.</p>\n"
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    assert (topic.category_id, topic.author_id, topic.organization_id) == (
        general.pk,
        aisha.pk,
        aisha.organization_id,
    )
    assert sorted(topic.tags.values_list("name", flat=True)) == ["burners", "flame safety"]
    assert (topic.reply_count, topic.like_count, topic.view_count) == (0, 0, 0)
    assert list(Subscription.objects.values_list("topic_id", "user_id", "level")) == [
        (topic.pk, aisha.pk, "following")
    ]
    assert event_types(sent_events) == [("forum.all", "topic_created")]
    event = sent_events[0][1]
    assert event["topic_id"] == topic.pk
    assert event["topic"]["title"] == "Kiln burner restarts every hour"
    assert event["topic"]["category"] == {"id": general.pk, "name": "General", "slug": "general"}
    assert event["topic"]["tags"] == ["burners", "flame safety"]
    assert event["topic"]["author"]["full_name"] == "Aisha Rahman"
    assert event["topic"]["excerpt"] == "The flame sensor trips. <script>alert(1)</script>"
    assert (event["topic"]["is_liked"], event["topic"]["is_bookmarked"]) == (False, False)


def test_create_topic_returns_the_topic_with_the_authors_view(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"], tags=["plc"])

    assert (topic.is_liked, topic.is_bookmarked, topic.subscription) == (False, False, "following")
    assert [tag.name for tag in topic.tags.all()] == ["plc"]


def test_create_topic_with_a_title_alone(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"], content="   ")

    topic.refresh_from_db()
    assert (topic.content, topic.content_html) == ("", "")


@pytest.mark.parametrize("by", ["slug", "id", "digits", "instance"])
def test_create_topic_accepts_the_category_by_slug_id_or_instance(
    people: dict[str, User], by: str
) -> None:
    maintenance = Category.objects.get(slug="maintenance")
    category = {
        "slug": "maintenance",
        "id": maintenance.pk,
        "digits": str(maintenance.pk),
        "instance": maintenance,
    }[by]

    topic = new_topic(people["aisha"], category=category)

    assert topic.category_id == maintenance.pk


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"title": "Too short"[:7]}, InvalidTitleError),
        ({"title": "        a     "}, InvalidTitleError),
        ({"title": "x" * 151}, InvalidTitleError),
        ({"title": None}, InvalidTitleError),
        ({"content": "x" * 5001}, InvalidContentError),
        ({"content": 42}, InvalidContentError),
        ({"tags": ["a", "b", "c", "d", "e", "f"]}, InvalidTagsError),
        ({"tags": ["x" * 31]}, InvalidTagsError),
        ({"tags": ["<b>plc</b>"]}, InvalidTagsError),
        ({"tags": ["under_score"]}, InvalidTagsError),
        ({"tags": ["  "]}, InvalidTagsError),
        ({"tags": "plc"}, InvalidTagsError),
        ({"tags": [7]}, InvalidTagsError),
        ({"category": "no-such-category"}, UnknownCategoryError),
        ({"category": 999_999}, UnknownCategoryError),
        ({"category": ""}, UnknownCategoryError),
        ({"category": True}, UnknownCategoryError),
    ],
)
def test_create_topic_rejects_invalid_input_and_writes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent, fields: dict, error: type
) -> None:
    with run(), pytest.raises(error) as raised:
        new_topic(people["aisha"], **fields)

    assert raised.value.status == 422
    assert (Topic.objects.count(), Tag.objects.count(), Subscription.objects.count()) == (0, 0, 0)
    assert sent_events == []


def test_create_topic_accepts_five_tags_of_thirty_characters(people: dict[str, User]) -> None:
    tags = ["a" * 30, "b-c", "d e", "٣ أبعاد", "iso 9001"]

    topic = new_topic(people["aisha"], tags=tags)

    assert sorted(t.name for t in topic.tags.all()) == sorted(tags)


@pytest.mark.parametrize("who", ["anonymous", "unverified", "inactive"])
def test_create_topic_denied_to_non_members(
    outsiders: dict[str, Any], run: Any, sent_events: Sent, who: str
) -> None:
    with run(), pytest.raises(NotAllowedError) as raised:
        new_topic(outsiders[who])

    assert (raised.value.status, raised.value.code) == (403, "not_allowed")
    assert Topic.objects.count() == 0
    assert sent_events == []


# update_topic


@pytest.mark.parametrize("who", ["aisha", "staff"])
def test_update_topic_by_author_or_staff(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"], tags=["plc"])
    sent_events.clear()

    with run():
        updated = services.update_topic(
            actor=people[who],
            topic_id=topic.pk,
            title="Kiln burner restarts every two hours",
            content="Now *less* often.",
            tags=["burners"],
        )

    topic.refresh_from_db()
    assert topic.title == "Kiln burner restarts every two hours"
    assert topic.content_html == "<p>Now <em>less</em> often.</p>"
    assert topic.edited_at is not None
    assert [t.name for t in updated.tags.all()] == ["burners"]
    assert event_types(sent_events) == [(f"forum.topic.{topic.pk}", "topic_updated")]
    assert sent_events[0][1]["title"] == "Kiln burner restarts every two hours"


def test_update_topic_content_only_publishes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    sent_events.clear()

    with run():
        services.update_topic(actor=people["aisha"], topic_id=topic.pk, content="More detail.")

    topic.refresh_from_db()
    assert (topic.content, topic.edited_at is not None) == ("More detail.", True)
    assert sent_events == []


def test_update_topic_with_nothing_different_changes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"], content="Same", tags=["plc"])
    sent_events.clear()

    with run():
        services.update_topic(
            actor=people["aisha"],
            topic_id=topic.pk,
            title=topic.title,
            content="Same",
            tags=["PLC"],
        )

    topic.refresh_from_db()
    assert topic.edited_at is None
    assert sent_events == []


@pytest.mark.parametrize("who", ["omar", "admin", "other_admin"])
def test_update_topic_denied_to_others_including_organization_admins(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"], tags=["plc"])
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError) as raised:
        services.update_topic(
            actor=people[who], topic_id=topic.pk, title="Hijacked title here", tags=["x"]
        )

    assert raised.value.message == "Only the author or staff can edit this topic."
    assert snapshot(topic) == before
    assert sent_events == []


def test_update_topic_invalid_title_changes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"], tags=["plc"])
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(InvalidTitleError):
        services.update_topic(actor=people["aisha"], topic_id=topic.pk, content="ok", title="no")

    assert snapshot(topic) == before
    assert sent_events == []


# delete_topic


@pytest.mark.parametrize("who", ["aisha", "admin", "staff"])
def test_delete_topic_by_author_their_organization_admin_or_staff(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    sent_events.clear()

    with run():
        deleted = services.delete_topic(actor=people[who], topic_id=topic.pk)

    assert deleted.deleted_at is not None
    assert deleted.deleted_by_id == people[who].pk
    assert sent_events == [
        (f"forum.topic.{topic.pk}", {"type": "topic_deleted", "topic_id": topic.pk})
    ]
    with pytest.raises(TopicNotFoundError):
        selectors.get_topic(people["omar"], topic.pk)
    assert selectors.get_topic(people["staff"], topic.pk).is_deleted is True
    assert list(selectors.list_topics(people["staff"])) == []


@pytest.mark.parametrize("who", ["omar", "other_admin"])
def test_delete_topic_denied_to_others(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError):
        services.delete_topic(actor=people[who], topic_id=topic.pk)

    topic.refresh_from_db()
    assert topic.deleted_at is None
    assert sent_events == []


def test_delete_topic_twice_by_staff_changes_nothing_more(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    first = services.delete_topic(actor=people["aisha"], topic_id=topic.pk)
    sent_events.clear()

    with run():
        again = services.delete_topic(actor=people["staff"], topic_id=topic.pk)

    assert (again.deleted_at, again.deleted_by_id) == (first.deleted_at, people["aisha"].pk)
    assert sent_events == []
    with pytest.raises(TopicNotFoundError):
        services.delete_topic(actor=people["aisha"], topic_id=topic.pk)


# create_post


def test_create_post_counts_it_follows_and_publishes_it(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    aisha, omar = people["aisha"], people["omar"]
    topic = new_topic(aisha)
    sent_events.clear()

    with run():
        post = reply(omar, topic, "Replace the **UV** scanner.")

    topic.refresh_from_db()
    assert (topic.reply_count, topic.last_post_id) == (1, post.pk)
    assert topic.last_activity_at == post.created_at
    assert post.content_html == "<p>Replace the <strong>UV</strong> scanner.</p>"
    assert sorted(Subscription.objects.values_list("user_id", "level")) == sorted(
        [(aisha.pk, "following"), (omar.pk, "following")]
    )
    assert event_types(sent_events) == [(f"forum.topic.{topic.pk}", "post_created")]
    event = sent_events[0][1]
    assert event["topic_id"] == topic.pk
    assert event["post"] == {
        "id": post.pk,
        "topic_id": topic.pk,
        "author": {
            "id": omar.pk,
            "full_name": "Omar Haddad",
            "avatar_url": None,
            "organization_name": omar.organization.name,
        },
        "content": "Replace the **UV** scanner.",
        "content_html": "<p>Replace the <strong>UV</strong> scanner.</p>",
        "reply_to": None,
        "created_at": event["post"]["created_at"],
        "edited_at": None,
        "is_deleted": False,
        "like_count": 0,
        "is_liked": False,
        "is_best_answer": False,
    }


def test_create_post_quotes_the_post_it_replies_to(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    first = reply(people["omar"], topic, "Check the *flame* rod.")
    sent_events.clear()

    with run():
        answer = reply(people["aisha"], topic, "Done, it was dirty.", reply_to_id=first.pk)

    assert answer.reply_to_id == first.pk
    assert sent_events[0][1]["post"]["reply_to"] == {
        "id": first.pk,
        "author_name": "Omar Haddad",
        "excerpt": "Check the flame rod.",
    }


@pytest.mark.parametrize("who", ["aisha", "staff"])
def test_create_post_in_a_locked_topic_is_refused_to_everyone(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    services.set_locked(actor=people["staff"], topic_id=topic.pk, locked=True)
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(TopicLockedError) as raised:
        reply(people[who], topic)

    assert (raised.value.status, raised.value.code) == (409, "topic_locked")
    assert snapshot(topic) == before
    assert sent_events == []


@pytest.mark.parametrize("content", ["", "   \n ", "x" * 5001, None])
def test_create_post_rejects_invalid_content(
    people: dict[str, User], run: Any, sent_events: Sent, content: Any
) -> None:
    topic = new_topic(people["aisha"])
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(InvalidContentError) as raised:
        reply(people["omar"], topic, content)

    assert (raised.value.status, raised.value.code) == (422, "invalid_content")
    assert snapshot(topic) == before
    assert sent_events == []


def test_create_post_accepts_five_thousand_characters(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])

    post = reply(people["omar"], topic, "x" * 5000)

    assert len(post.content) == 5000


@pytest.mark.parametrize("target", ["other_topic", "deleted", "missing"])
def test_create_post_rejects_a_reply_to_outside_the_live_posts_of_the_topic(
    people: dict[str, User], run: Any, sent_events: Sent, target: str
) -> None:
    topic = new_topic(people["aisha"])
    other = new_topic(people["omar"], title="Another question about kilns")
    elsewhere = reply(people["omar"], other)
    gone = reply(people["omar"], topic)
    services.delete_post(actor=people["omar"], post_id=gone.pk)
    reply_to_id = {"other_topic": elsewhere.pk, "deleted": gone.pk, "missing": 999_999}[target]
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(InvalidReplyToError) as raised:
        reply(people["aisha"], topic, reply_to_id=reply_to_id)

    assert (raised.value.status, raised.value.code) == (422, "invalid_reply_to")
    assert snapshot(topic) == before
    assert sent_events == []


def test_create_post_in_a_deleted_or_missing_topic_is_not_found(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    services.delete_topic(actor=people["aisha"], topic_id=topic.pk)
    sent_events.clear()

    with run():
        for actor in (people["omar"], people["staff"]):
            with pytest.raises(TopicNotFoundError):
                reply(actor, topic)
        with pytest.raises(TopicNotFoundError):
            services.create_post(actor=people["omar"], topic_id=999_999, content="Hello")

    assert Post.objects.count() == 0
    assert sent_events == []


@pytest.mark.parametrize("who", ["anonymous", "unverified", "inactive"])
def test_create_post_denied_to_non_members(
    people: dict[str, User], outsiders: dict[str, Any], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError):
        reply(outsiders[who], topic)

    assert snapshot(topic) == before
    assert sent_events == []


# notifications of replies


def test_create_post_notifies_each_follower_once_but_not_the_replier_muted_or_viewing(
    people: dict[str, User], user_factory: Any, run: Any, viewing: Any
) -> None:
    aisha, omar = people["aisha"], people["omar"]
    follower, muted, watcher, deactivated = user_factory.create_batch(4)
    topic = new_topic(aisha)
    services.set_subscription(actor=follower, topic_id=topic.pk, level="following")
    services.set_subscription(actor=muted, topic_id=topic.pk, level="muted")
    services.set_subscription(actor=watcher, topic_id=topic.pk, level="following")
    services.set_subscription(actor=deactivated, topic_id=topic.pk, level="following")
    User.objects.filter(pk=deactivated.pk).update(is_active=False)
    reply(omar, topic, "First reply")  # omar now follows too
    Notification.objects.all().delete()
    OutboundEmail.objects.all().delete()
    viewing(topic.pk, watcher.pk)

    with run():
        post = reply(omar, topic, "Second reply")

    notified = Notification.objects.order_by("recipient_id")
    assert [n.recipient_id for n in notified] == sorted([aisha.pk, follower.pk])
    assert {(n.type, n.actor_id, n.target_id, n.link, n.text) for n in notified} == {
        (
            "forum_reply",
            omar.pk,
            post.pk,
            f"/forums/t/{topic.pk}/#post-{post.pk}",
            "Omar Haddad replied to “Kiln burner restarts every hour”",
        )
    }
    # forum_reply emails instantly by default.
    assert sorted(OutboundEmail.objects.values_list("to", "subject")) == sorted(
        (person.email, "Omar Haddad replied to “Kiln burner restarts every hour”")
        for person in (aisha, follower)
    )


def test_create_post_a_replier_who_muted_stays_muted(people: dict[str, User], run: Any) -> None:
    topic = new_topic(people["aisha"])
    services.set_subscription(actor=people["omar"], topic_id=topic.pk, level="muted")
    reply(people["omar"], topic)
    Notification.objects.all().delete()

    with run():
        reply(people["aisha"], topic, "Thanks!")

    assert Subscription.objects.get(user=people["omar"]).level == "muted"
    assert Notification.objects.count() == 0


def test_create_post_an_author_who_unfollowed_is_followed_again_by_replying(
    people: dict[str, User],
) -> None:
    topic = new_topic(people["aisha"])
    services.set_subscription(actor=people["aisha"], topic_id=topic.pk, level=None)

    reply(people["aisha"], topic, "Adding a detail")

    assert Subscription.objects.get(user=people["aisha"]).level == "following"


def test_notify_reply_followers_task_twice_notifies_once(people: dict[str, User], run: Any) -> None:
    topic = new_topic(people["aisha"])
    post = services.store_post(actor=people["omar"], topic_id=topic.pk, content="Hello")
    assert Notification.objects.count() == 0

    first = tasks.notify_reply_followers_task(post.pk)
    second = tasks.notify_reply_followers_task(post.pk)

    assert (first, second) == (1, 0)
    assert list(Notification.objects.values_list("recipient_id", "target_id")) == [
        (people["aisha"].pk, post.pk)
    ]


def test_notify_reply_followers_of_a_deleted_post_notifies_nobody(
    people: dict[str, User],
) -> None:
    topic = new_topic(people["aisha"])
    post = services.store_post(actor=people["omar"], topic_id=topic.pk, content="Oops")
    services.delete_post(actor=people["omar"], post_id=post.pk)

    assert tasks.notify_reply_followers_task(post.pk) == 0
    assert tasks.notify_reply_followers_task(999_999) == 0
    assert Notification.objects.count() == 0


def test_create_post_notifies_here_when_the_broker_is_down(
    people: dict[str, User], run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = new_topic(people["aisha"])

    attempts = []

    def broken(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise BrokerError("connection refused")

    monkeypatch.setattr(tasks.notify_reply_followers_task, "delay", broken)
    with run():
        post = reply(people["omar"], topic)

    assert attempts == [(post.pk,)]
    assert list(Notification.objects.values_list("recipient_id", "target_id")) == [
        (people["aisha"].pk, post.pk)
    ]


# update_post


@pytest.mark.parametrize("who", ["omar", "staff"])
def test_update_post_by_author_or_staff(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    sent_events.clear()

    with run():
        updated = services.update_post(actor=people[who], post_id=post.pk, content="*Edited*")

    assert (updated.content, updated.content_html) == ("*Edited*", "<p><em>Edited</em></p>")
    assert updated.edited_at is not None
    assert event_types(sent_events) == [(f"forum.topic.{topic.pk}", "post_updated")]
    assert sent_events[0][1]["post"]["content_html"] == "<p><em>Edited</em></p>"


@pytest.mark.parametrize("who", ["aisha", "admin", "other_admin"])
def test_update_post_denied_to_others(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError) as raised:
        services.update_post(actor=people[who], post_id=post.pk, content="Not mine")

    assert raised.value.message == "Only the author or staff can edit this post."
    assert snapshot(topic) == before
    assert sent_events == []


def test_update_post_deleted_or_missing_is_not_found(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    services.delete_post(actor=people["omar"], post_id=post.pk)
    before = snapshot(topic)
    sent_events.clear()

    with run():
        for post_id in (post.pk, 999_999):
            with pytest.raises(PostNotFoundError):
                services.update_post(actor=people["omar"], post_id=post_id, content="Back")

    assert snapshot(topic) == before
    assert sent_events == []


def test_update_post_invalid_content_changes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(InvalidContentError):
        services.update_post(actor=people["omar"], post_id=post.pk, content=" ")

    assert snapshot(topic) == before
    assert sent_events == []


# delete_post


@pytest.mark.parametrize("who", ["omar", "other_admin", "staff"])
def test_delete_post_by_author_their_organization_admin_or_staff(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    first = reply(people["omar"], topic, "First")
    second = reply(people["omar"], topic, "Second")
    services.mark_best_answer(actor=people["aisha"], topic_id=topic.pk, post_id=second.pk)
    sent_events.clear()

    with run():
        deleted = services.delete_post(actor=people[who], post_id=second.pk)

    assert (deleted.content, deleted.content_html, deleted.is_deleted) == ("", "", True)
    assert deleted.deleted_by_id == people[who].pk
    topic.refresh_from_db()
    assert (topic.reply_count, topic.best_answer_id, topic.last_post_id) == (1, None, first.pk)
    group = f"forum.topic.{topic.pk}"
    assert event_types(sent_events) == [(group, "post_deleted"), (group, "best_answer")]
    assert sent_events[0][1]["post_id"] == second.pk
    assert sent_events[0][1]["post"]["is_deleted"] is True
    assert (sent_events[0][1]["post"]["content"], sent_events[0][1]["post"]["content_html"]) == (
        "",
        "",
    )
    assert sent_events[1][1] == {"type": "best_answer", "topic_id": topic.pk, "post_id": None}


@pytest.mark.parametrize("who", ["aisha", "admin"])
def test_delete_post_denied_to_others_even_the_topic_author(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError):
        services.delete_post(actor=people[who], post_id=post.pk)

    assert snapshot(topic) == before
    assert sent_events == []


def test_delete_post_twice_counts_once(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    reply(people["omar"], topic)
    services.delete_post(actor=people["omar"], post_id=post.pk)
    sent_events.clear()

    with run():
        services.delete_post(actor=people["staff"], post_id=post.pk)

    topic.refresh_from_db()
    assert topic.reply_count == 1
    assert Post.objects.get(pk=post.pk).deleted_by_id == people["omar"].pk
    assert sent_events == []


def test_delete_post_of_a_deleted_topic_is_not_found_for_members(
    people: dict[str, User],
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    services.delete_topic(actor=people["aisha"], topic_id=topic.pk)

    with pytest.raises(PostNotFoundError):
        services.delete_post(actor=people["omar"], post_id=post.pk)

    assert Post.objects.get(pk=post.pk).deleted_at is None


# mark_best_answer


@pytest.mark.parametrize("who", ["aisha", "staff"])
def test_mark_best_answer_by_topic_author_or_staff(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    first = reply(people["omar"], topic)
    second = reply(people["omar"], topic)
    sent_events.clear()

    with run():
        marked = services.mark_best_answer(actor=people[who], topic_id=topic.pk, post_id=first.pk)
        changed = services.mark_best_answer(actor=people[who], topic_id=topic.pk, post_id=second.pk)
        services.mark_best_answer(actor=people[who], topic_id=topic.pk, post_id=second.pk)
        cleared = services.mark_best_answer(actor=people[who], topic_id=topic.pk, post_id=None)

    assert (marked.best_answer_id, marked.is_solved) == (first.pk, True)
    assert changed.best_answer_id == second.pk
    assert (cleared.best_answer_id, cleared.is_solved) == (None, False)
    assert [event["post_id"] for _, event in sent_events] == [first.pk, second.pk, None]
    assert {event["type"] for _, event in sent_events} == {"best_answer"}


@pytest.mark.parametrize("who", ["omar", "admin"])
def test_mark_best_answer_denied_to_others_even_the_posts_author(
    people: dict[str, User], run: Any, sent_events: Sent, who: str
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAllowedError):
        services.mark_best_answer(actor=people[who], topic_id=topic.pk, post_id=post.pk)

    assert snapshot(topic) == before
    assert sent_events == []


@pytest.mark.parametrize("target", ["other_topic", "deleted", "missing"])
def test_mark_best_answer_only_a_live_post_of_the_topic(
    people: dict[str, User], run: Any, sent_events: Sent, target: str
) -> None:
    topic = new_topic(people["aisha"])
    other = new_topic(people["omar"], title="Another question about kilns")
    elsewhere = reply(people["omar"], other)
    gone = reply(people["omar"], topic)
    services.delete_post(actor=people["omar"], post_id=gone.pk)
    post_id = {"other_topic": elsewhere.pk, "deleted": gone.pk, "missing": 999_999}[target]
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(NotAPostOfTopicError) as raised:
        services.mark_best_answer(actor=people["aisha"], topic_id=topic.pk, post_id=post_id)

    assert (raised.value.status, raised.value.code) == (422, "invalid_best_answer")
    assert snapshot(topic) == before
    assert sent_events == []


# pin, lock, move


def test_moderation_by_staff_publishes_topic_updated(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    staff = people["staff"]
    sent_events.clear()

    with run():
        pinned = services.set_pinned(actor=staff, topic_id=topic.pk, pinned=True)
        locked = services.set_locked(actor=staff, topic_id=topic.pk, locked=True)
        moved = services.move_topic(actor=staff, topic_id=topic.pk, category="iot")
        services.move_topic(actor=staff, topic_id=topic.pk, category="iot")

    assert (pinned.is_pinned, locked.is_locked, moved.category.slug) == (True, True, "iot")
    iot = Category.objects.get(slug="iot")
    group = f"forum.topic.{topic.pk}"
    assert [g for g, _ in sent_events] == [group] * 3
    assert sent_events[-1][1] == {
        "type": "topic_updated",
        "topic_id": topic.pk,
        "is_pinned": True,
        "is_locked": True,
        "category": {"id": iot.pk, "name": "IoT", "slug": "iot"},
        "title": "Kiln burner restarts every hour",
    }
    assert [event["is_pinned"] for _, event in sent_events] == [True, True, True]
    assert [event["is_locked"] for _, event in sent_events] == [False, True, True]


@pytest.mark.parametrize("who", ["aisha", "admin"])
@pytest.mark.parametrize("action", ["pin", "lock", "move"])
def test_moderation_denied_to_members_and_organization_admins(
    people: dict[str, User], run: Any, sent_events: Sent, who: str, action: str
) -> None:
    topic = new_topic(people["aisha"])
    before = snapshot(topic)
    sent_events.clear()
    call = {
        "pin": lambda: services.set_pinned(actor=people[who], topic_id=topic.pk, pinned=True),
        "lock": lambda: services.set_locked(actor=people[who], topic_id=topic.pk, locked=True),
        "move": lambda: services.move_topic(actor=people[who], topic_id=topic.pk, category="x"),
    }[action]

    with run(), pytest.raises(NotAllowedError):
        call()

    assert snapshot(topic) == before
    assert sent_events == []


def test_move_topic_to_an_unknown_category_changes_nothing(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    before = snapshot(topic)
    sent_events.clear()

    with run(), pytest.raises(UnknownCategoryError):
        services.move_topic(actor=people["staff"], topic_id=topic.pk, category="nowhere")

    assert snapshot(topic) == before
    assert sent_events == []


# likes, bookmarks, follows, views


def test_toggle_topic_like_likes_and_unlikes(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])

    assert services.toggle_topic_like(actor=people["omar"], topic_id=topic.pk) == (True, 1)
    assert services.toggle_topic_like(actor=people["aisha"], topic_id=topic.pk) == (True, 2)
    assert services.toggle_topic_like(actor=people["omar"], topic_id=topic.pk) == (False, 1)
    assert list(TopicLike.objects.values_list("user_id", flat=True)) == [people["aisha"].pk]
    assert selectors.get_topic(people["aisha"], topic.pk).is_liked is True
    assert selectors.get_topic(people["omar"], topic.pk).is_liked is False


def test_toggle_post_like_publishes_the_count(
    people: dict[str, User], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    sent_events.clear()

    with run():
        liked = services.toggle_post_like(actor=people["aisha"], post_id=post.pk)
        unliked = services.toggle_post_like(actor=people["aisha"], post_id=post.pk)

    assert (liked, unliked) == ((True, 1), (False, 0))
    group = f"forum.topic.{topic.pk}"
    assert sent_events == [
        (group, {"type": "post_liked", "topic_id": topic.pk, "post_id": post.pk, "like_count": 1}),
        (group, {"type": "post_liked", "topic_id": topic.pk, "post_id": post.pk, "like_count": 0}),
    ]


def test_likes_bookmarks_and_follows_denied_to_non_members_and_on_deleted_things(
    people: dict[str, User], outsiders: dict[str, Any], run: Any, sent_events: Sent
) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)
    gone_topic = new_topic(people["aisha"], title="A topic that gets deleted")
    services.delete_topic(actor=people["aisha"], topic_id=gone_topic.pk)
    gone_post = reply(people["omar"], topic)
    services.delete_post(actor=people["omar"], post_id=gone_post.pk)
    before = snapshot(topic)
    sent_events.clear()

    with run():
        for actor in outsiders.values():
            with pytest.raises(NotAllowedError):
                services.toggle_topic_like(actor=actor, topic_id=topic.pk)
            with pytest.raises(NotAllowedError):
                services.toggle_post_like(actor=actor, post_id=post.pk)
            with pytest.raises(NotAllowedError):
                services.toggle_bookmark(actor=actor, topic_id=topic.pk)
            with pytest.raises(NotAllowedError):
                services.set_subscription(actor=actor, topic_id=topic.pk, level="muted")
            with pytest.raises(NotAllowedError):
                services.record_view(actor=actor, topic_id=topic.pk)
        omar = people["omar"]
        with pytest.raises(TopicNotFoundError):
            services.toggle_topic_like(actor=omar, topic_id=gone_topic.pk)
        with pytest.raises(TopicNotFoundError):
            services.toggle_bookmark(actor=omar, topic_id=gone_topic.pk)
        with pytest.raises(TopicNotFoundError):
            services.set_subscription(actor=omar, topic_id=gone_topic.pk, level="following")
        with pytest.raises(TopicNotFoundError):
            services.record_view(actor=omar, topic_id=gone_topic.pk)
        with pytest.raises(PostNotFoundError):
            services.toggle_post_like(actor=people["aisha"], post_id=gone_post.pk)

    assert snapshot(topic) == before
    assert sent_events == []


def test_toggle_bookmark(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])

    assert services.toggle_bookmark(actor=people["omar"], topic_id=topic.pk) is True
    assert selectors.get_topic(people["omar"], topic.pk).is_bookmarked is True
    assert services.toggle_bookmark(actor=people["omar"], topic_id=topic.pk) is False
    assert Bookmark.objects.count() == 0


def test_set_subscription_follows_mutes_and_removes(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])
    omar = people["omar"]

    assert services.set_subscription(actor=omar, topic_id=topic.pk, level="following") == (
        "following"
    )
    assert selectors.get_topic(omar, topic.pk).subscription == "following"
    assert services.set_subscription(actor=omar, topic_id=topic.pk, level="muted") == "muted"
    assert selectors.get_topic(omar, topic.pk).subscription == "muted"
    assert services.set_subscription(actor=omar, topic_id=topic.pk, level=None) is None
    assert selectors.get_topic(omar, topic.pk).subscription is None
    with pytest.raises(InvalidSubscriptionLevelError):
        services.set_subscription(actor=omar, topic_id=topic.pk, level="watching")
    assert not Subscription.objects.filter(user=omar).exists()


def test_record_view_counts_each_user_once(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])

    views = [
        services.record_view(actor=people["omar"], topic_id=topic.pk),
        services.record_view(actor=people["omar"], topic_id=topic.pk),
        services.record_view(actor=people["aisha"], topic_id=topic.pk),
    ]

    topic.refresh_from_db()
    assert views == [True, False, True]
    assert topic.view_count == 2


def test_record_view_by_staff_of_a_deleted_topic(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])
    services.delete_topic(actor=people["aisha"], topic_id=topic.pk)

    assert services.record_view(actor=people["staff"], topic_id=topic.pk) is True


# permission checks


def test_check_functions_raise_for_whoever_may_not(people: dict[str, User]) -> None:
    topic = new_topic(people["aisha"])
    post = reply(people["omar"], topic)

    services.check_can_view_topic(people["omar"], topic)
    services.check_can_edit(people["aisha"], topic)
    services.check_can_delete(people["admin"], topic)
    services.check_can_delete(people["other_admin"], post)
    services.check_can_moderate(people["staff"])
    with pytest.raises(NotAllowedError):
        services.check_can_view_topic(AnonymousUser(), topic)
    with pytest.raises(NotAllowedError):
        services.check_can_edit(people["omar"], topic)
    with pytest.raises(NotAllowedError):
        services.check_can_delete(people["admin"], post)
    with pytest.raises(NotAllowedError):
        services.check_can_moderate(people["admin"])


# events on the real channel layer


def test_create_post_reaches_the_topic_group_on_the_channel_layer(
    people: dict[str, User], run: Any
) -> None:
    topic = new_topic(people["aisha"])
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.topic_group(topic.pk), channel)

    with run():
        post = reply(people["omar"], topic)

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    message = async_to_sync(receive)()
    assert message["type"] == "forum.event"
    assert (message["event"]["type"], message["event"]["post"]["id"]) == ("post_created", post.pk)
    async_to_sync(layer.group_discard)(events.topic_group(topic.pk), channel)


def test_a_channel_layer_that_fails_loses_only_the_live_copy(
    people: dict[str, User], run: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    class BrokenLayer:
        async def group_send(self, group: str, message: dict) -> None:
            raise ConnectionError("Redis is down")

    monkeypatch.setattr(events, "get_channel_layer", BrokenLayer)
    topic = new_topic(people["aisha"])

    with run():
        post = reply(people["omar"], topic)

    assert Post.objects.get(pk=post.pk).content == "Check the flame sensor."
    assert f"Could not send post_created to forum.topic.{topic.pk}" in caplog.text


# counters under concurrency


def run_in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released at the same moment; answers what each
    returned or raised."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - reported to the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def queued_notifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The posts whose notifications were queued for a worker (none runs in the test)."""
    queued: list[int] = []

    def delay(task: Any, post_id: int) -> bool:
        queued.append(post_id)
        return True

    monkeypatch.setattr(services, "delay_safely", delay)
    return queued


@pytest.mark.django_db(transaction=True)
def test_create_post_fifty_concurrent_replies_are_all_counted(
    user_factory: Any, queued_notifications: list[int]
) -> None:
    author = user_factory()
    repliers = user_factory.create_batch(50)
    topic = new_topic(author)

    results = run_in_threads(
        50, lambda i: reply(repliers[i], topic, f"Reply number {i} from line {i}")
    )

    assert [type(result) for result in results] == [Post] * 50
    topic.refresh_from_db()
    posts = Post.objects.filter(topic=topic)
    assert posts.count() == 50
    assert topic.reply_count == 50
    assert topic.last_post_id == max(posts.values_list("id", flat=True))
    assert sorted(posts.values_list("author_id", "content")) == sorted(
        (repliers[i].pk, f"Reply number {i} from line {i}") for i in range(50)
    )
    assert Subscription.objects.filter(topic=topic, level="following").count() == 51
    assert sorted(queued_notifications) == sorted(posts.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_toggle_likes_thirty_concurrent_likes_are_all_counted(user_factory: Any) -> None:
    author = user_factory()
    fans = user_factory.create_batch(30)
    topic = new_topic(author)
    post = reply(author, topic, "The answer")

    topic_likes = run_in_threads(
        30, lambda i: services.toggle_topic_like(actor=fans[i], topic_id=topic.pk)
    )
    post_likes = run_in_threads(
        30, lambda i: services.toggle_post_like(actor=fans[i], post_id=post.pk)
    )

    assert sorted(count for _, count in topic_likes) == list(range(1, 31))
    assert sorted(count for _, count in post_likes) == list(range(1, 31))
    topic.refresh_from_db()
    post.refresh_from_db()
    assert (topic.like_count, TopicLike.objects.count()) == (30, 30)
    assert (post.like_count, PostLike.objects.count()) == (30, 30)


@pytest.mark.django_db(transaction=True)
def test_concurrent_replies_and_deletions_keep_the_reply_count_exact(
    user_factory: Any, queued_notifications: list[int]
) -> None:
    author = user_factory()
    repliers = user_factory.create_batch(20)
    topic = new_topic(author)
    doomed = [reply(repliers[i], topic, f"To delete {i}") for i in range(10)]

    def work(index: int) -> Any:
        if index < 10:
            return services.delete_post(actor=repliers[index], post_id=doomed[index].pk)
        return reply(repliers[index], topic, f"New reply {index}")

    results = run_in_threads(20, work)

    assert [type(result) for result in results] == [Post] * 20
    topic.refresh_from_db()
    live = Post.objects.filter(topic=topic, deleted_at__isnull=True)
    assert topic.reply_count == live.count() == 10
    assert topic.last_post_id == max(live.values_list("id", flat=True))
