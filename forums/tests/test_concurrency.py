import asyncio
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from accounts.models import User
from forums.models import Post, PostLike, Subscription, Topic, TopicView
from messaging.models import EmailFrequency, NotificationPreference

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

API = "/api/v1/forums"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def without_reply_notifications(people: list[User]) -> None:
    """The test server runs Celery tasks eagerly, so the reply fan-out (a worker's job in
    production) would run inside each request: these people get no `forum_reply` at all."""
    NotificationPreference.objects.bulk_create(
        NotificationPreference(
            user=person, type="forum_reply", in_app=False, email=EmailFrequency.OFF
        )
        for person in people
    )


def people_with_tokens(user_factory: Any, count: int) -> list[tuple[User, str]]:
    return [
        (person, account_services.create_api_token(actor=person, name="load")[1])
        for person in user_factory.create_batch(count)
    ]


async def test_create_post_fifty_concurrent_replies_are_all_counted(
    asgi_server: Any, user_factory: Any, topic_factory: Any
) -> None:
    topic = await sync_to_async(topic_factory)()
    await Subscription.objects.acreate(topic=topic, user_id=topic.author_id)
    repliers = await sync_to_async(people_with_tokens)(user_factory, 50)
    await sync_to_async(without_reply_notifications)(
        [topic.author, *(person for person, _ in repliers)]
    )

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=120) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{API}/topics/{topic.pk}/posts",
                    json={"content": f"Reply number {index}"},
                    headers=bearer(token),
                )
                for index, (_, token) in enumerate(repliers)
            )
        )

    assert [response.status_code for response in responses] == [201] * 50
    assert [
        (response.json()["author"]["id"], response.json()["content"]) for response in responses
    ] == [(person.pk, f"Reply number {index}") for index, (person, _) in enumerate(repliers)]
    posts = [post async for post in Post.objects.filter(topic=topic).order_by("id")]
    assert len(posts) == 50
    assert {post.pk for post in posts} == {response.json()["id"] for response in responses}
    newest = posts[-1]
    stored = await Topic.objects.aget(pk=topic.pk)
    assert (stored.reply_count, stored.last_post_id, stored.last_activity_at) == (
        50,
        newest.pk,
        newest.created_at,
    )
    # Posts were created one at a time under the topic's lock: ids and times agree.
    assert [post.created_at for post in posts] == sorted(post.created_at for post in posts)
    assert await Subscription.objects.filter(topic=topic, level="following").acount() == 51


async def test_like_post_thirty_concurrent_likes_are_all_counted(
    asgi_server: Any, user_factory: Any, post_factory: Any
) -> None:
    post = await sync_to_async(post_factory)()
    likers = await sync_to_async(people_with_tokens)(user_factory, 30)

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"{API}/posts/{post.pk}/like", headers=bearer(token))
                for _, token in likers
            )
        )

    assert [response.status_code for response in responses] == [200] * 30
    assert {response.json()["liked"] for response in responses} == {True}
    # Each like counted under the row lock of its update: every answer saw a different count.
    assert sorted(response.json()["like_count"] for response in responses) == list(range(1, 31))
    assert (await Post.objects.aget(pk=post.pk)).like_count == 30
    assert await PostLike.objects.filter(post=post).acount() == 30


async def test_get_topic_concurrent_views_count_each_user_once(
    asgi_server: Any, user_factory: Any, topic_factory: Any
) -> None:
    topic = await sync_to_async(topic_factory)()
    viewers = await sync_to_async(people_with_tokens)(user_factory, 10)
    (returning, token), *others = viewers

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.get(f"{API}/topics/{topic.pk}", headers=bearer(token)) for _ in range(10)),
            *(
                client.get(f"{API}/topics/{topic.pk}", headers=bearer(other_token))
                for _, other_token in others
            ),
        )

    assert [response.status_code for response in responses] == [200] * 19
    assert (await Topic.objects.aget(pk=topic.pk)).view_count == 10
    assert await TopicView.objects.filter(topic=topic, user=returning).acount() == 1
    assert await TopicView.objects.filter(topic=topic).acount() == 10
