from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import User
from forums import selectors, services
from forums.exceptions import (
    InvalidFilterError,
    PostNotFoundError,
    TopicNotFoundError,
    UnknownCategoryError,
)
from forums.models import Category, Post, Topic
from forums.schemas import CategoryOut, PostOut, TopicListItemOut, TopicOut

pytestmark = pytest.mark.services


@pytest.fixture
def member(user_factory: Any) -> User:
    return user_factory(first_name="Aisha", last_name="Rahman")


@pytest.fixture
def staff(user_factory: Any) -> User:
    return user_factory(is_staff=True)


def ids(topics: Any) -> list[int]:
    return [topic.pk for topic in topics]


def aged(topic: Topic, minutes: int) -> Topic:
    """Give the topic a last activity `minutes` ago."""
    Topic.objects.filter(pk=topic.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=minutes)
    )
    return topic


# categories


def test_list_categories_counts_live_topics_and_their_replies(
    topic_factory: Any, post_factory: Any, django_assert_num_queries: Any
) -> None:
    maintenance = Category.objects.get(slug="maintenance")
    iot = Category.objects.get(slug="iot")
    first = topic_factory(category=maintenance)
    post_factory.create_batch(3, topic=first)
    post_factory.create_batch(2, topic=topic_factory(category=maintenance))
    gone = topic_factory(category=maintenance, deleted_at=timezone.now())
    post_factory.create_batch(4, topic=gone)
    post_factory(topic=topic_factory(category=iot))

    with django_assert_num_queries(1):
        categories = selectors.list_categories()

    counts = {c.slug: (c.topic_count, c.post_count) for c in categories}
    assert [c.slug for c in categories] == [
        "automation",
        "quality-management",
        "maintenance",
        "artificial-intelligence",
        "iot",
        "energy-efficiency",
        "general",
    ]
    assert counts["maintenance"] == (2, 5)
    assert counts["iot"] == (1, 1)
    assert counts["general"] == (0, 0)
    assert CategoryOut.from_orm(categories[2]).model_dump() == {
        "id": maintenance.pk,
        "name": "Maintenance",
        "slug": "maintenance",
        "description": "Preventive and predictive maintenance, reliability, CMMS.",
        "topic_count": 2,
        "post_count": 5,
    }


@pytest.mark.parametrize("key", ["iot", "IoT", "id", "digits"])
def test_get_category_by_slug_or_id(db: None, key: str) -> None:
    iot = Category.objects.get(slug="iot")
    value = {"id": iot.pk, "digits": str(iot.pk)}.get(key, key)

    assert selectors.get_category(value) == iot


@pytest.mark.parametrize("value", ["nowhere", "", "  ", 0, 999_999, None, True])
def test_get_category_unknown(db: None, value: Any) -> None:
    with pytest.raises(UnknownCategoryError) as raised:
        selectors.get_category(value)

    assert (raised.value.status, raised.value.code) == (422, "unknown_category")


# topics


def test_list_topics_most_recent_activity_first_without_deleted_ones(
    member: User, staff: User, topic_factory: Any
) -> None:
    old = aged(topic_factory(), 30)
    new = aged(topic_factory(is_pinned=True), 1)
    middle = aged(topic_factory(), 10)
    aged(topic_factory(deleted_at=timezone.now()), 0)

    assert ids(selectors.list_topics(member)) == [new.pk, middle.pk, old.pk]
    assert ids(selectors.list_topics(staff)) == [new.pk, middle.pk, old.pk]
    assert ids(selectors.list_pinned_topics(member)) == [new.pk]


@pytest.mark.parametrize("who", ["anonymous", "unverified", "inactive"])
def test_list_topics_shows_nothing_to_non_members(
    user_factory: Any, topic_factory: Any, who: str
) -> None:
    topic = topic_factory()
    user = {
        "anonymous": AnonymousUser(),
        "unverified": user_factory(unverified=True),
        "inactive": user_factory(is_active=False),
    }[who]

    assert list(selectors.list_topics(user)) == []
    assert list(selectors.list_pinned_topics(user)) == []
    with pytest.raises(TopicNotFoundError):
        selectors.get_topic(user, topic.pk)
    with pytest.raises(TopicNotFoundError):
        selectors.list_posts(user, topic.pk)


def test_list_topics_filters(
    member: User, user_factory: Any, topic_factory: Any, post_factory: Any
) -> None:
    maintenance = Category.objects.get(slug="maintenance")
    author = user_factory()
    unanswered = aged(topic_factory(category=maintenance, tags=["pumps"]), 5)
    answered = aged(topic_factory(author=author, tags=["pumps", "seals"]), 4)
    post_factory(topic=answered)
    solved = aged(topic_factory(), 3)
    Topic.objects.filter(pk=solved.pk).update(best_answer=post_factory(topic=solved))
    followed = aged(topic_factory(), 2)
    bookmarked = aged(topic_factory(), 1)
    services.set_subscription(actor=member, topic_id=followed.pk, level="following")
    services.set_subscription(actor=member, topic_id=bookmarked.pk, level="muted")
    services.toggle_bookmark(actor=member, topic_id=bookmarked.pk)

    def listed(**filters: Any) -> list[int]:
        return ids(selectors.list_topics(member, **filters))

    assert listed(filter="unanswered") == [bookmarked.pk, followed.pk, unanswered.pk]
    assert listed(filter="solved") == [solved.pk]
    assert listed(filter="following") == [followed.pk]
    assert listed(filter="bookmarked") == [bookmarked.pk]
    assert listed(category="maintenance") == [unanswered.pk]
    assert listed(category=maintenance.pk) == [unanswered.pk]
    assert listed(category=maintenance) == [unanswered.pk]
    assert listed(tag="Pumps") == [answered.pk, unanswered.pk]
    assert listed(tag="seals") == [answered.pk]
    assert listed(tag="nothing") == []
    assert listed(author_id=author.pk) == [answered.pk]
    assert listed(category="maintenance", filter="unanswered", tag="pumps") == [unanswered.pk]
    with pytest.raises(InvalidFilterError):
        listed(filter="popular")
    with pytest.raises(UnknownCategoryError):
        listed(category="nowhere")


def test_list_topics_annotates_the_viewers_likes_and_bookmarks(
    member: User, topic_factory: Any
) -> None:
    liked, bookmarked, neither = topic_factory(), topic_factory(), topic_factory()
    services.toggle_topic_like(actor=member, topic_id=liked.pk)
    services.toggle_bookmark(actor=member, topic_id=bookmarked.pk)

    state = {t.pk: (t.is_liked, t.is_bookmarked) for t in selectors.list_topics(member)}

    assert state == {
        liked.pk: (True, False),
        bookmarked.pk: (False, True),
        neither.pk: (False, False),
    }


def test_list_topics_constant_queries_whatever_the_number_of_rows(
    member: User,
    user_factory: Any,
    topic_factory: Any,
    post_factory: Any,
    django_assert_num_queries: Any,
) -> None:
    def render() -> list[dict]:
        return [
            TopicListItemOut.from_orm(topic).model_dump() for topic in selectors.list_topics(member)
        ]

    topic = topic_factory(tags=["plc", "scada"])
    first_reply = post_factory(topic=topic)
    with django_assert_num_queries(2):
        assert len(render()) == 1

    for index in range(8):
        more = topic_factory(author=user_factory(), tags=[f"tag {index}", "plc"])
        post_factory(topic=more, author=user_factory())
    topic_factory(author=None, is_pinned=True)
    topic_factory(is_pinned=True, tags=["pinned"])
    with django_assert_num_queries(2):
        rendered = render()
    with django_assert_num_queries(2):
        assert len(list(selectors.list_pinned_topics(member))) == 2

    assert len(rendered) == 11
    assert rendered[-1]["tags"] == ["plc", "scada"]
    assert rendered[-1]["last_post_author_name"] == first_reply.author.get_full_name()
    assert rendered[1]["author"] is None


def test_get_topic_with_the_viewers_state(
    member: User, topic_factory: Any, django_assert_num_queries: Any
) -> None:
    topic = topic_factory(tags=["vfd"])
    services.toggle_topic_like(actor=member, topic_id=topic.pk)
    services.set_subscription(actor=member, topic_id=topic.pk, level="muted")

    with django_assert_num_queries(2):
        loaded = selectors.get_topic(member, topic.pk)
        out = TopicOut.from_orm(loaded).model_dump()

    assert out["id"] == topic.pk
    assert (out["is_liked"], out["is_bookmarked"], out["subscription"]) == (True, False, "muted")
    assert out["tags"] == ["vfd"]
    assert out["category"] == {"id": topic.category_id, "name": "General", "slug": "general"}
    assert out["content_html"] == (
        "<p>The <strong>temperature</strong> overshoots by 15 °C after every burner restart.</p>"
    )


def test_get_topic_deleted_is_seen_by_staff_only(
    member: User, staff: User, topic_factory: Any
) -> None:
    topic = topic_factory(author=member, deleted_at=timezone.now())

    assert selectors.get_topic(staff, topic.pk).is_deleted is True
    with pytest.raises(TopicNotFoundError):
        selectors.get_topic(member, topic.pk)
    with pytest.raises(TopicNotFoundError):
        selectors.get_topic(member, 999_999)


def test_aget_topic(member: User, topic_factory: Any) -> None:
    topic = topic_factory(tags=["vfd"])
    gone = topic_factory(deleted_at=timezone.now())

    loaded = async_to_sync(selectors.aget_topic)(member, topic.pk)

    assert (loaded.pk, [t.name for t in loaded.tags.all()]) == (topic.pk, ["vfd"])
    with pytest.raises(TopicNotFoundError):
        async_to_sync(selectors.aget_topic)(member, gone.pk)


# posts


def test_list_posts_pages_in_ascending_order(
    member: User, topic_factory: Any, post_factory: Any
) -> None:
    topic = topic_factory()
    posts = [post_factory(topic=topic) for _ in range(7)]
    post_factory()  # another topic
    pk = [p.pk for p in posts]

    assert [p.pk for p in selectors.list_posts(member, topic.pk)] == pk
    assert [p.pk for p in selectors.list_posts(member, topic.pk, limit=3)] == pk[:3]
    assert [p.pk for p in selectors.list_posts(member, topic.pk, after=pk[2])] == pk[3:]
    assert [p.pk for p in selectors.list_posts(member, topic.pk, after=pk[2], limit=2)] == pk[3:5]
    assert [p.pk for p in selectors.list_posts(member, topic.pk, before=pk[5], limit=3)] == pk[2:5]
    assert [p.pk for p in selectors.list_posts(member, topic.pk, after=pk[-1])] == []


def test_list_posts_constant_queries_with_deleted_and_quoted_posts(
    member: User,
    user_factory: Any,
    topic_factory: Any,
    post_factory: Any,
    django_assert_num_queries: Any,
) -> None:
    topic = topic_factory()

    def render() -> list[dict]:
        return [PostOut.from_orm(p).model_dump() for p in selectors.list_posts(member, topic.pk)]

    first = post_factory(topic=topic)
    with django_assert_num_queries(2):
        assert len(render()) == 1

    for _ in range(6):
        post_factory(topic=topic, author=user_factory(), reply_to=first)
    quoted = post_factory(topic=topic, deleted_at=timezone.now(), content="secret")
    post_factory(topic=topic, reply_to=quoted, author=None)
    Topic.objects.filter(pk=topic.pk).update(best_answer=first)
    services.toggle_post_like(actor=member, post_id=first.pk)

    with django_assert_num_queries(2):
        rendered = render()

    assert len(rendered) == 9
    assert (rendered[0]["is_best_answer"], rendered[0]["is_liked"], rendered[0]["like_count"]) == (
        True,
        True,
        1,
    )
    assert {r["is_best_answer"] for r in rendered[1:]} == {False}
    assert rendered[1]["reply_to"] == {
        "id": first.pk,
        "author_name": first.author.get_full_name(),
        "excerpt": first.content,
    }
    assert (rendered[7]["content"], rendered[7]["content_html"], rendered[7]["is_deleted"]) == (
        "",
        "",
        True,
    )
    assert rendered[8]["reply_to"] == {
        "id": quoted.pk,
        "author_name": quoted.author.get_full_name(),
        "excerpt": "",
    }
    assert rendered[8]["author"] is None


def test_list_posts_of_a_deleted_topic_staff_only(
    member: User, staff: User, topic_factory: Any, post_factory: Any
) -> None:
    topic = topic_factory(deleted_at=timezone.now())
    post = post_factory(topic=topic)

    assert [p.pk for p in selectors.list_posts(staff, topic.pk)] == [post.pk]
    assert selectors.get_post(staff, post.pk) == post
    with pytest.raises(TopicNotFoundError):
        selectors.list_posts(member, topic.pk)
    with pytest.raises(PostNotFoundError):
        selectors.get_post(member, post.pk)


def test_get_post(member: User, post_factory: Any) -> None:
    post = post_factory()
    Post.objects.filter(pk=post.pk).update(deleted_at=timezone.now())

    loaded = selectors.get_post(member, post.pk)

    assert (loaded.pk, loaded.is_deleted, loaded.is_liked, loaded.is_best_answer) == (
        post.pk,
        True,
        False,
        False,
    )
    with pytest.raises(PostNotFoundError):
        selectors.get_post(member, 999_999)
    with pytest.raises(PostNotFoundError):
        selectors.get_post(AnonymousUser(), post.pk)
