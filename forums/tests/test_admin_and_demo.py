from typing import Any

import pytest
from django.test import Client

from accounts.demo import seed_demo_accounts
from forums.demo import TOPICS, create_demo_forums
from forums.models import Bookmark, Post, Subscription, Topic, TopicLike
from messaging.models import Notification

pytestmark = pytest.mark.services


@pytest.mark.parametrize(
    "path",
    [
        "/admin/forums/category/",
        "/admin/forums/category/add/",
        "/admin/forums/tag/",
        "/admin/forums/topic/",
        "/admin/forums/post/",
    ],
)
def test_admin_pages_answer_staff(
    client: Client, user_factory: Any, topic_factory: Any, post_factory: Any, path: str
) -> None:
    post_factory(topic=topic_factory(tags=["plc"]))
    client.force_login(user_factory(is_staff=True, is_superuser=True))

    assert client.get(path).status_code == 200


def test_admin_topic_and_post_pages_show_without_changing(
    client: Client, user_factory: Any, post_factory: Any
) -> None:
    post = post_factory()
    client.force_login(user_factory(is_staff=True, is_superuser=True))

    topic_page = client.get(f"/admin/forums/topic/{post.topic_id}/change/")
    post_page = client.get(f"/admin/forums/post/{post.pk}/change/")

    assert (topic_page.status_code, post_page.status_code) == (200, 200)
    assert post.topic.title in topic_page.content.decode()
    assert client.get(f"/admin/forums/topic/{post.topic_id}/delete/").status_code == 403


def test_create_demo_forums_is_complete_and_idempotent(db: None) -> None:
    seed_demo_accounts()

    created = create_demo_forums()
    again = create_demo_forums()

    assert [topic.title for topic in created] == [demo.title for demo in TOPICS]
    assert again == []
    assert Topic.objects.count() == len(TOPICS)
    assert Post.objects.count() == sum(len(demo.replies) for demo in TOPICS) == 11
    for demo in TOPICS:
        topic = Topic.objects.get(title=demo.title)
        assert topic.reply_count == len(demo.replies)
        assert topic.category.slug == demo.category
        assert sorted(topic.tags.values_list("name", flat=True)) == sorted(demo.tags)
        assert topic.is_pinned is demo.pinned
        assert topic.like_count == len(demo.liked_by)
        assert topic.view_count > 0
        posts = list(topic.posts.order_by("id"))
        if demo.best_answer is not None:
            assert topic.best_answer == posts[demo.best_answer]
        if posts:
            assert topic.last_post == posts[-1]
            times = [topic.created_at] + [post.created_at for post in posts]
            assert times == sorted(set(times))
            assert topic.last_activity_at == posts[-1].created_at
    assert Topic.objects.filter(best_answer__isnull=False).count() == 2
    assert TopicLike.objects.count() == sum(len(demo.liked_by) for demo in TOPICS)
    assert Bookmark.objects.count() == sum(len(demo.bookmarked_by) for demo in TOPICS)
    assert Subscription.objects.filter(level="following").count() > len(TOPICS)
    assert Notification.objects.filter(type="forum_reply").count() == 0
