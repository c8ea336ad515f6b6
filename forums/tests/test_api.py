from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from forums import services
from forums.models import (
    MAX_CONTENT_LENGTH,
    MAX_TITLE_LENGTH,
    MIN_TITLE_LENGTH,
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
from messaging.models import Notification

pytestmark = [pytest.mark.services, pytest.mark.django_db]

API = "/api/v1/forums"
NOT_AUTHENTICATED = {
    "detail": "Authentication credentials were not provided or are not valid.",
    "code": "not_authenticated",
}
TOPIC_NOT_FOUND = {
    "detail": "This topic does not exist or you cannot see it.",
    "code": "topic_not_found",
}
POST_NOT_FOUND = {
    "detail": "This post does not exist or you cannot see it.",
    "code": "post_not_found",
}
SentEvents = list[tuple[str, dict[str, Any]]]


# People and content


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


@pytest.fixture
def sara_admin(user_factory: Any, sara: User) -> User:
    """The admin of Sara's organization."""
    return user_factory(
        organization=sara.organization, admin=True, first_name="Huda", last_name="Nasser"
    )


@pytest.fixture
def omar_admin(user_factory: Any, omar: User) -> User:
    """The admin of Omar's organization."""
    return user_factory(
        organization=omar.organization, admin=True, first_name="Fahad", last_name="Aziz"
    )


@pytest.fixture
def moderator(user_factory: Any, organization_factory: Any) -> User:
    organization = organization_factory(name="P2P Sandbox")
    return user_factory(
        organization=organization, is_staff=True, first_name="Mona", last_name="Staff"
    )


@pytest.fixture
def unverified(user_factory: Any) -> User:
    return user_factory(unverified=True)


@pytest.fixture
def topic(topic_factory: Any, sara: User) -> Topic:
    """Sara's topic, which Sara follows (as create_topic would have made her)."""
    topic = topic_factory(
        author=sara,
        title="How do you tune the PID loop of kiln 3?",
        content="The **temperature** overshoots after every restart.",
        tags=["pid", "kilns"],
    )
    Subscription.objects.create(topic=topic, user=sara)
    return topic


@pytest.fixture
def reply(post_factory: Any, topic: Topic, omar: User) -> Post:
    """Omar's reply in Sara's topic."""
    return post_factory(topic=topic, author=omar, content="Lower the *derivative* gain first.")


@pytest.fixture
def automation(db: None) -> Category:
    return Category.objects.get(slug="automation")


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def iso(value: datetime | None) -> str | None:
    """A datetime as the API renders it."""
    return None if value is None else DjangoJSONEncoder().default(value)


def brief(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "full_name": user.get_full_name(),
        "avatar_url": None,
        "organization_name": user.organization.name,
    }


def general_brief() -> dict[str, Any]:
    general = Category.objects.get(slug="general")
    return {"id": general.pk, "name": "General", "slug": "general"}


def forum_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row the forums (and their notifications) hold: a denied call leaves it as it was."""
    models = (
        Category,
        Tag,
        Topic,
        Topic.tags.through,
        Post,
        TopicLike,
        PostLike,
        Bookmark,
        Subscription,
        TopicView,
        Notification,
    )
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def topic_out(topic: Topic, **changes: Any) -> dict[str, Any]:
    """The TopicOut of a topic as stored now, with `changes` for the per-viewer fields."""
    topic = Topic.objects.select_related("category", "author__organization").get(pk=topic.pk)
    return {
        "id": topic.pk,
        "title": topic.title,
        "category": {
            "id": topic.category.pk,
            "name": topic.category.name,
            "slug": topic.category.slug,
        },
        "content": topic.content,
        "content_html": topic.content_html,
        "tags": sorted(topic.tags.values_list("name", flat=True)),
        "author": brief(topic.author),
        "created_at": iso(topic.created_at),
        "edited_at": iso(topic.edited_at),
        "last_activity_at": iso(topic.last_activity_at),
        "reply_count": topic.reply_count,
        "view_count": topic.view_count,
        "like_count": topic.like_count,
        "is_pinned": topic.is_pinned,
        "is_locked": topic.is_locked,
        "is_solved": topic.is_solved,
        "best_answer_id": topic.best_answer_id,
        "is_liked": False,
        "is_bookmarked": False,
        "subscription": None,
        "is_deleted": topic.is_deleted,
        **changes,
    }


def post_ids(response: Any) -> tuple[list[int], bool]:
    body = response.json()
    return [post["id"] for post in body["posts"]], body["has_more"]


def listed_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"]]


# Every action: anonymous and unverified callers


def all_actions(topic: Topic, post: Post, category: Category) -> list[tuple[str, str, Any]]:
    """(method, path, body): every operation, with a body it would accept from a member."""
    return [
        ("get", f"{API}/categories", None),
        ("get", f"{API}/topics", None),
        ("post", f"{API}/topics", {"title": "A new question here", "category": "general"}),
        ("get", f"{API}/topics/{topic.pk}", None),
        ("patch", f"{API}/topics/{topic.pk}", {"title": "Another title for it"}),
        ("delete", f"{API}/topics/{topic.pk}", None),
        ("get", f"{API}/topics/{topic.pk}/posts", None),
        ("post", f"{API}/topics/{topic.pk}/posts", {"content": "A reply"}),
        ("post", f"{API}/topics/{topic.pk}/like", None),
        ("post", f"{API}/topics/{topic.pk}/bookmark", None),
        ("post", f"{API}/topics/{topic.pk}/follow", {"level": "muted"}),
        ("post", f"{API}/topics/{topic.pk}/best-answer", {"post_id": post.pk}),
        ("post", f"{API}/topics/{topic.pk}/pin", {"pinned": True}),
        ("post", f"{API}/topics/{topic.pk}/lock", {"locked": True}),
        ("post", f"{API}/topics/{topic.pk}/move", {"category": category.slug}),
        ("patch", f"{API}/posts/{post.pk}", {"content": "Changed"}),
        ("delete", f"{API}/posts/{post.pk}", None),
        ("post", f"{API}/posts/{post.pk}/like", None),
    ]


def call(api: Any, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    return getattr(api, method)(path, body)


ACTION_COUNT = 18


@pytest.mark.parametrize("action", range(ACTION_COUNT))
def test_forums_api_anonymous_callers_get_401_and_change_nothing(
    api: Any,
    topic: Topic,
    reply: Post,
    automation: Category,
    sent_events: SentEvents,
    action: int,
) -> None:
    method, path, body = all_actions(topic, reply, automation)[action]
    before = forum_rows()

    response = call(api, method, path, body)

    assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
    assert forum_rows() == before
    assert sent_events == []


@pytest.mark.parametrize("action", range(ACTION_COUNT))
def test_forums_api_unverified_callers_get_403_and_change_nothing(
    api: Any,
    client: Client,
    unverified: User,
    topic: Topic,
    reply: Post,
    automation: Category,
    sent_events: SentEvents,
    action: int,
) -> None:
    method, path, body = all_actions(topic, reply, automation)[action]
    signed_in(client, unverified)
    before = forum_rows()

    response = call(api, method, path, body)

    assert (response.status_code, response.json()) == (
        403,
        {
            "detail": "Verify your email address first: enter the code we sent you.",
            "code": "email_not_verified",
        },
    )
    assert forum_rows() == before
    assert sent_events == []


def test_forums_api_lists_every_action_once(
    topic: Topic, reply: Post, automation: Category
) -> None:
    actions = all_actions(topic, reply, automation)

    assert len(actions) == ACTION_COUNT
    assert len({(method, path) for method, path, _ in actions}) == ACTION_COUNT


def test_forums_api_inactive_session_user_gets_401(
    api: Any, client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)
    User.objects.filter(pk=sara.pk).update(is_active=False)

    response = api.get(f"{API}/topics/{topic.pk}")

    assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
    assert TopicView.objects.count() == 0


def test_create_post_with_a_bearer_token(client: Client, omar: User, topic: Topic) -> None:
    _, token = account_services.create_api_token(actor=omar, name="ERP")

    response = client.post(
        f"{API}/topics/{topic.pk}/posts",
        {"content": "Sent from the ERP"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    made_up = client.get(f"{API}/topics", HTTP_AUTHORIZATION="Bearer p2p_made-up")

    assert response.status_code == 201
    assert response.json()["author"] == brief(omar)
    assert list(Post.objects.values_list("author_id", "content")) == [
        (omar.pk, "Sent from the ERP")
    ]
    assert (made_up.status_code, made_up.json()) == (401, NOT_AUTHENTICATED)


# Who may do what: denied callers


DENIED = [
    # (caller, method, path template, body)
    ("omar", "patch", "topics/{topic}", {"title": "A title Omar would prefer"}),
    ("layla", "patch", "topics/{topic}", {"content": "Layla rewrites it"}),
    ("sara_admin", "patch", "topics/{topic}", {"title": "The admin's better title"}),
    ("omar", "delete", "topics/{topic}", None),
    ("omar_admin", "delete", "topics/{topic}", None),
    ("sara", "patch", "posts/{post}", {"content": "Sara rewrites Omar's reply"}),
    ("layla", "patch", "posts/{post}", {"content": "Layla rewrites Omar's reply"}),
    ("omar_admin", "patch", "posts/{post}", {"content": "The admin rewrites it"}),
    ("sara", "delete", "posts/{post}", None),
    ("layla", "delete", "posts/{post}", None),
    ("sara_admin", "delete", "posts/{post}", None),
    ("omar", "post", "topics/{topic}/best-answer", {"post_id": "{post}"}),
    ("layla", "post", "topics/{topic}/best-answer", {"post_id": "{post}"}),
    ("sara_admin", "post", "topics/{topic}/best-answer", {"post_id": "{post}"}),
    ("sara", "post", "topics/{topic}/pin", {"pinned": True}),
    ("sara_admin", "post", "topics/{topic}/pin", {"pinned": True}),
    ("layla", "post", "topics/{topic}/pin", {"pinned": True}),
    ("sara", "post", "topics/{topic}/lock", {"locked": True}),
    ("sara_admin", "post", "topics/{topic}/lock", {"locked": True}),
    ("layla", "post", "topics/{topic}/lock", {"locked": True}),
    ("sara", "post", "topics/{topic}/move", {"category": "automation"}),
    ("sara_admin", "post", "topics/{topic}/move", {"category": "automation"}),
    ("layla", "post", "topics/{topic}/move", {"category": "automation"}),
]


def filled(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {key: filled(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value in {"{topic}", "{post}"}:
        return ids[value.strip("{}")]
    return value


@pytest.mark.parametrize(
    ("caller", "method", "path", "body"),
    DENIED,
    ids=[f"{caller}-{method}-{path}" for caller, method, path, _ in DENIED],
)
def test_forums_api_denied_callers_get_403_not_allowed_and_change_nothing(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
    caller: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    ids = {"topic": topic.pk, "post": reply.pk}
    signed_in(client, request.getfixturevalue(caller))
    before = forum_rows()

    response = call(api, method, f"{API}/{path.format(**ids)}", filled(body, ids))

    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    assert response.json()["detail"].startswith("Only ")
    assert forum_rows() == before
    assert sent_events == []


# Categories


def test_list_categories_shows_the_seeded_categories_in_order_with_counts(
    api: Any,
    client: Client,
    sara: User,
    topic_factory: Any,
    post_factory: Any,
    automation: Category,
) -> None:
    plc = topic_factory(category=automation)
    post_factory.create_batch(2, topic=plc)
    topic_factory(category=automation)
    post_factory(topic=topic_factory(category=automation, deleted_at=timezone.now()))
    signed_in(client, sara)

    response = api.get(f"{API}/categories")

    assert response.status_code == 200
    body = response.json()
    assert [category["slug"] for category in body] == [
        "automation",
        "quality-management",
        "maintenance",
        "artificial-intelligence",
        "iot",
        "energy-efficiency",
        "general",
    ]
    assert body[0] == {
        "id": automation.pk,
        "name": "Automation",
        "slug": "automation",
        "description": "PLCs, robotics, line automation and control systems.",
        "topic_count": 2,
        "post_count": 2,
    }
    assert [(category["topic_count"], category["post_count"]) for category in body[1:]] == [
        (0, 0)
    ] * 6


# Topic lists


@pytest.fixture
def listed(
    topic_factory: Any,
    post_factory: Any,
    sara: User,
    omar: User,
    layla: User,
    automation: Category,
) -> dict[str, Topic]:
    """Five topics of various kinds, the most recently active first in this dict."""
    now = timezone.now()
    unanswered = topic_factory(
        author=sara, tags=["pid"], last_activity_at=now - timedelta(minutes=1)
    )
    answered = topic_factory(author=omar, category=automation, tags=["plc", "pid"])
    post_factory(topic=answered, author=sara, created_at=now)
    solved = topic_factory(author=omar, last_activity_at=now - timedelta(minutes=2))
    best = post_factory(topic=solved, author=sara, created_at=now - timedelta(minutes=2))
    Topic.objects.filter(pk=solved.pk).update(best_answer=best)
    pinned = topic_factory(author=layla, is_pinned=True, last_activity_at=now - timedelta(hours=1))
    old = topic_factory(author=sara, last_activity_at=now - timedelta(days=3))
    topic_factory(author=sara, deleted_at=now, last_activity_at=now + timedelta(minutes=5))
    Subscription.objects.create(topic=answered, user=layla)
    Subscription.objects.create(topic=old, user=layla, level=Subscription.Level.MUTED)
    Bookmark.objects.create(topic=solved, user=layla)
    return {
        "answered": answered,
        "unanswered": unanswered,
        "solved": solved,
        "pinned": pinned,
        "old": old,
    }


def test_list_topics_latest_activity_first_without_deleted_ones(
    api: Any, client: Client, layla: User, listed: dict[str, Topic]
) -> None:
    signed_in(client, layla)

    response = api.get(f"{API}/topics")

    assert response.json()["count"] == 5
    assert listed_ids(response) == [
        listed["answered"].pk,
        listed["unanswered"].pk,
        listed["solved"].pk,
        listed["pinned"].pk,
        listed["old"].pk,
    ]


def test_list_topics_item_shape(
    api: Any, client: Client, layla: User, omar: User, sara: User, listed: dict[str, Topic]
) -> None:
    answered = Topic.objects.get(pk=listed["answered"].pk)
    TopicLike.objects.create(topic=answered, user=layla)
    signed_in(client, layla)

    response = api.get(f"{API}/topics", {"page_size": 1})

    assert response.json() == {
        "count": 5,
        "items": [
            {
                "id": answered.pk,
                "title": answered.title,
                "category": {
                    "id": answered.category_id,
                    "name": "Automation",
                    "slug": "automation",
                },
                "excerpt": "The temperature overshoots by 15 °C after every burner restart.",
                "tags": ["pid", "plc"],
                "author": brief(omar),
                "created_at": iso(answered.created_at),
                "last_activity_at": iso(answered.last_activity_at),
                "last_post_author_name": "Sara Haddad",
                "reply_count": 1,
                "view_count": 0,
                "like_count": 0,
                "is_pinned": False,
                "is_locked": False,
                "is_solved": False,
                "is_liked": True,
                "is_bookmarked": False,
                "is_deleted": False,
            }
        ],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"filter": "recent"}, ["answered", "unanswered", "solved", "pinned", "old"]),
        ({"filter": "unanswered"}, ["unanswered", "pinned", "old"]),
        ({"filter": "solved"}, ["solved"]),
        ({"filter": "following"}, ["answered"]),
        ({"filter": "bookmarked"}, ["solved"]),
        ({"category": "automation"}, ["answered"]),
        ({"category": "general"}, ["unanswered", "solved", "pinned", "old"]),
        ({"tag": "pid"}, ["answered", "unanswered"]),
        ({"tag": "PLC"}, ["answered"]),
        ({"tag": "nothing-tagged"}, []),
        ({"category": "general", "filter": "unanswered", "tag": "pid"}, ["unanswered"]),
    ],
)
def test_list_topics_filters(
    api: Any,
    client: Client,
    layla: User,
    listed: dict[str, Topic],
    query: dict[str, str],
    expected: list[str],
) -> None:
    signed_in(client, layla)

    response = api.get(f"{API}/topics", query)

    assert listed_ids(response) == [listed[name].pk for name in expected]
    assert response.json()["count"] == len(expected)


def test_list_topics_by_category_id_and_by_author(
    api: Any,
    client: Client,
    layla: User,
    omar: User,
    automation: Category,
    listed: dict[str, Topic],
) -> None:
    signed_in(client, layla)

    by_category_id = api.get(f"{API}/topics", {"category": automation.pk})
    by_author = api.get(f"{API}/topics", {"author": omar.pk})

    assert listed_ids(by_category_id) == [listed["answered"].pk]
    assert listed_ids(by_author) == [listed["answered"].pk, listed["solved"].pk]


def test_list_topics_following_and_bookmarked_are_the_callers_own(
    api: Any, client: Client, omar: User, listed: dict[str, Topic]
) -> None:
    signed_in(client, omar)

    following = api.get(f"{API}/topics", {"filter": "following"})
    bookmarked = api.get(f"{API}/topics", {"filter": "bookmarked"})

    assert (listed_ids(following), listed_ids(bookmarked)) == ([], [])


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"category": "no-such-category"}, 422, "unknown_category"),
        ({"category": "999999"}, 422, "unknown_category"),
        ({"filter": "popular"}, 422, "validation_error"),
        ({"author": "sara"}, 422, "validation_error"),
        ({"page": 0}, 422, "validation_error"),
        ({"page_size": 0}, 422, "validation_error"),
    ],
)
def test_list_topics_bad_query_answers_422(
    api: Any, client: Client, layla: User, query: dict[str, Any], status: int, code: str
) -> None:
    signed_in(client, layla)

    response = api.get(f"{API}/topics", query)

    assert (response.status_code, response.json()["code"]) == (status, code)


def test_list_topics_is_paginated(
    api: Any, client: Client, layla: User, listed: dict[str, Topic]
) -> None:
    signed_in(client, layla)

    first = api.get(f"{API}/topics", {"page_size": 2})
    third = api.get(f"{API}/topics", {"page_size": 2, "page": 3})
    beyond = api.get(f"{API}/topics", {"page_size": 2, "page": 4})

    assert listed_ids(first) == [listed["answered"].pk, listed["unanswered"].pk]
    assert listed_ids(third) == [listed["old"].pk]
    assert (beyond.status_code, beyond.json()) == (200, {"items": [], "count": 5})


def test_list_topics_page_size_is_capped_at_100(
    api: Any, client: Client, sara: User, general: Category
) -> None:
    now = timezone.now()
    Topic.objects.bulk_create(
        Topic(category=general, author=sara, title=f"Question number {n}", last_activity_at=now)
        for n in range(101)
    )
    signed_in(client, sara)

    response = api.get(f"{API}/topics", {"page_size": 500})
    default = api.get(f"{API}/topics")

    assert response.json()["count"] == 101
    assert len(response.json()["items"]) == 100
    assert len(default.json()["items"]) == 20


def test_list_topics_queries_do_not_grow_with_the_page(
    api: Any, client: Client, layla: User, topic_factory: Any, post_factory: Any
) -> None:
    signed_in(client, layla)
    post_factory(topic=topic_factory(tags=["pid"]))
    with CaptureQueriesContext(connection) as one:
        api.get(f"{API}/topics")
    for topic in topic_factory.create_batch(4, tags=["pid", "plc"]):
        post_factory(topic=topic)
        TopicLike.objects.create(topic=topic, user=layla)

    with CaptureQueriesContext(connection) as five:
        response = api.get(f"{API}/topics", {"category": "general"})

    assert response.json()["count"] == 5
    # The category filter adds the one query that finds the category.
    assert len(five.captured_queries) == len(one.captured_queries) + 1


# Creating a topic


def test_create_topic_answers_201_with_the_topic(
    api: Any, client: Client, sara: User, sent_events: SentEvents
) -> None:
    signed_in(client, sara)

    response = api.post(
        f"{API}/topics",
        {
            "title": "  Which   vision system for bottle caps?  ",
            "category": "general",
            "content": "We inspect **12,000** caps an hour. <script>alert(1)</script>",
            "tags": ["Vision", "quality control", "vision"],
        },
    )

    topic = Topic.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": topic.pk,
        "title": "Which vision system for bottle caps?",
        "category": general_brief(),
        "content": "We inspect **12,000** caps an hour. <script>alert(1)</script>",
        "content_html": (
            "<p>We inspect <strong>12,000</strong> caps an hour. "
            "&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        ),
        "tags": ["quality control", "vision"],
        "author": brief(sara),
        "created_at": iso(topic.created_at),
        "edited_at": None,
        "last_activity_at": iso(topic.last_activity_at),
        "reply_count": 0,
        "view_count": 0,
        "like_count": 0,
        "is_pinned": False,
        "is_locked": False,
        "is_solved": False,
        "best_answer_id": None,
        "is_liked": False,
        "is_bookmarked": False,
        "subscription": "following",
        "is_deleted": False,
    }
    assert (topic.author_id, topic.organization_id) == (sara.pk, sara.organization_id)
    assert [(group, event["type"]) for group, event in sent_events] == [
        ("forum.all", "topic_created")
    ]


def test_create_topic_with_a_title_alone_and_a_category_id(
    api: Any, client: Client, sara: User, automation: Category
) -> None:
    signed_in(client, sara)

    response = api.post(
        f"{API}/topics", {"title": "PLC brands for a small line?", "category": automation.pk}
    )

    assert response.status_code == 201
    assert (response.json()["content"], response.json()["content_html"]) == ("", "")
    assert response.json()["category"] == {
        "id": automation.pk,
        "name": "Automation",
        "slug": "automation",
    }
    assert Topic.objects.get().category_id == automation.pk


@pytest.mark.parametrize("length", [MIN_TITLE_LENGTH, MAX_TITLE_LENGTH])
def test_create_topic_title_at_its_limits_is_accepted(
    api: Any, client: Client, sara: User, length: int
) -> None:
    signed_in(client, sara)

    response = api.post(f"{API}/topics", {"title": "t" * length, "category": "general"})

    assert response.status_code == 201
    assert Topic.objects.get().title == "t" * length


def test_create_topic_content_of_exactly_5000_characters_is_accepted(
    api: Any, client: Client, sara: User
) -> None:
    signed_in(client, sara)

    response = api.post(
        f"{API}/topics",
        {"title": "A long description", "category": "general", "content": "x" * 5000},
    )

    assert response.status_code == 201
    assert len(Topic.objects.get().content) == MAX_CONTENT_LENGTH


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"title": "t" * (MIN_TITLE_LENGTH - 1)}, "invalid_title"),
        ({"title": "   short       "}, "invalid_title"),
        ({"title": "t" * (MAX_TITLE_LENGTH + 1)}, "invalid_title"),
        ({"content": "x" * (MAX_CONTENT_LENGTH + 1)}, "invalid_content"),
        ({"tags": ["a", "b", "c", "d", "e", "f"]}, "invalid_tags"),
        ({"tags": ["t" * 31]}, "invalid_tags"),
        ({"tags": ["<b>bold</b>"]}, "invalid_tags"),
        ({"tags": [""]}, "invalid_tags"),
        ({"category": "no-such-category"}, "unknown_category"),
        ({"category": 999999}, "unknown_category"),
        ({"tags": "pid"}, "validation_error"),
        ({"title": None}, "validation_error"),
        ({"pinned": True}, "validation_error"),
    ],
)
def test_create_topic_invalid_input_answers_422_and_writes_nothing(
    api: Any,
    client: Client,
    sara: User,
    sent_events: SentEvents,
    changes: dict[str, Any],
    code: str,
) -> None:
    signed_in(client, sara)
    before = forum_rows()

    response = api.post(
        f"{API}/topics",
        {"title": "A valid title", "category": "general", "content": "Body", **changes},
    )

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert forum_rows() == before
    assert sent_events == []


def test_create_topic_without_a_category_answers_422(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.post(f"{API}/topics", {"title": "A valid title"})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "category"
    assert Topic.objects.count() == 0


def test_create_topic_with_five_tags_is_accepted(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.post(
        f"{API}/topics",
        {"title": "A valid title", "category": "general", "tags": ["a", "b", "c", "d", "e"]},
    )

    assert response.status_code == 201
    assert response.json()["tags"] == ["a", "b", "c", "d", "e"]


# Reading a topic


def test_get_topic_answers_the_topic_and_counts_each_user_once(
    api: Any, client: Client, sara: User, omar: User, topic: Topic, reply: Post
) -> None:
    TopicLike.objects.create(topic=topic, user=omar)
    Topic.objects.filter(pk=topic.pk).update(like_count=1)
    Bookmark.objects.create(topic=topic, user=omar)
    signed_in(client, omar)

    first = api.get(f"{API}/topics/{topic.pk}")
    again = api.get(f"{API}/topics/{topic.pk}")
    signed_in(client, sara)
    by_sara = api.get(f"{API}/topics/{topic.pk}")

    assert first.status_code == 200
    assert first.json() == topic_out(
        topic, view_count=1, is_liked=True, is_bookmarked=True, subscription=None
    )
    assert first.json()["reply_count"] == 1
    assert first.json()["tags"] == ["kilns", "pid"]
    assert first.json()["content_html"] == (
        "<p>The <strong>temperature</strong> overshoots after every restart.</p>"
    )
    assert again.json()["view_count"] == 1
    assert by_sara.json() == topic_out(topic, view_count=2, subscription="following")
    assert sorted(TopicView.objects.values_list("user_id", flat=True)) == sorted([sara.pk, omar.pk])
    assert Topic.objects.get(pk=topic.pk).view_count == 2


def test_get_topic_unknown_answers_404(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.get(f"{API}/topics/999999")

    assert (response.status_code, response.json()) == (404, TOPIC_NOT_FOUND)
    assert TopicView.objects.count() == 0


def test_get_topic_deleted_answers_404_to_members_and_shows_it_to_staff(
    api: Any, client: Client, sara: User, moderator: User, topic: Topic
) -> None:
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now(), deleted_by=sara)
    signed_in(client, sara)

    by_author = api.get(f"{API}/topics/{topic.pk}")
    signed_in(client, moderator)
    by_staff = api.get(f"{API}/topics/{topic.pk}")

    assert (by_author.status_code, by_author.json()) == (404, TOPIC_NOT_FOUND)
    assert by_staff.status_code == 200
    assert by_staff.json()["is_deleted"] is True
    assert list(TopicView.objects.values_list("user_id", flat=True)) == [moderator.pk]


# Editing a topic


def test_update_topic_by_its_author_changes_only_the_fields_given(
    api: Any, client: Client, sara: User, topic: Topic, sent_events: SentEvents
) -> None:
    signed_in(client, sara)

    response = api.patch(
        f"{API}/topics/{topic.pk}",
        {"title": "How do you tune the PID loop of kiln 4?", "tags": ["PID", "burners"]},
    )

    topic.refresh_from_db()
    assert response.status_code == 200
    assert response.json() == topic_out(topic, subscription="following")
    assert response.json()["tags"] == ["burners", "pid"]
    assert (topic.title, topic.content) == (
        "How do you tune the PID loop of kiln 4?",
        "The **temperature** overshoots after every restart.",
    )
    assert topic.edited_at is not None
    assert [event["type"] for _, event in sent_events] == ["topic_updated"]


def test_update_topic_by_staff(api: Any, client: Client, moderator: User, topic: Topic) -> None:
    signed_in(client, moderator)

    response = api.patch(f"{API}/topics/{topic.pk}", {"content": "Edited by a *moderator*."})

    assert response.status_code == 200
    assert response.json()["content_html"] == "<p>Edited by a <em>moderator</em>.</p>"
    assert Topic.objects.get(pk=topic.pk).content == "Edited by a *moderator*."


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"title": "short"}, "invalid_title"),
        ({"title": "t" * (MAX_TITLE_LENGTH + 1)}, "invalid_title"),
        ({"content": "x" * (MAX_CONTENT_LENGTH + 1)}, "invalid_content"),
        ({"tags": ["a", "b", "c", "d", "e", "f"]}, "invalid_tags"),
        ({"category": "automation"}, "validation_error"),
    ],
)
def test_update_topic_invalid_input_answers_422_and_changes_nothing(
    api: Any, client: Client, sara: User, topic: Topic, changes: dict[str, Any], code: str
) -> None:
    signed_in(client, sara)
    before = forum_rows()

    response = api.patch(f"{API}/topics/{topic.pk}", changes)

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert forum_rows() == before


def test_update_topic_deleted_answers_404(
    api: Any, client: Client, sara: User, topic: Topic
) -> None:
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now())
    signed_in(client, sara)
    before = forum_rows()

    response = api.patch(f"{API}/topics/{topic.pk}", {"title": "Brought back to life?"})

    assert (response.status_code, response.json()) == (404, TOPIC_NOT_FOUND)
    assert forum_rows() == before


# Deleting a topic


@pytest.mark.parametrize("caller", ["sara", "sara_admin", "moderator"])
def test_delete_topic_by_author_their_organization_admin_or_staff_answers_204(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    topic: Topic,
    sara: User,
    caller: str,
) -> None:
    deleter = request.getfixturevalue(caller)
    signed_in(client, deleter)

    response = api.delete(f"{API}/topics/{topic.pk}")
    signed_in(client, sara)
    afterwards = api.get(f"{API}/topics/{topic.pk}")
    listed = api.get(f"{API}/topics")

    assert (response.status_code, response.content) == (204, b"")
    topic.refresh_from_db()
    assert (topic.is_deleted, topic.deleted_by_id) == (True, deleter.pk)
    assert (afterwards.status_code, afterwards.json()) == (404, TOPIC_NOT_FOUND)
    assert listed.json() == {"items": [], "count": 0}


def test_delete_topic_unknown_answers_404(api: Any, client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = api.delete(f"{API}/topics/999999")

    assert (response.status_code, response.json()) == (404, TOPIC_NOT_FOUND)


# Posts of a topic


@pytest.fixture
def five_posts(post_factory: Any, topic: Topic, sara: User, omar: User) -> list[Post]:
    return [
        post_factory(topic=topic, author=omar if n % 2 else sara, content=f"Reply {n}")
        for n in range(1, 6)
    ]


def test_list_posts_from_the_first_oldest_first(
    api: Any, client: Client, layla: User, omar: User, topic: Topic, five_posts: list[Post]
) -> None:
    ids = [post.pk for post in five_posts]
    signed_in(client, layla)

    everything = api.get(f"{API}/topics/{topic.pk}/posts")
    first_two = api.get(f"{API}/topics/{topic.pk}/posts", {"limit": 2})

    assert everything.status_code == 200
    assert post_ids(everything) == (ids, False)
    assert post_ids(first_two) == (ids[:2], True)
    assert everything.json()["posts"][0] == {
        "id": ids[0],
        "topic_id": topic.pk,
        "author": brief(omar),
        "content": "Reply 1",
        "content_html": "<p>Reply 1</p>",
        "reply_to": None,
        "created_at": iso(five_posts[0].created_at),
        "edited_at": None,
        "is_deleted": False,
        "like_count": 0,
        "is_liked": False,
        "is_best_answer": False,
    }


def test_list_posts_after_catches_up_with_exactly_the_newer_posts(
    api: Any, client: Client, layla: User, topic: Topic, five_posts: list[Post]
) -> None:
    ids = [post.pk for post in five_posts]
    path = f"{API}/topics/{topic.pk}/posts"
    signed_in(client, layla)

    newer = api.get(path, {"after": ids[1]})
    next_two = api.get(path, {"after": ids[1], "limit": 2})
    rest = api.get(path, {"after": ids[3], "limit": 2})
    nothing_new = api.get(path, {"after": ids[4]})

    assert post_ids(newer) == (ids[2:], False)
    assert post_ids(next_two) == (ids[2:4], True)
    assert post_ids(rest) == ([ids[4]], False)
    assert post_ids(nothing_new) == ([], False)


def test_list_posts_after_leaves_out_posts_of_other_topics(
    api: Any,
    client: Client,
    layla: User,
    topic: Topic,
    five_posts: list[Post],
    post_factory: Any,
) -> None:
    elsewhere = post_factory()
    newest = post_factory(topic=topic)
    signed_in(client, layla)

    response = api.get(f"{API}/topics/{topic.pk}/posts", {"after": five_posts[-1].pk})

    assert elsewhere.pk < newest.pk
    assert post_ids(response) == ([newest.pk], False)


def test_list_posts_before_scrolls_back(
    api: Any, client: Client, layla: User, topic: Topic, five_posts: list[Post]
) -> None:
    ids = [post.pk for post in five_posts]
    path = f"{API}/topics/{topic.pk}/posts"
    signed_in(client, layla)

    older = api.get(path, {"before": ids[3], "limit": 2})
    oldest = api.get(path, {"before": ids[1], "limit": 2})

    assert post_ids(older) == ([ids[1], ids[2]], True)
    assert post_ids(oldest) == ([ids[0]], False)


def test_list_posts_shows_deleted_posts_in_place_and_the_callers_likes(
    api: Any,
    client: Client,
    layla: User,
    sara: User,
    topic: Topic,
    five_posts: list[Post],
) -> None:
    services.delete_post(actor=sara, post_id=five_posts[1].pk)
    PostLike.objects.create(post=five_posts[0], user=layla)
    PostLike.objects.create(post=five_posts[2], user=sara)
    Post.objects.filter(pk__in=[five_posts[0].pk, five_posts[2].pk]).update(like_count=1)
    Topic.objects.filter(pk=topic.pk).update(best_answer=five_posts[2])
    signed_in(client, layla)

    posts = api.get(f"{API}/topics/{topic.pk}/posts").json()["posts"]

    assert [(post["content"], post["content_html"], post["is_deleted"]) for post in posts[:3]] == [
        ("Reply 1", "<p>Reply 1</p>", False),
        ("", "", True),
        ("Reply 3", "<p>Reply 3</p>", False),
    ]
    assert [(post["like_count"], post["is_liked"], post["is_best_answer"]) for post in posts] == [
        (1, True, False),
        (0, False, False),
        (1, False, True),
        (0, False, False),
        (0, False, False),
    ]


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 101}, {"before": 5, "after": 1}, {"after": "x"}]
)
def test_list_posts_bad_query_answers_422(
    api: Any, client: Client, layla: User, topic: Topic, query: dict[str, Any]
) -> None:
    signed_in(client, layla)

    response = api.get(f"{API}/topics/{topic.pk}/posts", query)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_list_posts_of_an_unknown_or_deleted_topic_answers_404(
    api: Any, client: Client, layla: User, topic: Topic, reply: Post
) -> None:
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now())
    signed_in(client, layla)

    deleted = api.get(f"{API}/topics/{topic.pk}/posts")
    unknown = api.get(f"{API}/topics/999999/posts")

    assert (deleted.status_code, deleted.json()) == (404, TOPIC_NOT_FOUND)
    assert (unknown.status_code, unknown.json()) == (404, TOPIC_NOT_FOUND)


def test_list_posts_queries_do_not_grow_with_the_page(
    api: Any, client: Client, layla: User, topic: Topic, post_factory: Any
) -> None:
    signed_in(client, layla)
    first = post_factory(topic=topic)
    with CaptureQueriesContext(connection) as one:
        api.get(f"{API}/topics/{topic.pk}/posts")
    for _ in range(4):
        post = post_factory(topic=topic, reply_to=first)
        PostLike.objects.create(post=post, user=layla)

    with CaptureQueriesContext(connection) as five:
        response = api.get(f"{API}/topics/{topic.pk}/posts")

    assert len(response.json()["posts"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


# Replying


def test_create_post_answers_201_counts_it_and_notifies_the_followers(
    api: Any,
    client: Client,
    sara: User,
    omar: User,
    layla: User,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
) -> None:
    Subscription.objects.create(topic=topic, user=omar)
    signed_in(client, layla)

    response = api.post(
        f"{API}/topics/{topic.pk}/posts",
        {"content": "Same here: **auto-tune** fixed it.", "replyTo": reply.pk},
    )

    post = Post.objects.get(author=layla)
    topic.refresh_from_db()
    assert response.status_code == 201
    assert response.json() == {
        "id": post.pk,
        "topic_id": topic.pk,
        "author": brief(layla),
        "content": "Same here: **auto-tune** fixed it.",
        "content_html": "<p>Same here: <strong>auto-tune</strong> fixed it.</p>",
        "reply_to": {
            "id": reply.pk,
            "author_name": "Omar Khalil",
            "excerpt": "Lower the derivative gain first.",
        },
        "created_at": iso(post.created_at),
        "edited_at": None,
        "is_deleted": False,
        "like_count": 0,
        "is_liked": False,
        "is_best_answer": False,
    }
    assert (topic.reply_count, topic.last_post_id, topic.last_activity_at) == (
        2,
        post.pk,
        post.created_at,
    )
    assert Subscription.objects.get(topic=topic, user=layla).level == "following"
    assert sorted(
        Notification.objects.filter(type="forum_reply").values_list("recipient_id", "link")
    ) == sorted(
        [
            (sara.pk, f"/forums/t/{topic.pk}/#post-{post.pk}"),
            (omar.pk, f"/forums/t/{topic.pk}/#post-{post.pk}"),
        ]
    )
    assert [(group, event["type"]) for group, event in sent_events] == [
        (f"forum.topic.{topic.pk}", "post_created")
    ]


def test_create_post_accepts_snake_case_reply_to(
    api: Any, client: Client, sara: User, topic: Topic, reply: Post
) -> None:
    signed_in(client, sara)

    response = api.post(
        f"{API}/topics/{topic.pk}/posts", {"content": "Thanks!", "reply_to": reply.pk}
    )

    assert response.status_code == 201
    assert response.json()["reply_to"]["id"] == reply.pk
    assert Post.objects.get(content="Thanks!").reply_to_id == reply.pk


def test_create_post_content_of_exactly_5000_characters_is_accepted(
    api: Any, client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)

    response = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "y" * 5000})

    assert response.status_code == 201
    assert len(Post.objects.get().content) == MAX_CONTENT_LENGTH


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content": ""}, "invalid_content"),
        ({"content": "   \n  "}, "invalid_content"),
        ({"content": "y" * (MAX_CONTENT_LENGTH + 1)}, "invalid_content"),
        ({}, "validation_error"),
        ({"content": "Hi", "reply_to": "first"}, "validation_error"),
        ({"content": "Hi", "topic_id": 1}, "validation_error"),
    ],
)
def test_create_post_invalid_content_answers_422_and_writes_nothing(
    api: Any,
    client: Client,
    sara: User,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
    body: dict[str, Any],
    code: str,
) -> None:
    signed_in(client, sara)
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/posts", body)

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert forum_rows() == before
    assert sent_events == []


def test_create_post_reply_to_a_post_of_another_topic_answers_422(
    api: Any,
    client: Client,
    sara: User,
    topic: Topic,
    post_factory: Any,
    sent_events: SentEvents,
) -> None:
    elsewhere = post_factory()
    signed_in(client, sara)
    before = forum_rows()

    response = api.post(
        f"{API}/topics/{topic.pk}/posts", {"content": "About that", "replyTo": elsewhere.pk}
    )

    assert (response.status_code, response.json()) == (
        422,
        {
            "detail": "You can only reply to a post of this topic that is not deleted.",
            "code": "invalid_reply_to",
        },
    )
    assert forum_rows() == before
    assert sent_events == []


@pytest.mark.parametrize("target", ["deleted", "unknown"])
def test_create_post_reply_to_a_deleted_or_unknown_post_answers_422(
    api: Any,
    client: Client,
    sara: User,
    omar: User,
    topic: Topic,
    reply: Post,
    target: str,
) -> None:
    if target == "deleted":
        services.delete_post(actor=omar, post_id=reply.pk)
    reply_to = reply.pk if target == "deleted" else 999999
    signed_in(client, sara)
    before = forum_rows()

    response = api.post(
        f"{API}/topics/{topic.pk}/posts", {"content": "About that", "reply_to": reply_to}
    )

    assert (response.status_code, response.json()["code"]) == (422, "invalid_reply_to")
    assert forum_rows() == before


@pytest.mark.parametrize("caller", ["omar", "sara", "moderator"])
def test_create_post_in_a_locked_topic_answers_409_even_to_staff(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    topic: Topic,
    sent_events: SentEvents,
    caller: str,
) -> None:
    Topic.objects.filter(pk=topic.pk).update(is_locked=True)
    signed_in(client, request.getfixturevalue(caller))
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "One more thing"})

    assert (response.status_code, response.json()) == (
        409,
        {"detail": "This topic is locked: it accepts no new posts.", "code": "topic_locked"},
    )
    assert forum_rows() == before
    assert sent_events == []


def test_create_post_in_a_deleted_or_unknown_topic_answers_404(
    api: Any, client: Client, omar: User, topic: Topic
) -> None:
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now())
    signed_in(client, omar)
    before = forum_rows()

    deleted = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "Hello?"})
    unknown = api.post(f"{API}/topics/999999/posts", {"content": "Hello?"})

    assert (deleted.status_code, deleted.json()) == (404, TOPIC_NOT_FOUND)
    assert (unknown.status_code, unknown.json()) == (404, TOPIC_NOT_FOUND)
    assert forum_rows() == before


# Editing and deleting a post


@pytest.mark.parametrize("caller", ["omar", "moderator"])
def test_update_post_by_its_author_or_staff(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    omar: User,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
    caller: str,
) -> None:
    signed_in(client, request.getfixturevalue(caller))

    response = api.patch(f"{API}/posts/{reply.pk}", {"content": "Lower the *integral* gain."})

    reply.refresh_from_db()
    assert response.status_code == 200
    assert response.json() == {
        "id": reply.pk,
        "topic_id": topic.pk,
        "author": brief(omar),
        "content": "Lower the *integral* gain.",
        "content_html": "<p>Lower the <em>integral</em> gain.</p>",
        "reply_to": None,
        "created_at": iso(reply.created_at),
        "edited_at": iso(reply.edited_at),
        "is_deleted": False,
        "like_count": 0,
        "is_liked": False,
        "is_best_answer": False,
    }
    assert reply.edited_at is not None
    assert [event["type"] for _, event in sent_events] == ["post_updated"]


@pytest.mark.parametrize(
    ("content", "code"),
    [("", "invalid_content"), ("z" * (MAX_CONTENT_LENGTH + 1), "invalid_content")],
)
def test_update_post_invalid_content_answers_422_and_changes_nothing(
    api: Any, client: Client, omar: User, reply: Post, content: str, code: str
) -> None:
    signed_in(client, omar)
    before = forum_rows()

    response = api.patch(f"{API}/posts/{reply.pk}", {"content": content})

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert forum_rows() == before


def test_update_post_deleted_or_unknown_answers_404(
    api: Any, client: Client, omar: User, reply: Post
) -> None:
    services.delete_post(actor=omar, post_id=reply.pk)
    signed_in(client, omar)
    before = forum_rows()

    deleted = api.patch(f"{API}/posts/{reply.pk}", {"content": "Back again"})
    unknown = api.patch(f"{API}/posts/999999", {"content": "Back again"})

    assert (deleted.status_code, deleted.json()) == (404, POST_NOT_FOUND)
    assert (unknown.status_code, unknown.json()) == (404, POST_NOT_FOUND)
    assert forum_rows() == before


@pytest.mark.parametrize("caller", ["omar", "omar_admin", "moderator"])
def test_delete_post_by_author_their_organization_admin_or_staff_answers_204(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    sara: User,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
    caller: str,
) -> None:
    Topic.objects.filter(pk=topic.pk).update(best_answer=reply)
    deleter = request.getfixturevalue(caller)
    signed_in(client, deleter)

    response = api.delete(f"{API}/posts/{reply.pk}")
    signed_in(client, sara)
    listed = api.get(f"{API}/topics/{topic.pk}/posts")

    assert (response.status_code, response.content) == (204, b"")
    reply.refresh_from_db()
    topic.refresh_from_db()
    assert (reply.is_deleted, reply.deleted_by_id, reply.content) == (True, deleter.pk, "")
    assert (topic.reply_count, topic.best_answer_id, topic.last_post_id) == (0, None, None)
    assert [(post["id"], post["is_deleted"]) for post in listed.json()["posts"]] == [
        (reply.pk, True)
    ]
    assert [event["type"] for _, event in sent_events] == ["post_deleted", "best_answer"]


def test_delete_post_unknown_answers_404(api: Any, client: Client, omar: User) -> None:
    signed_in(client, omar)

    response = api.delete(f"{API}/posts/999999")

    assert (response.status_code, response.json()) == (404, POST_NOT_FOUND)


# Likes, bookmarks, follows


def test_like_topic_toggles_the_callers_like(
    api: Any, client: Client, omar: User, layla: User, topic: Topic
) -> None:
    signed_in(client, omar)
    liked = api.post(f"{API}/topics/{topic.pk}/like")
    signed_in(client, layla)
    liked_too = api.post(f"{API}/topics/{topic.pk}/like")
    signed_in(client, omar)
    unliked = api.post(f"{API}/topics/{topic.pk}/like")

    assert [(response.status_code, response.json()) for response in (liked, liked_too)] == [
        (200, {"liked": True, "like_count": 1}),
        (200, {"liked": True, "like_count": 2}),
    ]
    assert (unliked.status_code, unliked.json()) == (200, {"liked": False, "like_count": 1})
    assert list(TopicLike.objects.values_list("user_id", flat=True)) == [layla.pk]
    assert Topic.objects.get(pk=topic.pk).like_count == 1


def test_like_post_toggles_the_callers_like(
    api: Any,
    client: Client,
    sara: User,
    layla: User,
    topic: Topic,
    reply: Post,
    sent_events: SentEvents,
) -> None:
    signed_in(client, sara)
    liked = api.post(f"{API}/posts/{reply.pk}/like")
    signed_in(client, layla)
    liked_too = api.post(f"{API}/posts/{reply.pk}/like")
    unliked = api.post(f"{API}/posts/{reply.pk}/like")

    assert [response.json() for response in (liked, liked_too, unliked)] == [
        {"liked": True, "like_count": 1},
        {"liked": True, "like_count": 2},
        {"liked": False, "like_count": 1},
    ]
    assert list(PostLike.objects.values_list("user_id", flat=True)) == [sara.pk]
    assert Post.objects.get(pk=reply.pk).like_count == 1
    assert [event for _, event in sent_events][-1] == {
        "type": "post_liked",
        "topic_id": topic.pk,
        "post_id": reply.pk,
        "like_count": 1,
    }


def test_like_of_a_deleted_topic_or_post_answers_404_and_changes_nothing(
    api: Any, client: Client, omar: User, layla: User, topic: Topic, reply: Post
) -> None:
    services.delete_post(actor=omar, post_id=reply.pk)
    signed_in(client, layla)
    post_before = forum_rows()
    deleted_post = api.post(f"{API}/posts/{reply.pk}/like")
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now())
    topic_before = forum_rows()
    deleted_topic = api.post(f"{API}/topics/{topic.pk}/like")

    assert (deleted_post.status_code, deleted_post.json()) == (404, POST_NOT_FOUND)
    assert (deleted_topic.status_code, deleted_topic.json()) == (404, TOPIC_NOT_FOUND)
    assert forum_rows()["PostLike"] == post_before["PostLike"] == []
    assert forum_rows() == topic_before


def test_bookmark_topic_toggles_and_feeds_the_bookmarked_list(
    api: Any, client: Client, layla: User, topic: Topic
) -> None:
    signed_in(client, layla)

    bookmarked = api.post(f"{API}/topics/{topic.pk}/bookmark")
    listed = api.get(f"{API}/topics", {"filter": "bookmarked"})
    detail = api.get(f"{API}/topics/{topic.pk}")
    removed = api.post(f"{API}/topics/{topic.pk}/bookmark")

    assert (bookmarked.status_code, bookmarked.json()) == (200, {"bookmarked": True})
    assert listed_ids(listed) == [topic.pk]
    assert detail.json()["is_bookmarked"] is True
    assert (removed.status_code, removed.json()) == (200, {"bookmarked": False})
    assert Bookmark.objects.count() == 0


def test_bookmark_of_an_unknown_topic_answers_404(api: Any, client: Client, layla: User) -> None:
    signed_in(client, layla)

    response = api.post(f"{API}/topics/999999/bookmark")

    assert (response.status_code, response.json()) == (404, TOPIC_NOT_FOUND)
    assert Bookmark.objects.count() == 0


def test_follow_topic_follows_mutes_and_removes_the_choice(
    api: Any, client: Client, layla: User, topic: Topic
) -> None:
    signed_in(client, layla)
    path = f"{API}/topics/{topic.pk}/follow"

    following = api.post(path, {"level": "following"})
    listed = api.get(f"{API}/topics", {"filter": "following"})
    muted = api.post(path, {"level": "muted"})
    stored = Subscription.objects.get(user=layla).level
    removed = api.post(path, {"level": None})

    assert (following.status_code, following.json()) == (200, {"subscription": "following"})
    assert listed_ids(listed) == [topic.pk]
    assert (muted.status_code, muted.json()) == (200, {"subscription": "muted"})
    assert stored == "muted"
    assert (removed.status_code, removed.json()) == (200, {"subscription": None})
    assert not Subscription.objects.filter(user=layla).exists()


def test_follow_topic_muted_follower_is_not_notified_of_replies(
    api: Any, client: Client, sara: User, omar: User, topic: Topic
) -> None:
    signed_in(client, sara)
    api.post(f"{API}/topics/{topic.pk}/follow", {"level": "muted"})
    signed_in(client, omar)

    response = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "Try auto-tune."})

    assert response.status_code == 201
    assert Notification.objects.count() == 0
    assert Subscription.objects.get(user=sara).level == "muted"


@pytest.mark.parametrize("body", [{"level": "loud"}, {}, {"level": "following", "x": 1}])
def test_follow_topic_bad_level_answers_422(
    api: Any, client: Client, layla: User, topic: Topic, body: dict[str, Any]
) -> None:
    signed_in(client, layla)
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/follow", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert forum_rows() == before


# Best answer


@pytest.mark.parametrize("caller", ["sara", "moderator"])
def test_mark_best_answer_by_the_topic_author_or_staff(
    request: pytest.FixtureRequest,
    api: Any,
    client: Client,
    topic: Topic,
    reply: Post,
    post_factory: Any,
    sent_events: SentEvents,
    caller: str,
) -> None:
    better = post_factory(topic=topic)
    signed_in(client, request.getfixturevalue(caller))
    path = f"{API}/topics/{topic.pk}/best-answer"

    marked = api.post(path, {"postId": reply.pk})
    changed = api.post(path, {"post_id": better.pk})
    posts = api.get(f"{API}/topics/{topic.pk}/posts").json()["posts"]
    cleared = api.post(path, {"post_id": None})

    assert marked.status_code == 200
    assert (marked.json()["best_answer_id"], marked.json()["is_solved"]) == (reply.pk, True)
    assert changed.json()["best_answer_id"] == better.pk
    assert [(post["id"], post["is_best_answer"]) for post in posts] == [
        (reply.pk, False),
        (better.pk, True),
    ]
    assert (cleared.status_code, cleared.json()["best_answer_id"]) == (200, None)
    assert cleared.json()["is_solved"] is False
    assert Topic.objects.get(pk=topic.pk).best_answer_id is None
    assert [event["post_id"] for _, event in sent_events] == [reply.pk, better.pk, None]


@pytest.mark.parametrize("target", ["elsewhere", "deleted", "unknown"])
def test_mark_best_answer_not_a_live_post_of_the_topic_answers_422(
    api: Any,
    client: Client,
    sara: User,
    omar: User,
    topic: Topic,
    reply: Post,
    post_factory: Any,
    target: str,
) -> None:
    if target == "deleted":
        services.delete_post(actor=omar, post_id=reply.pk)
    post_id = {"elsewhere": post_factory().pk, "deleted": reply.pk, "unknown": 999999}[target]
    signed_in(client, sara)
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/best-answer", {"post_id": post_id})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_best_answer")
    assert forum_rows() == before


# Moderation: pin, lock, move


def test_pin_topic_by_staff(
    api: Any, client: Client, moderator: User, topic: Topic, sent_events: SentEvents
) -> None:
    signed_in(client, moderator)

    pinned = api.post(f"{API}/topics/{topic.pk}/pin", {"pinned": True})
    unpinned = api.post(f"{API}/topics/{topic.pk}/pin", {"pinned": False})

    assert (pinned.status_code, pinned.json()["is_pinned"]) == (200, True)
    assert (unpinned.status_code, unpinned.json()["is_pinned"]) == (200, False)
    assert Topic.objects.get(pk=topic.pk).is_pinned is False
    assert [(event["type"], event["is_pinned"]) for _, event in sent_events] == [
        ("topic_updated", True),
        ("topic_updated", False),
    ]


def test_lock_topic_by_staff_stops_replies(
    api: Any, client: Client, moderator: User, omar: User, topic: Topic
) -> None:
    signed_in(client, moderator)

    locked = api.post(f"{API}/topics/{topic.pk}/lock", {"locked": True})
    signed_in(client, omar)
    refused = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "Too late?"})
    signed_in(client, moderator)
    unlocked = api.post(f"{API}/topics/{topic.pk}/lock", {"locked": False})
    signed_in(client, omar)
    accepted = api.post(f"{API}/topics/{topic.pk}/posts", {"content": "Not too late."})

    assert (locked.status_code, locked.json()["is_locked"]) == (200, True)
    assert (refused.status_code, refused.json()["code"]) == (409, "topic_locked")
    assert (unlocked.status_code, unlocked.json()["is_locked"]) == (200, False)
    assert accepted.status_code == 201
    assert list(Post.objects.values_list("content", flat=True)) == ["Not too late."]


@pytest.mark.parametrize("by", ["slug", "id"])
def test_move_topic_by_staff(
    api: Any, client: Client, moderator: User, topic: Topic, automation: Category, by: str
) -> None:
    signed_in(client, moderator)
    category = automation.slug if by == "slug" else automation.pk

    response = api.post(f"{API}/topics/{topic.pk}/move", {"category": category})

    assert response.status_code == 200
    assert response.json()["category"] == {
        "id": automation.pk,
        "name": "Automation",
        "slug": "automation",
    }
    assert Topic.objects.get(pk=topic.pk).category_id == automation.pk


def test_move_topic_to_an_unknown_category_answers_422_and_changes_nothing(
    api: Any, client: Client, moderator: User, topic: Topic, sent_events: SentEvents
) -> None:
    signed_in(client, moderator)
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/move", {"category": "no-such-category"})

    assert (response.status_code, response.json()) == (
        422,
        {"detail": "There is no such category.", "code": "unknown_category"},
    )
    assert forum_rows() == before
    assert sent_events == []


@pytest.mark.parametrize(
    ("action", "body"),
    [("pin", {"pinned": "maybe"}), ("lock", {}), ("move", {"category": None})],
)
def test_moderation_bad_body_answers_422(
    api: Any,
    client: Client,
    moderator: User,
    topic: Topic,
    action: str,
    body: dict[str, Any],
) -> None:
    signed_in(client, moderator)
    before = forum_rows()

    response = api.post(f"{API}/topics/{topic.pk}/{action}", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert forum_rows() == before


def test_moderation_of_an_unknown_topic_answers_404(
    api: Any, client: Client, moderator: User
) -> None:
    signed_in(client, moderator)

    responses = [
        api.post(f"{API}/topics/999999/pin", {"pinned": True}),
        api.post(f"{API}/topics/999999/lock", {"locked": True}),
        api.post(f"{API}/topics/999999/move", {"category": "general"}),
    ]

    assert [(response.status_code, response.json()) for response in responses] == [
        (404, TOPIC_NOT_FOUND)
    ] * 3


def test_forums_api_is_in_the_openapi_schema(client: Client) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert {path for path in paths if path.startswith(API)} == {
        f"{API}/categories",
        f"{API}/topics",
        f"{API}/topics/{{topic_id}}",
        f"{API}/topics/{{topic_id}}/posts",
        f"{API}/topics/{{topic_id}}/like",
        f"{API}/topics/{{topic_id}}/bookmark",
        f"{API}/topics/{{topic_id}}/follow",
        f"{API}/topics/{{topic_id}}/best-answer",
        f"{API}/topics/{{topic_id}}/pin",
        f"{API}/topics/{{topic_id}}/lock",
        f"{API}/topics/{{topic_id}}/move",
        f"{API}/posts/{{post_id}}",
        f"{API}/posts/{{post_id}}/like",
    }
