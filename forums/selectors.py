"""Reads of the forums.

Who sees what: every signed-in, active, email-verified member sees every topic that is not
deleted (staff see deleted ones too, by their id; lists leave deleted topics out for everyone).
Anyone else sees nothing: lists are empty and single reads raise the not-found errors.
"""

from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from forums.exceptions import (
    InvalidFilterError,
    PostNotFoundError,
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
)

POST_PAGE_SIZE = 50
TOPIC_FILTERS = ("recent", "unanswered", "solved", "following", "bookmarked")


def is_member(user: Any) -> bool:
    """Signed in, active and email-verified: who may read and write in the forums."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.email_verified_at is not None
    )


def list_categories() -> list[Category]:
    """Every category in its order, with `topic_count` (topics not deleted) and `post_count`
    (replies in those topics, not deleted)."""
    live_topics = Topic.objects.filter(category=OuterRef("pk"), deleted_at__isnull=True).order_by()
    topic_count = live_topics.values("category").annotate(n=Count("id")).values("n")
    post_count = live_topics.values("category").annotate(n=Sum("reply_count")).values("n")
    return list(
        Category.objects.annotate(
            topic_count=Coalesce(Subquery(topic_count, output_field=IntegerField()), 0),
            post_count=Coalesce(Subquery(post_count, output_field=IntegerField()), 0),
        )
    )


def get_category(slug_or_id: str | int) -> Category:
    """A category by id (an int or a string of digits) or by slug."""
    if isinstance(slug_or_id, bool):
        raise UnknownCategoryError
    if isinstance(slug_or_id, int) or (isinstance(slug_or_id, str) and slug_or_id.isdigit()):
        lookup: dict[str, Any] = {"pk": int(slug_or_id)}
    elif isinstance(slug_or_id, str) and slug_or_id.strip():
        lookup = {"slug": slug_or_id.strip().lower()}
    else:
        raise UnknownCategoryError
    category = Category.objects.filter(**lookup).first()
    if category is None:
        raise UnknownCategoryError
    return category


def category_id_of(category: Category | int | str) -> int:
    if isinstance(category, Category):
        return category.pk
    return get_category(category).pk


def topic_queryset(user: Any = None) -> QuerySet[Topic]:
    """Topics with what TopicOut and TopicListItemOut show loaded in the same query (tags in one
    more): `is_liked`, `is_bookmarked` and `subscription` for `user` (false and null without
    one, as broadcasts show them)."""
    topics = Topic.objects.select_related(
        "category", "author__organization", "last_post__author"
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    if user is None or not user.is_authenticated:
        return topics.annotate(
            is_liked=Value(False),
            is_bookmarked=Value(False),
            subscription=Value(None, output_field=CharField()),
        )
    return topics.annotate(
        is_liked=Exists(TopicLike.objects.filter(topic=OuterRef("pk"), user_id=user.pk)),
        is_bookmarked=Exists(Bookmark.objects.filter(topic=OuterRef("pk"), user_id=user.pk)),
        subscription=Subquery(
            Subscription.objects.filter(topic=OuterRef("pk"), user_id=user.pk).values("level")[:1]
        ),
    )


def visible_topics(user: Any) -> QuerySet[Topic]:
    if not is_member(user):
        return Topic.objects.none()
    topics = topic_queryset(user)
    return topics if user.is_staff else topics.filter(deleted_at__isnull=True)


def list_topics(
    user: Any,
    *,
    category: Category | int | str | None = None,
    tag: str | None = None,
    filter: str = "recent",
    author_id: int | None = None,
) -> QuerySet[Topic]:
    """Topics not deleted, most recent activity first (pinned ones included: pages that show
    them apart exclude them). `filter`: recent (all), unanswered (no reply), solved (a best
    answer), following / bookmarked (by `user`). Raises UnknownCategoryError and
    InvalidFilterError."""
    if filter not in TOPIC_FILTERS:
        raise InvalidFilterError
    topics = visible_topics(user).filter(deleted_at__isnull=True)
    if category is not None:
        topics = topics.filter(category_id=category_id_of(category))
    if tag:
        topics = topics.filter(tags__name=" ".join(tag.split()).lower())
    if author_id is not None:
        topics = topics.filter(author_id=author_id)
    if filter == "unanswered":
        topics = topics.filter(reply_count=0)
    elif filter == "solved":
        topics = topics.filter(best_answer__isnull=False)
    elif filter == "following":
        topics = topics.filter(
            Exists(
                Subscription.objects.filter(
                    topic=OuterRef("pk"), user_id=user.pk, level=Subscription.Level.FOLLOWING
                )
            )
        )
    elif filter == "bookmarked":
        topics = topics.filter(is_bookmarked=True)
    return topics.order_by("-last_activity_at", "-id")


def list_pinned_topics(
    user: Any, *, category: Category | int | str | None = None
) -> QuerySet[Topic]:
    topics = visible_topics(user).filter(deleted_at__isnull=True, is_pinned=True)
    if category is not None:
        topics = topics.filter(category_id=category_id_of(category))
    return topics.order_by("-last_activity_at", "-id")


def get_topic(user: Any, topic_id: int) -> Topic:
    """The topic with TopicOut's fields for `user`; TopicNotFoundError when they may not see
    it."""
    topic = visible_topics(user).filter(pk=topic_id).first()
    if topic is None:
        raise TopicNotFoundError
    return topic


async def aget_topic(user: Any, topic_id: int) -> Topic:
    topic = await visible_topics(user).filter(pk=topic_id).afirst()
    if topic is None:
        raise TopicNotFoundError
    return topic


def post_queryset(user: Any = None) -> QuerySet[Post]:
    """Posts with what PostOut shows loaded in the same query: `is_best_answer`, and
    `is_liked` for `user` (false without one, as broadcasts show it)."""
    posts = Post.objects.select_related("author__organization", "reply_to__author").annotate(
        is_best_answer=Case(
            When(topic__best_answer_id=F("id"), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
    if user is None or not user.is_authenticated:
        return posts.annotate(is_liked=Value(False))
    return posts.annotate(
        is_liked=Exists(PostLike.objects.filter(post=OuterRef("pk"), user_id=user.pk))
    )


def check_topic_visible(user: Any, topic_id: int) -> None:
    if not visible_topics(user).filter(pk=topic_id).exists():
        raise TopicNotFoundError


def list_posts(
    user: Any,
    topic_id: int,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = POST_PAGE_SIZE,
) -> list[Post]:
    """Up to `limit` posts of a topic in ascending id, deleted ones included (PostOut shows them
    as deleted). `after`: the first ones newer than that id (catching up); `before`: the newest
    ones older than that id (scrolling back); neither: from the first post. Raises
    TopicNotFoundError when `user` may not see the topic."""
    check_topic_visible(user, topic_id)
    posts = post_queryset(user).filter(topic_id=topic_id)
    limit = max(limit, 0)
    if before is not None:
        newest_first = posts.filter(id__lt=before).order_by("-id")[:limit]
        return list(reversed(newest_first))
    if after is not None:
        posts = posts.filter(id__gt=after)
    return list(posts.order_by("id")[:limit])


def get_post(user: Any, post_id: int) -> Post:
    """A post of a topic `user` may see (deleted posts too, in their deleted form)."""
    if not is_member(user):
        raise PostNotFoundError
    posts = post_queryset(user).filter(pk=post_id)
    if not user.is_staff:
        posts = posts.filter(topic__deleted_at__isnull=True)
    post = posts.first()
    if post is None:
        raise PostNotFoundError
    return post
