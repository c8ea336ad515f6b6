import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.asserts import assertInHTML, assertRedirects, assertTemplateUsed

from accounts.models import User
from forums import services
from forums.models import (
    Bookmark,
    Category,
    Post,
    PostLike,
    Subscription,
    Topic,
    TopicLike,
    TopicView,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sara(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="Jubail Valves"),
        first_name="Sara",
        last_name="Haddad",
        email="sara@jubail-valves.example",
    )


@pytest.fixture
def omar(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="Najd Foods"),
        first_name="Omar",
        last_name="Khalil",
        email="omar@najdfoods.example",
    )


@pytest.fixture
def moderator(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="P2P Sandbox"),
        first_name="Mona",
        last_name="Staff",
        is_staff=True,
    )


@pytest.fixture
def topic(sara: User) -> Topic:
    return services.create_topic(
        actor=sara,
        category="maintenance",
        title="How often do you replace pump seals?",
        content="Our **seals** fail every 3 months.",
        tags=["pumps", "seals"],
    )


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def reply(actor: User, topic: Topic, content: str, **kwargs: Any) -> Post:
    return services.create_post(actor=actor, topic_id=topic.pk, content=content, **kwargs)


def html_of(response: Any) -> str:
    return response.content.decode()


def flashed(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


class _ListItems(HTMLParser):
    """The data-topic-id of the rows of the <ul> with the given id."""

    def __init__(self, list_id: str) -> None:
        super().__init__()
        self.list_id = list_id
        self.depth = 0  # <ul> nesting inside the list, 0 outside it
        self.ids: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "ul" and (self.depth or attributes.get("id") == self.list_id):
            self.depth += 1
        elif tag == "li" and self.depth == 1 and attributes.get("data-topic-id"):
            self.ids.append(int(attributes["data-topic-id"] or 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self.depth:
            self.depth -= 1


def topic_ids(html: str, list_id: str = "topic-list") -> list[int]:
    assert f'id="{list_id}"' in html
    parser = _ListItems(list_id)
    parser.feed(html)
    return parser.ids


def post_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="forum-post[^"]*" id="post-(\d+)"', html)]


def writes() -> dict[str, int]:
    """How many rows every forum write touches, to show that a refused request wrote nothing."""
    return {
        "topics": Topic.objects.filter(deleted_at__isnull=True).count(),
        "posts": Post.objects.filter(deleted_at__isnull=True).count(),
        "topic_likes": TopicLike.objects.count(),
        "post_likes": PostLike.objects.count(),
        "bookmarks": Bookmark.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "pinned": Topic.objects.filter(is_pinned=True).count(),
        "locked": Topic.objects.filter(is_locked=True).count(),
        "solved": Topic.objects.filter(best_answer__isnull=False).count(),
        "edited": Topic.objects.filter(edited_at__isnull=False).count()
        + Post.objects.filter(edited_at__isnull=False).count(),
    }


def query_count(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)


# Who may open what

PAGES = [
    "/forums/",
    "/forums/c/general/",
    "/forums/t/1/",
    "/forums/new/",
    "/forums/t/1/edit/",
    "/forums/t/1/delete/",
    "/forums/p/1/",
    "/forums/p/1/edit/",
    "/forums/p/1/delete/",
    "/forums/mine/",
]
POSTS = [
    ("/forums/new/", {"category": "general", "title": "A title long enough"}),
    ("/forums/t/1/", {"content": "Hello"}),
    ("/forums/t/1/edit/", {"title": "A new title long enough"}),
    ("/forums/t/1/delete/", {"confirmed": "yes"}),
    ("/forums/t/1/like/", {}),
    ("/forums/t/1/bookmark/", {}),
    ("/forums/t/1/subscription/", {"level": "muted"}),
    ("/forums/t/1/best-answer/", {"post_id": "1"}),
    ("/forums/t/1/pin/", {"pinned": "true"}),
    ("/forums/t/1/lock/", {"locked": "true"}),
    ("/forums/t/1/move/", {"category": "iot"}),
    ("/forums/p/1/edit/", {"content": "Changed"}),
    ("/forums/p/1/delete/", {"confirmed": "yes"}),
    ("/forums/p/1/like/", {}),
]


@pytest.mark.parametrize("path", PAGES)
def test_forum_page_redirects_anonymous_caller_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_forum_post_by_anonymous_caller_redirects_and_writes_nothing(
    client: Client, sara: User, omar: User, path: str, data: dict[str, str]
) -> None:
    topic = services.create_topic(actor=sara, category="general", title="Sealing the kiln door")
    post = reply(omar, topic, "Use a rope gasket.")
    path = path.replace("/t/1/", f"/t/{topic.pk}/").replace("/p/1/", f"/p/{post.pk}/")
    before = writes()

    response = client.post(path, data)

    assertRedirects(response, f"/accounts/login/?next={quote(path)}", fetch_redirect_response=False)
    assert writes() == before


@pytest.mark.parametrize("path", PAGES)
def test_forum_page_redirects_unverified_user_to_verification(
    client: Client, user_factory: Any, path: str
) -> None:
    signed_in(client, user_factory(unverified=True))

    response = client.get(path)

    assertRedirects(response, "/accounts/verify/", fetch_redirect_response=False)


def test_forum_pages_have_no_inline_styles_or_unnonced_scripts(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    reply(omar, topic, "Every 6 months here.")
    signed_in(client, sara)

    for path in ["/forums/", "/forums/c/maintenance/", f"/forums/t/{topic.pk}/", "/forums/new/"]:
        html = html_of(client.get(path))
        assert " style=" not in html, path
        assert "<style" not in html, path
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert [s for s in scripts if not re.match(r"<script (nonce|src)=", s)] == (
            ['<script id="topic-state" type="application/json">'] if "/t/" in path else []
        ), path
        assert '<script src="/static/js/forum.js" defer></script>' in html, path
        assert " onclick=" not in html, path


def test_primary_navigation_links_the_forums(client: Client, sara: User) -> None:
    signed_in(client, sara)

    html = html_of(client.get("/forums/"))

    assert '<a class="nav-link" href="/forums/" aria-current="page">Forums</a>' in html


def test_topic_page_renders_right_to_left_in_arabic(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    reply(omar, topic, "كل **ستة** أشهر")
    signed_in(client, sara)

    response = client.get(f"/forums/t/{topic.pk}/", headers={"accept-language": "ar"})

    html = html_of(response)
    assert '<html lang="ar" dir="rtl">' in html
    assertInHTML(
        '<div class="forum-post__body"><p>كل <strong>ستة</strong> أشهر</p></div>', html, count=1
    )


# Forum home


def test_forum_home_lists_categories_with_their_counts(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    reply(omar, topic, "Every 6 months here.")
    reply(sara, topic, "Thanks!")
    deleted = services.create_topic(actor=sara, category="maintenance", title="Wrong place, sorry")
    services.delete_topic(actor=sara, topic_id=deleted.pk)
    signed_in(client, sara)

    response = client.get("/forums/")

    html = html_of(response)
    assert response.status_code == 200
    assertTemplateUsed(response, "forums/home.html")
    maintenance = Category.objects.get(slug="maintenance")
    names = re.findall(r'<a class="category-item__name" href="/forums/c/([\w-]+)/">', html)
    assert names == list(Category.objects.values_list("slug", flat=True))
    assertInHTML(
        f'<li class="category-item" data-category-id="{maintenance.pk}">'
        '<a class="category-item__name" href="/forums/c/maintenance/">Maintenance</a>'
        '<p class="category-item__description">Preventive and predictive maintenance,'
        " reliability, CMMS.</p>"
        '<p class="category-item__counts">1 topic · 2 replies</p></li>',
        html,
        count=1,
    )
    assertInHTML('<p class="category-item__counts">0 topics · 0 replies</p>', html, count=6)


def test_forum_home_shows_pinned_topics_apart_and_the_others_by_last_activity(
    client: Client, sara: User, omar: User, moderator: User
) -> None:
    first = services.create_topic(actor=sara, category="iot", title="LoRaWAN range in a plant")
    second = services.create_topic(actor=omar, category="general", title="Shift handover notes")
    rules = services.create_topic(actor=moderator, category="general", title="Forum rules, read")
    services.set_pinned(actor=moderator, topic_id=rules.pk, pinned=True)
    reply(omar, first, "About 2 km inside.")
    signed_in(client, sara)

    html = html_of(client.get("/forums/"))

    assert topic_ids(html, "pinned-list") == [rules.pk]
    assert topic_ids(html) == [first.pk, second.pk]
    assert "data-live-list" in html


def test_topic_row_shows_category_author_badges_tags_counts_and_last_reply(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months here.")
    services.mark_best_answer(actor=sara, topic_id=topic.pk, post_id=post.pk)
    services.toggle_topic_like(actor=omar, topic_id=topic.pk)
    services.record_view(actor=omar, topic_id=topic.pk)
    signed_in(client, sara)

    html = html_of(client.get("/forums/"))

    assertInHTML(
        f'<h3 class="topic-row__title"><a href="/forums/t/{topic.pk}/">'
        "How often do you replace pump seals?</a></h3>",
        html,
        count=1,
    )
    assertInHTML(
        '<a class="topic-row__category" href="/forums/c/maintenance/">Maintenance</a>',
        html,
        count=1,
    )
    assertInHTML(
        '<span class="topic-row__author">Sara Haddad</span> '
        '<span class="topic-row__organization">Jubail Valves</span>',
        html,
        count=1,
    )
    assertInHTML(
        '<p class="topic-row__badges"><span class="badge badge--solved">Solved</span></p>',
        html,
        count=1,
    )
    assertInHTML(
        '<ul class="tag-list"><li><a class="tag" href="/forums/?tag=pumps">pumps</a></li>'
        '<li><a class="tag" href="/forums/?tag=seals">seals</a></li></ul>',
        html,
        count=1,
    )
    assertInHTML(
        '<dl class="topic-row__stats"><div><dt>Replies</dt><dd>1</dd></div>'
        "<div><dt>Views</dt><dd>1</dd></div><div><dt>Likes</dt><dd>1</dd></div></dl>",
        html,
        count=1,
    )
    assert "Last reply by Omar Khalil" in html


def test_forum_home_paginates_topics(client: Client, sara: User) -> None:
    created = [
        services.create_topic(actor=sara, category="general", title=f"Question number {n:02}")
        for n in range(23)
    ]
    signed_in(client, sara)

    first = html_of(client.get("/forums/"))
    second = html_of(client.get("/forums/?page=2"))

    newest_first = [t.pk for t in reversed(created)]
    assert topic_ids(first) == newest_first[:20]
    assert topic_ids(second) == newest_first[20:]
    assert '<a class="button button--secondary" rel="next" href="?page=2">Next</a>' in first
    assert "data-live-list" not in second


def test_forum_home_filters_by_tag(client: Client, sara: User, topic: Topic) -> None:
    services.create_topic(actor=sara, category="general", title="Untagged question here")
    signed_in(client, sara)

    html = html_of(client.get("/forums/?tag=Seals"))

    assert topic_ids(html) == [topic.pk]
    assert "data-live-list" not in html
    assertInHTML('<a class="tag-filter__clear" href="?">Clear the tag “seals”</a>', html, count=1)


def test_forum_home_without_topics_invites_the_first_question(client: Client, sara: User) -> None:
    signed_in(client, sara)

    html = html_of(client.get("/forums/"))

    assertInHTML(
        '<p class="empty" id="topic-list-empty">No topics yet. Ask the first question!</p>',
        html,
        count=1,
    )


# A category


def test_category_page_lists_its_topics_with_filters(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    unanswered = services.create_topic(actor=sara, category="maintenance", title="Belt tension?")
    elsewhere = services.create_topic(actor=sara, category="iot", title="Gateway brands?")
    answer = reply(omar, topic, "Every 6 months here.")
    services.mark_best_answer(actor=sara, topic_id=topic.pk, post_id=answer.pk)
    signed_in(client, sara)

    recent = client.get("/forums/c/maintenance/")
    only_unanswered = html_of(client.get("/forums/c/maintenance/?filter=unanswered"))
    solved = html_of(client.get("/forums/c/maintenance/?filter=solved"))
    odd_filter = html_of(client.get("/forums/c/maintenance/?filter=nonsense"))

    assertTemplateUsed(recent, "forums/category_detail.html")
    assert topic_ids(html_of(recent)) == [topic.pk, unanswered.pk]
    assert elsewhere.pk not in topic_ids(html_of(recent))
    assert topic_ids(only_unanswered) == [unanswered.pk]
    assert topic_ids(solved) == [topic.pk]
    assert topic_ids(odd_filter) == [topic.pk, unanswered.pk]
    assertInHTML(
        '<a class="subnav__link" href="?filter=solved" aria-current="page">Solved</a>',
        solved,
        count=1,
    )
    assertInHTML('<h1 class="page__title">Maintenance</h1>', html_of(recent), count=1)
    assertInHTML(
        '<a class="button button--primary" href="/forums/new/?category=maintenance">New topic</a>',
        html_of(recent),
        count=1,
    )
    assert f'data-category-id="{topic.category_id}" data-live-list' in html_of(recent)


def test_category_page_filters_by_tag(client: Client, sara: User, topic: Topic) -> None:
    services.create_topic(
        actor=sara, category="maintenance", title="Vibration sensors on fans", tags=["sensors"]
    )
    signed_in(client, sara)

    html = html_of(client.get("/forums/c/maintenance/?tag=pumps"))

    assert topic_ids(html) == [topic.pk]
    assertInHTML('<a class="tag" href="/forums/c/maintenance/?tag=pumps">pumps</a>', html, count=1)


def test_category_page_is_404_for_an_unknown_category(client: Client, sara: User) -> None:
    signed_in(client, sara)

    assert client.get("/forums/c/no-such-category/").status_code == 404


# A topic


def test_topic_page_shows_the_topic_and_its_replies(
    client: Client, sara: User, omar: User, user_factory: Any, topic: Topic
) -> None:
    layla = user_factory(first_name="Layla", last_name="Saleh", organization=omar.organization)
    first = reply(omar, topic, "Every *6 months* here.")
    second = reply(layla, topic, "Which seal type?", reply_to_id=first.pk)
    third = reply(omar, topic, "Oops, wrong topic")
    services.update_post(actor=omar, post_id=first.pk, content="Every *5 months* here.")
    services.delete_post(actor=omar, post_id=third.pk)
    services.toggle_post_like(actor=sara, post_id=first.pk)
    services.mark_best_answer(actor=sara, topic_id=topic.pk, post_id=first.pk)
    signed_in(client, sara)

    response = client.get(f"/forums/t/{topic.pk}/")

    html = html_of(response)
    assert response.status_code == 200
    assertTemplateUsed(response, "forums/topic_detail.html")
    assertInHTML(
        '<h1 class="page__title forum-topic__title" id="topic-title">'
        "How often do you replace pump seals?</h1>",
        html,
        count=1,
    )
    assertInHTML(
        '<div class="forum-topic__body"><p>Our <strong>seals</strong> fail every 3 months.</p>'
        "</div>",
        html,
        count=1,
    )
    assert post_ids(html) == [first.pk, second.pk, third.pk]
    assertInHTML(
        '<span class="forum-post__byline"><span class="forum-post__author">Omar Khalil</span> '
        '<span class="forum-post__organization">Najd Foods</span></span>',
        html,
        count=2,
    )
    assertInHTML(
        '<div class="forum-post__body"><p>Every <em>5 months</em> here.</p></div>', html, count=1
    )
    assertInHTML('<span class="forum-post__edited">edited</span>', html, count=1)
    assertInHTML('<p class="forum-post__deleted">Post deleted</p>', html, count=1)
    assert "Oops, wrong topic" not in html
    assertInHTML(
        f'<blockquote class="forum-post__quote"><a href="#post-{first.pk}">In reply to Omar'
        ' Khalil</a> <span class="forum-post__quote-text">Every 5 months here.</span>'
        "</blockquote>",
        html,
        count=1,
    )
    assertInHTML(
        '<button class="like-button" type="submit" aria-pressed="true">'
        '<span class="like-button__label">Like</span> '
        '<span class="like-button__count" data-like-count>1</span></button>',
        html,
        count=1,
    )
    assert f'<li class="forum-post is-best-answer" id="post-{first.pk}"' in html
    assertInHTML(
        '<span class="badge badge--solved forum-post__best" data-best-marker>Best answer</span>',
        html,
        count=1,
    )
    assertInHTML('<span class="badge badge--solved" id="topic-solved">Solved</span>', html, count=1)
    assertInHTML('<dd id="topic-reply-count">2</dd>', html, count=1)
    assertInHTML(
        f'<a class="button button--quiet button--small" href="?reply_to={second.pk}#reply-form"'
        f' data-reply-to="{second.pk}" data-reply-name="Layla Saleh">Reply</a>',
        html,
        count=1,
    )


def test_topic_page_records_one_view_per_person(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    signed_in(client, omar)

    first = client.get(f"/forums/t/{topic.pk}/")
    client.get(f"/forums/t/{topic.pk}/")

    topic.refresh_from_db()
    assert topic.view_count == 1
    assert list(TopicView.objects.values_list("user", flat=True)) == [omar.pk]
    assertInHTML("<div><dt>Views</dt><dd>1</dd></div>", html_of(first), count=1)


def test_topic_page_buttons_follow_what_the_viewer_may_do(
    client: Client, sara: User, omar: User, moderator: User, topic: Topic
) -> None:
    own = reply(sara, topic, "Mine")
    other = reply(omar, topic, "His")

    as_author = html_of(signed_in(client, sara).get(f"/forums/t/{topic.pk}/"))
    as_other = html_of(signed_in(client, omar).get(f"/forums/t/{topic.pk}/"))
    as_staff = html_of(signed_in(client, moderator).get(f"/forums/t/{topic.pk}/"))

    # The topic's author edits the topic and their posts, and chooses the best answer.
    assert f'href="/forums/t/{topic.pk}/edit/"' in as_author
    assert f'href="/forums/p/{own.pk}/edit/"' in as_author
    assert f'href="/forums/p/{other.pk}/edit/"' not in as_author
    assert as_author.count("data-best-form") == 2
    assert "forum-topic__moderation" not in as_author
    # Someone else: only their own post, no best answer, no moderation.
    assert f'href="/forums/t/{topic.pk}/edit/"' not in as_other
    assert f'action="/forums/t/{topic.pk}/delete/"' not in as_other
    assert f'action="/forums/p/{other.pk}/delete/"' in as_other
    assert f'action="/forums/p/{own.pk}/delete/"' not in as_other
    assert "data-best-form" not in as_other
    assert "forum-topic__moderation" not in as_other
    # Staff: everything, with pin, lock and move.
    assert as_staff.count("data-best-form") == 2
    assert f'action="/forums/p/{own.pk}/delete/"' in as_staff
    assertInHTML(
        f'<form method="post" action="/forums/t/{topic.pk}/pin/">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{csrf_of(as_staff)}">'
        '<input type="hidden" name="pinned" value="true">'
        '<button class="button button--secondary button--small" type="submit">Pin</button>'
        "</form>",
        as_staff,
        count=1,
    )
    assertInHTML('<option value="maintenance" selected>Maintenance</option>', as_staff, count=1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', html)
    assert match is not None
    return match.group(1)


def test_organization_admin_may_delete_a_colleagues_post(
    client: Client, user_factory: Any, omar: User, topic: Topic
) -> None:
    admin = user_factory(organization=omar.organization, admin=True)
    post = reply(omar, topic, "Every 6 months here.")

    html = html_of(signed_in(client, admin).get(f"/forums/t/{topic.pk}/"))

    assert f'action="/forums/p/{post.pk}/delete/"' in html
    assert f'href="/forums/p/{post.pk}/edit/"' not in html


def test_topic_page_shows_the_newest_fifty_replies_and_links_to_older(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    posts = [reply(omar, topic, f"Reading {n}") for n in range(53)]
    signed_in(client, sara)

    newest = html_of(client.get(f"/forums/t/{topic.pk}/"))
    older = html_of(client.get(f"/forums/t/{topic.pk}/?before={posts[3].pk}"))

    assert post_ids(newest) == [p.pk for p in posts[3:]]
    assert f'<a id="posts-older" href="?before={posts[3].pk}">Older replies</a>' in newest
    assert post_ids(older) == [p.pk for p in posts[:3]]
    assert 'id="posts-older"' not in older
    assert f'<a href="/forums/t/{topic.pk}/">Newest replies</a>' in older


def test_topic_page_carries_its_state_for_the_script(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months here.")
    signed_in(client, omar)

    newest = client.get(f"/forums/t/{topic.pk}/")
    older = client.get(f"/forums/t/{topic.pk}/?before={post.pk}")

    assert newest.context["topic_state"] == {
        "topic_id": topic.pk,
        "user_id": omar.pk,
        "is_staff": False,
        "can_mark_best": False,
        "last_post_id": post.pk,
        "is_latest_page": True,
        "best_answer_id": None,
    }
    state = re.search(
        r'<script id="topic-state" type="application/json">(.*?)</script>', html_of(newest)
    )
    assert state is not None
    assert json.loads(state.group(1)) == newest.context["topic_state"]
    assert older.context["topic_state"]["last_post_id"] is None
    assert older.context["topic_state"]["is_latest_page"] is False


def test_topic_page_is_404_for_a_deleted_or_missing_topic(
    client: Client, sara: User, omar: User, moderator: User, topic: Topic
) -> None:
    services.delete_topic(actor=sara, topic_id=topic.pk)

    deleted = signed_in(client, omar).get(f"/forums/t/{topic.pk}/")
    missing = client.get("/forums/t/999999/")
    post = client.post(f"/forums/t/{topic.pk}/", {"content": "Anyone?"})
    for_staff = signed_in(client, moderator).get(f"/forums/t/{topic.pk}/")

    assert (deleted.status_code, missing.status_code, post.status_code) == (404, 404, 404)
    assert "pump seals" not in html_of(deleted)
    assert Post.objects.count() == 0
    assert TopicView.objects.filter(user=omar).count() == 0
    assert for_staff.status_code == 200
    assertInHTML('<span class="badge badge--deleted">Deleted</span>', html_of(for_staff), count=1)
    assert 'id="reply-form"' not in html_of(for_staff)


def test_reply_form_without_javascript_stores_the_post_and_goes_to_it(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    first = reply(sara, topic, "Any data?")
    signed_in(client, omar)

    response = client.post(
        f"/forums/t/{topic.pk}/",
        {"content": "  Every **6 months**.  ", "reply_to": str(first.pk)},
    )

    post = Post.objects.latest("id")
    assertRedirects(
        response, f"/forums/t/{topic.pk}/#post-{post.pk}", fetch_redirect_response=False
    )
    assert (post.author, post.topic, post.content, post.reply_to) == (
        omar,
        topic,
        "Every **6 months**.",
        first,
    )
    assert post.content_html == "<p>Every <strong>6 months</strong>.</p>"
    topic.refresh_from_db()
    assert topic.reply_count == 2


def test_reply_button_without_javascript_prefills_the_reply_form(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months here.")
    signed_in(client, sara)

    html = html_of(client.get(f"/forums/t/{topic.pk}/?reply_to={post.pk}"))

    assertInHTML(
        f'<input type="hidden" name="reply_to" value="{post.pk}" id="id_reply_to">',
        html,
        count=1,
    )
    assertInHTML(
        '<p class="forum-reply__to" id="reply-to">Replying to <strong id="reply-to-name">'
        f'Omar Khalil</strong> <a href="/forums/t/{topic.pk}/#reply-form" id="reply-to-cancel">'
        "Cancel</a></p>",
        html,
        count=1,
    )


def test_reply_link_to_a_post_that_cannot_be_answered_is_ignored(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    other = services.create_topic(actor=omar, category="general", title="Another question")
    foreign = reply(omar, other, "Elsewhere")
    deleted = reply(omar, topic, "Gone")
    services.delete_post(actor=omar, post_id=deleted.pk)
    signed_in(client, sara)

    for reply_to in [foreign.pk, deleted.pk, 999999, "x"]:
        html = html_of(client.get(f"/forums/t/{topic.pk}/?reply_to={reply_to}"))

        assertInHTML('<input type="hidden" name="reply_to" id="id_reply_to">', html, count=1)
        assert '<p class="forum-reply__to" id="reply-to" hidden>' in html


def test_reply_form_with_empty_content_shows_the_error_and_stores_nothing(
    client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)

    response = client.post(f"/forums/t/{topic.pk}/", {"content": "   "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"content": ["This field is required."]}
    assert '<textarea name="content" cols="40" rows="5" maxlength="5000" data-markdown' in (
        html_of(response)
    )
    assert 'aria-invalid="true"' in html_of(response)
    assert Post.objects.count() == 0


def test_reply_to_a_post_of_another_topic_is_refused_with_the_services_message(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    other = services.create_topic(actor=omar, category="general", title="Another question")
    foreign = reply(omar, other, "Elsewhere")
    signed_in(client, sara)

    response = client.post(
        f"/forums/t/{topic.pk}/", {"content": "Hello", "reply_to": str(foreign.pk)}
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "You can only reply to a post of this topic that is not deleted."
    ]
    assert Post.objects.filter(topic=topic).count() == 0


def test_locked_topic_shows_a_disabled_reply_form_and_refuses_replies(
    client: Client, sara: User, omar: User, moderator: User, topic: Topic
) -> None:
    services.set_locked(actor=moderator, topic_id=topic.pk, locked=True)
    signed_in(client, omar)

    page = html_of(client.get(f"/forums/t/{topic.pk}/"))
    response = client.post(f"/forums/t/{topic.pk}/", {"content": "Can I still reply?"})

    assertInHTML(
        '<p class="notice notice--warning" id="topic-locked-notice">'
        "This topic is locked: it accepts no new replies.</p>",
        page,
        count=1,
    )
    assert '<fieldset class="forum-reply__fields" id="reply-fields" disabled>' in page
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This topic is locked: it accepts no new posts."
    ]
    assert Post.objects.count() == 0


def test_reply_form_preview_without_javascript_renders_and_stores_nothing(
    client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)

    response = client.post(
        f"/forums/t/{topic.pk}/",
        {"content": "**Torque** 40 Nm <script>alert(1)</script>", "preview": "1"},
    )

    html = html_of(response)
    assert response.status_code == 200
    assertInHTML(
        '<div class="markdown-preview__body" data-preview-body><p><strong>Torque</strong> 40 Nm'
        " &lt;script&gt;alert(1)&lt;/script&gt;</p></div>",
        html,
        count=1,
    )
    assert "<script>alert" not in html
    assert Post.objects.count() == 0


def test_post_address_goes_to_the_page_that_shows_it(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    posts = [reply(omar, topic, f"Reading {n}") for n in range(52)]
    signed_in(client, sara)

    recent = client.get(f"/forums/p/{posts[10].pk}/")
    old = client.get(f"/forums/p/{posts[1].pk}/")

    assertRedirects(
        recent, f"/forums/t/{topic.pk}/#post-{posts[10].pk}", fetch_redirect_response=False
    )
    assertRedirects(
        old,
        f"/forums/t/{topic.pk}/?before={posts[1].pk + 1}#post-{posts[1].pk}",
        fetch_redirect_response=False,
    )


# Queries: one per kind of row, never one per row


def test_topic_page_queries_do_not_grow_with_replies(
    client: Client, sara: User, user_factory: Any, topic: Topic
) -> None:
    signed_in(client, sara)
    replier = user_factory()
    first = reply(replier, topic, "First")
    path = f"/forums/t/{topic.pk}/"
    client.get(path)  # the first view is recorded once; later ones only read
    one_reply = query_count(client, path)
    for n in range(6):
        person = user_factory()
        post = reply(person, topic, f"Reply {n}", reply_to_id=first.pk)
        services.toggle_post_like(actor=sara, post_id=post.pk)
    services.delete_post(actor=replier, post_id=first.pk)

    many_replies = query_count(client, path)

    assert many_replies == one_reply


@pytest.mark.parametrize(
    "path", ["/forums/", "/forums/c/general/", "/forums/mine/", "/forums/mine/?tab=following"]
)
def test_topic_lists_queries_do_not_grow_with_topics(
    client: Client, sara: User, user_factory: Any, path: str
) -> None:
    signed_in(client, sara)

    def add_topic(n: int) -> None:
        topic = services.create_topic(
            actor=sara, category="general", title=f"Question number {n:02}", tags=[f"tag {n}"]
        )
        reply(user_factory(), topic, "An answer")

    add_topic(0)
    one = query_count(client, path)
    for n in range(1, 7):
        add_topic(n)

    several = query_count(client, path)

    assert several == one


# New topic


def test_new_topic_page_preselects_the_category_of_the_link(client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = client.get("/forums/new/?category=iot")

    html = html_of(response)
    assert response.status_code == 200
    assertTemplateUsed(response, "forums/topic_form.html")
    assertInHTML('<option value="iot" selected>IoT</option>', html, count=1)
    assertInHTML(
        '<button class="button button--secondary" type="submit" name="preview" value="1"'
        ' data-preview-url="/forums/preview/">Preview</button>',
        html,
        count=1,
    )


def test_new_topic_form_publishes_the_topic(client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = client.post(
        "/forums/new/",
        {
            "category": "energy-efficiency",
            "title": "  Compressed air leaks: how do you find them?  ",
            "content": "We lose **30%**.",
            "tags": "Compressed Air, leaks, ",
        },
    )

    topic = Topic.objects.get()
    assertRedirects(response, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(response) == ["Your topic is published."]
    assert (topic.author, topic.category.slug, topic.title, topic.content_html) == (
        sara,
        "energy-efficiency",
        "Compressed air leaks: how do you find them?",
        "<p>We lose <strong>30%</strong>.</p>",
    )
    assert sorted(topic.tags.values_list("name", flat=True)) == ["compressed air", "leaks"]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"category": "general", "title": "Too short"[:7]},
            {"title": ["A title has 8 to 150 characters."]},
        ),
        (
            {"category": "general", "title": "Which gauge do you use?", "tags": "a, b, c, d, e, f"},
            {"tags": ["Use at most 5 tags, each of 1 to 30 letters, digits, hyphens or spaces."]},
        ),
        (
            {"category": "general", "title": "Which gauge do you use?", "tags": "<b>"},
            {"tags": ["Use at most 5 tags, each of 1 to 30 letters, digits, hyphens or spaces."]},
        ),
        (
            {"category": "nowhere", "title": "Which gauge do you use?"},
            {
                "category": [
                    "Select a valid choice. That choice is not one of the available choices."
                ]
            },
        ),
        ({"category": "general"}, {"title": ["This field is required."]}),
    ],
)
def test_new_topic_form_shows_why_it_refuses_and_stores_nothing(
    client: Client, sara: User, data: dict[str, str], errors: dict[str, list[str]]
) -> None:
    signed_in(client, sara)

    response = client.post("/forums/new/", data)

    assert response.status_code == 200
    assert response.context["form"].errors == errors
    assert Topic.objects.count() == 0


def test_new_topic_preview_without_javascript_renders_sanitized_html(
    client: Client, sara: User
) -> None:
    signed_in(client, sara)

    response = client.post(
        "/forums/new/",
        {
            "category": "general",
            "title": "Preview me please",
            "content": "[click](javascript:alert(1)) and *this*",
            "preview": "1",
        },
    )

    html = html_of(response)
    assert response.status_code == 200
    assertInHTML(
        '<div class="markdown-preview__body" data-preview-body><p>[click](javascript:alert(1))'
        " and <em>this</em></p></div>",
        html,
        count=1,
    )
    assert 'href="javascript' not in html
    assertInHTML(
        '<input type="text" name="title" value="Preview me please" maxlength="150"'
        ' autocomplete="off" required aria-describedby="id_title_helptext" id="id_title">',
        html,
        count=1,
    )
    assert Topic.objects.count() == 0


def test_preview_endpoint_answers_the_sanitized_html(client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = client.post(
        "/forums/preview/", {"content": "# Plan\n<img src=x onerror=alert(1)> **go**"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "html": "<h1>Plan</h1>\n<p>&lt;img src=x onerror=alert(1)&gt; <strong>go</strong></p>"
    }


def test_preview_endpoint_refuses_text_that_is_too_long(client: Client, sara: User) -> None:
    signed_in(client, sara)

    response = client.post("/forums/preview/", {"content": "x" * 5001})

    assert response.status_code == 422
    assert response.json() == {
        "detail": "The text has 5001 characters; at most 5000 fit.",
        "code": "invalid_content",
    }


def test_preview_endpoint_is_for_signed_in_verified_members_with_a_csrf_token(
    sara: User, user_factory: Any
) -> None:
    anonymous = Client().post("/forums/preview/", {"content": "Hi"})
    unverified = Client()
    unverified.force_login(user_factory(unverified=True))
    without_token = Client(enforce_csrf_checks=True)
    without_token.force_login(sara)
    get = Client()
    get.force_login(sara)

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert unverified.post("/forums/preview/", {"content": "Hi"}).status_code == 403
    assert without_token.post("/forums/preview/", {"content": "Hi"}).status_code == 403
    assert get.get("/forums/preview/").status_code == 405


# Editing


def test_topic_edit_page_is_prefilled_and_saves_through_the_service(
    client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)

    page = client.get(f"/forums/t/{topic.pk}/edit/")
    response = client.post(
        f"/forums/t/{topic.pk}/edit/",
        {"title": "How often do you replace pump seals now?", "content": "Monthly.", "tags": ""},
    )

    assert page.status_code == 200
    assert page.context["form"].initial == {
        "title": "How often do you replace pump seals?",
        "content": "Our **seals** fail every 3 months.",
        "tags": "pumps, seals",
    }
    assertRedirects(response, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(response) == ["Your changes are saved."]
    topic.refresh_from_db()
    assert (topic.title, topic.content_html, topic.tags.count()) == (
        "How often do you replace pump seals now?",
        "<p>Monthly.</p>",
        0,
    )
    assert topic.edited_at is not None


def test_topic_edit_page_shows_the_services_refusal_as_a_form_error(
    client: Client, sara: User, topic: Topic
) -> None:
    signed_in(client, sara)

    response = client.post(f"/forums/t/{topic.pk}/edit/", {"title": "Short"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"title": ["A title has 8 to 150 characters."]}
    topic.refresh_from_db()
    assert (topic.title, topic.edited_at) == ("How often do you replace pump seals?", None)


def test_edit_pages_of_someone_elses_topic_or_post_are_403_and_change_nothing(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(sara, topic, "My own reply")
    signed_in(client, omar)
    before = writes()

    responses = [
        client.get(f"/forums/t/{topic.pk}/edit/"),
        client.post(f"/forums/t/{topic.pk}/edit/", {"title": "Taken over by Omar"}),
        client.post(f"/forums/t/{topic.pk}/edit/", {"title": ""}),
        client.get(f"/forums/p/{post.pk}/edit/"),
        client.post(f"/forums/p/{post.pk}/edit/", {"content": "Changed by Omar"}),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assertTemplateUsed(responses[0], "accounts/forbidden.html")
    assert "Only the author or staff can edit this topic." in html_of(responses[1])
    assert "Only the author or staff can edit this post." in html_of(responses[4])
    assert 'name="title"' not in html_of(responses[2])
    assert writes() == before
    post.refresh_from_db()
    assert post.content == "My own reply"


def test_staff_may_edit_any_post(client: Client, omar: User, moderator: User, topic: Topic) -> None:
    post = reply(omar, topic, "Call me on 0500000000")
    signed_in(client, moderator)

    response = client.post(f"/forums/p/{post.pk}/edit/", {"content": "[number removed]"})

    assertRedirects(
        response, f"/forums/t/{topic.pk}/#post-{post.pk}", fetch_redirect_response=False
    )
    post.refresh_from_db()
    assert (post.content, post.edited_at is not None) == ("[number removed]", True)


def test_post_edit_page_saves_and_refuses_empty_content(
    client: Client, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months")
    signed_in(client, omar)

    page = client.get(f"/forums/p/{post.pk}/edit/")
    empty = client.post(f"/forums/p/{post.pk}/edit/", {"content": " "})
    saved = client.post(f"/forums/p/{post.pk}/edit/", {"content": "Every *5* months"})

    assertTemplateUsed(page, "forums/post_form.html")
    assert page.context["form"].initial == {"content": "Every 6 months"}
    assert empty.context["form"].errors == {"content": ["This field is required."]}
    assertRedirects(saved, f"/forums/t/{topic.pk}/#post-{post.pk}", fetch_redirect_response=False)
    post.refresh_from_db()
    assert post.content_html == "<p>Every <em>5</em> months</p>"


def test_post_edit_page_of_a_deleted_post_is_404(client: Client, omar: User, topic: Topic) -> None:
    post = reply(omar, topic, "Gone soon")
    services.delete_post(actor=omar, post_id=post.pk)
    signed_in(client, omar)

    assert client.get(f"/forums/p/{post.pk}/edit/").status_code == 404
    assert client.post(f"/forums/p/{post.pk}/edit/", {"content": "Back"}).status_code == 404
    post.refresh_from_db()
    assert post.content == ""


# Deleting


def test_delete_topic_asks_first_then_deletes(client: Client, sara: User, topic: Topic) -> None:
    signed_in(client, sara)

    page = client.get(f"/forums/t/{topic.pk}/delete/")
    unconfirmed = client.post(f"/forums/t/{topic.pk}/delete/")
    still_there = Topic.objects.get(pk=topic.pk).deleted_at
    confirmed = client.post(f"/forums/t/{topic.pk}/delete/", {"confirmed": "yes"})

    assert (page.status_code, unconfirmed.status_code) == (200, 200)
    assertTemplateUsed(unconfirmed, "forums/delete_confirm.html")
    assertInHTML(
        '<h1 class="page__title" id="confirm-title">Delete this topic?</h1>',
        html_of(unconfirmed),
        count=1,
    )
    assertInHTML(
        '<input type="hidden" name="confirmed" value="yes">', html_of(unconfirmed), count=1
    )
    assert still_there is None
    assertRedirects(confirmed, "/forums/c/maintenance/", fetch_redirect_response=False)
    assert flashed(confirmed) == ["The topic is deleted."]
    topic.refresh_from_db()
    assert (topic.deleted_at is not None, topic.deleted_by) == (True, sara)


def test_delete_post_soft_deletes_it_in_the_thread(
    client: Client, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Oops")
    signed_in(client, omar)

    response = client.post(f"/forums/p/{post.pk}/delete/", {"confirmed": "yes"})

    assertRedirects(
        response, f"/forums/t/{topic.pk}/#post-{post.pk}", fetch_redirect_response=False
    )
    post.refresh_from_db()
    topic.refresh_from_db()
    assert (post.deleted_at is not None, post.content, topic.reply_count) == (True, "", 0)


def test_organization_admin_deletes_a_colleagues_post(
    client: Client, user_factory: Any, omar: User, topic: Topic
) -> None:
    admin = user_factory(organization=omar.organization, admin=True)
    post = reply(omar, topic, "Wrong numbers")
    signed_in(client, admin)

    response = client.post(f"/forums/p/{post.pk}/delete/", {"confirmed": "yes"})

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.deleted_by == admin


def test_delete_of_someone_elses_topic_or_post_is_403_and_deletes_nothing(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(sara, topic, "Mine")
    signed_in(client, omar)
    before = writes()

    responses = [
        client.get(f"/forums/t/{topic.pk}/delete/"),
        client.post(f"/forums/t/{topic.pk}/delete/", {"confirmed": "yes"}),
        client.get(f"/forums/p/{post.pk}/delete/"),
        client.post(f"/forums/p/{post.pk}/delete/", {"confirmed": "yes"}),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert (
        "Only the author, their organization&#x27;s admin or staff can delete this topic."
        in html_of(responses[1])
    )
    assert writes() == before


# Buttons


def test_like_buttons_toggle_and_go_back_to_what_was_liked(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(sara, topic, "Every 6 months")
    signed_in(client, omar)

    liked = client.post(f"/forums/t/{topic.pk}/like/")
    post_liked = client.post(f"/forums/p/{post.pk}/like/")
    client.post(f"/forums/t/{topic.pk}/like/")

    assertRedirects(liked, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assertRedirects(post_liked, f"/forums/p/{post.pk}/", fetch_redirect_response=False)
    topic.refresh_from_db()
    post.refresh_from_db()
    assert (topic.like_count, post.like_count) == (0, 1)
    assert list(PostLike.objects.values_list("user", flat=True)) == [omar.pk]


def test_like_of_a_deleted_post_is_404_and_counts_nothing(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(sara, topic, "Gone")
    services.delete_post(actor=sara, post_id=post.pk)
    signed_in(client, omar)

    response = client.post(f"/forums/p/{post.pk}/like/")

    assert response.status_code == 404
    assert PostLike.objects.count() == 0


def test_bookmark_and_follow_buttons(client: Client, sara: User, omar: User, topic: Topic) -> None:
    signed_in(client, omar)

    bookmarked = client.post(f"/forums/t/{topic.pk}/bookmark/")
    followed = client.post(f"/forums/t/{topic.pk}/subscription/", {"level": "following"})
    page = html_of(client.get(f"/forums/t/{topic.pk}/"))
    muted = client.post(f"/forums/t/{topic.pk}/subscription/", {"level": "muted"})
    level_after_mute = Subscription.objects.get(user=omar).level
    removed = client.post(f"/forums/t/{topic.pk}/subscription/", {"level": ""})

    assertRedirects(bookmarked, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(bookmarked) == ["The topic is in your bookmarks."]
    assert flashed(followed)[-1] == "You follow this topic: replies are notified to you."
    assertInHTML(
        '<button class="button button--secondary button--small" type="submit"'
        ' aria-pressed="true">Bookmarked</button>',
        page,
        count=1,
    )
    assertInHTML('<span class="forum-topic__state">You follow this topic.</span>', page, count=1)
    assert flashed(muted)[-1] == "The topic is muted: you get no notifications of it."
    assert level_after_mute == "muted"
    assert flashed(removed)[-1] == "You no longer follow this topic."
    assert not Subscription.objects.filter(user=omar).exists()
    assert Bookmark.objects.filter(user=omar, topic=topic).exists()


def test_buttons_with_an_unknown_value_change_nothing(
    client: Client, omar: User, moderator: User, topic: Topic
) -> None:
    signed_in(client, omar)
    before = writes()
    level = client.post(f"/forums/t/{topic.pk}/subscription/", {"level": "everything"})
    signed_in(client, moderator)
    pin = client.post(f"/forums/t/{topic.pk}/pin/", {"pinned": "maybe"})
    move = client.post(f"/forums/t/{topic.pk}/move/", {"category": "nowhere"})

    for response in (level, pin, move):
        assertRedirects(response, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(pin)[-1] == "This button sent a value it does not know."
    assert flashed(move)[-1] == "There is no such category."
    assert writes() == before
    assert Topic.objects.get(pk=topic.pk).category.slug == "maintenance"


def test_best_answer_button_marks_and_clears_for_the_topic_author(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months")
    signed_in(client, sara)

    marked = client.post(f"/forums/t/{topic.pk}/best-answer/", {"post_id": str(post.pk)})
    solved = Topic.objects.get(pk=topic.pk).best_answer_id
    cleared = client.post(f"/forums/t/{topic.pk}/best-answer/", {"post_id": ""})

    assertRedirects(marked, f"/forums/t/{topic.pk}/#post-{post.pk}", fetch_redirect_response=False)
    assert solved == post.pk
    assertRedirects(cleared, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert Topic.objects.get(pk=topic.pk).best_answer_id is None


def test_best_answer_refusals_change_nothing(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    post = reply(omar, topic, "Every 6 months")
    other = services.create_topic(actor=sara, category="general", title="Another question")
    foreign = reply(omar, other, "Elsewhere")

    by_other = signed_in(client, omar).post(
        f"/forums/t/{topic.pk}/best-answer/", {"post_id": str(post.pk)}
    )
    wrong_post = signed_in(client, sara).post(
        f"/forums/t/{topic.pk}/best-answer/", {"post_id": str(foreign.pk)}
    )

    assert by_other.status_code == 403
    assert "Only the topic&#x27;s author or staff can choose the best answer." in html_of(by_other)
    assertRedirects(wrong_post, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(wrong_post)[-1] == (
        "The best answer must be a post of this topic that is not deleted."
    )
    assert not Topic.objects.filter(best_answer__isnull=False).exists()


def test_staff_pin_lock_and_move_a_topic(client: Client, moderator: User, topic: Topic) -> None:
    signed_in(client, moderator)

    pinned = client.post(f"/forums/t/{topic.pk}/pin/", {"pinned": "true"})
    locked = client.post(f"/forums/t/{topic.pk}/lock/", {"locked": "true"})
    moved = client.post(f"/forums/t/{topic.pk}/move/", {"category": "iot"})

    for response in (pinned, locked, moved):
        assertRedirects(response, f"/forums/t/{topic.pk}/", fetch_redirect_response=False)
    assert flashed(moved)[-1] == "The topic is moved to IoT."
    topic.refresh_from_db()
    assert (topic.is_pinned, topic.is_locked, topic.category.slug) == (True, True, "iot")


def test_members_cannot_pin_lock_or_move(client: Client, sara: User, topic: Topic) -> None:
    signed_in(client, sara)
    before = writes()

    responses = [
        client.post(f"/forums/t/{topic.pk}/pin/", {"pinned": "true"}),
        client.post(f"/forums/t/{topic.pk}/lock/", {"locked": "true"}),
        client.post(f"/forums/t/{topic.pk}/move/", {"category": "iot"}),
    ]

    assert [r.status_code for r in responses] == [403] * 3
    assert "Only staff can pin, lock and move topics." in html_of(responses[0])
    assert writes() == before
    assert Topic.objects.get(pk=topic.pk).category.slug == "maintenance"


@pytest.mark.parametrize(
    "path",
    ["like/", "bookmark/", "subscription/", "best-answer/", "pin/", "lock/", "move/"],
)
def test_topic_buttons_are_post_only(
    client: Client, moderator: User, topic: Topic, path: str
) -> None:
    signed_in(client, moderator)
    before = writes()

    response = client.get(f"/forums/t/{topic.pk}/{path}")

    assert response.status_code == 405
    assert writes() == before


def test_buttons_on_a_missing_topic_are_404(client: Client, moderator: User) -> None:
    signed_in(client, moderator)

    responses = [
        client.post("/forums/t/999999/like/"),
        client.post("/forums/t/999999/bookmark/"),
        client.post("/forums/t/999999/pin/", {"pinned": "true"}),
        client.post("/forums/p/999999/like/"),
    ]

    assert [r.status_code for r in responses] == [404] * 4


# My topics


def test_my_topics_tabs_list_own_followed_and_bookmarked_topics(
    client: Client, sara: User, omar: User, topic: Topic
) -> None:
    his = services.create_topic(actor=omar, category="iot", title="Which LoRa gateway?")
    followed = services.create_topic(actor=omar, category="iot", title="MQTT or OPC UA?")
    services.set_subscription(actor=sara, topic_id=followed.pk, level="following")
    services.toggle_bookmark(actor=sara, topic_id=his.pk)
    signed_in(client, sara)

    mine = client.get("/forums/mine/")
    following = html_of(client.get("/forums/mine/?tab=following"))
    bookmarks = html_of(client.get("/forums/mine/?tab=bookmarks"))

    assertTemplateUsed(mine, "forums/my_topics.html")
    assert topic_ids(html_of(mine)) == [topic.pk]
    assert topic_ids(following) == [followed.pk, topic.pk]
    assert topic_ids(bookmarks) == [his.pk]
    assertInHTML(
        '<a class="subnav__link" href="/forums/mine/?tab=bookmarks" aria-current="page">'
        "Bookmarks</a>",
        bookmarks,
        count=1,
    )


def test_my_topics_empty_tabs_say_how_to_fill_them(client: Client, sara: User) -> None:
    signed_in(client, sara)

    html = html_of(client.get("/forums/mine/?tab=bookmarks"))

    assertInHTML(
        '<p class="empty" id="topic-list-empty">No bookmarks yet. “Bookmark” on a topic keeps it'
        " here.</p>",
        html,
        count=1,
    )


def test_topic_page_times_are_in_the_site_zone_for_the_script_to_localize(
    client: Client, sara: User, topic: Topic
) -> None:
    Topic.objects.filter(pk=topic.pk).update(created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    signed_in(client, sara)

    html = html_of(client.get(f"/forums/t/{topic.pk}/"))

    assert (
        '<time data-local-time datetime="2026-03-01T12:30:00+03:00">1 Mar 2026, 12:30</time>'
    ) in html
