"""Every write of the forums. Pages, the API and the live-thread socket all come here, so a post
takes one path whichever way it was sent.

Counters (reply_count, like_count, view_count) change only with F() expressions, and the writes
that move `last_post` hold the topic's row lock, so they stay exact under concurrency.
"""

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from forums import events, presence, selectors
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
)
from forums.models import (
    MAX_CONTENT_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
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
from forums.schemas import person_name
from messaging.models import Notification
from messaging.services import notify
from p2p_sandbox.markdown import render_markdown
from p2p_sandbox.queueing import delay_safely

FORUM_REPLY = "forum_reply"
TAG_PATTERN = re.compile(r"^[^\W_]+(?:[ -]+[^\W_]+)*$")


# Input


def clean_title(title: object) -> str:
    if not isinstance(title, str):
        raise InvalidTitleError
    title = " ".join(title.split())
    if not MIN_TITLE_LENGTH <= len(title) <= MAX_TITLE_LENGTH:
        raise InvalidTitleError
    return title


def clean_content(content: object, *, required: bool) -> str:
    """Markdown of a post (`required`: 1 to MAX_CONTENT_LENGTH characters) or of a topic's
    opening text (may be empty)."""
    if not isinstance(content, str):
        raise InvalidContentError
    content = content.strip()
    if len(content) > MAX_CONTENT_LENGTH or (required and not content):
        message = (
            None if required else f"The opening text has at most {MAX_CONTENT_LENGTH} characters."
        )
        raise InvalidContentError(message)
    return content


def clean_tags(tags: object) -> list[str]:
    """Tags lower-cased with their spaces collapsed, each once, in the order given."""
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidTagsError
    names: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidTagsError
        name = " ".join(tag.split()).lower()
        if not 1 <= len(name) <= MAX_TAG_LENGTH or not TAG_PATTERN.match(name):
            raise InvalidTagsError
        if name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise InvalidTagsError
    return names


def get_or_create_tags(names: list[str]) -> list[Tag]:
    if not names:
        return []
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=names))


def render(content: str) -> str:
    return render_markdown(content) if content else ""


# Permissions


def check_is_member(user: Any) -> None:
    if not selectors.is_member(user):
        raise NotAllowedError("Only signed-in members with a verified email take part in forums.")


def check_can_moderate(user: Any) -> None:
    check_is_member(user)
    if not user.is_staff:
        raise NotAllowedError("Only staff can pin, lock and move topics.")


def check_can_view_topic(user: Any, topic: Topic) -> None:
    check_is_member(user)
    if topic.is_deleted and not user.is_staff:
        raise TopicNotFoundError


def check_can_edit(user: Any, topic_or_post: Topic | Post) -> None:
    """Authors edit their own topics and posts; staff edit any."""
    check_is_member(user)
    if user.is_staff:
        return
    if topic_or_post.author_id != user.pk:
        what = "topic" if isinstance(topic_or_post, Topic) else "post"
        raise NotAllowedError(f"Only the author or staff can edit this {what}.")


def check_can_delete(user: Any, topic_or_post: Topic | Post) -> None:
    """The author, an admin of the author's organization (for a topic: the organization it was
    opened from), or staff."""
    check_is_member(user)
    if user.is_staff or topic_or_post.author_id == user.pk:
        return
    if isinstance(topic_or_post, Topic):
        organization_id = topic_or_post.organization_id
    else:
        author = topic_or_post.author
        organization_id = author.organization_id if author is not None else None
    if (
        user.is_organization_admin
        and organization_id is not None
        and organization_id == user.organization_id
    ):
        return
    what = "topic" if isinstance(topic_or_post, Topic) else "post"
    raise NotAllowedError(
        f"Only the author, their organization's admin or staff can delete this {what}."
    )


def lock_topic(actor: Any, topic_id: int) -> Topic:
    """The topic's row, locked until commit against other writes that move its counters or its
    last post (likes, bookmarks and follows may still reference it)."""
    topic = (
        Topic.objects.select_for_update(no_key=True, of=("self",))
        .select_related("category")
        .filter(pk=topic_id)
        .first()
    )
    if topic is None:
        raise TopicNotFoundError
    check_can_view_topic(actor, topic)
    return topic


def get_live_topic(actor: Any, topic_id: int) -> Topic:
    """A topic that is not deleted (even for staff: nobody writes into a deleted topic)."""
    check_is_member(actor)
    topic = Topic.objects.filter(pk=topic_id, deleted_at__isnull=True).first()
    if topic is None:
        raise TopicNotFoundError
    return topic


def topic_url(topic_id: int) -> str:
    return reverse("forums:topic-detail", args=[topic_id])


def follow(topic_id: int, user_id: int) -> None:
    """Follow unless the user already chose (following or muted)."""
    Subscription.objects.bulk_create(
        [Subscription(topic_id=topic_id, user_id=user_id, level=Subscription.Level.FOLLOWING)],
        ignore_conflicts=True,
    )


# Topics


def create_topic(
    *,
    actor: User,
    category: Category | int | str,
    title: str,
    content: str = "",
    tags: Iterable[str] = (),
) -> Topic:
    check_is_member(actor)
    title = clean_title(title)
    content = clean_content(content, required=False)
    tag_names = clean_tags(tags)
    category_id = selectors.category_id_of(category)
    with transaction.atomic():
        now = timezone.now()
        topic = Topic.objects.create(
            category_id=category_id,
            title=title,
            content=content,
            content_html=render(content),
            author=actor,
            organization_id=actor.organization_id,
            created_at=now,
            last_activity_at=now,
        )
        topic.tags.set(get_or_create_tags(tag_names))
        follow(topic.pk, actor.pk)
        events.publish_topic_created(selectors.topic_queryset().get(pk=topic.pk))
    return selectors.get_topic(actor, topic.pk)


def update_topic(
    *,
    actor: User,
    topic_id: int,
    title: str | None = None,
    content: str | None = None,
    tags: Iterable[str] | None = None,
) -> Topic:
    """Change the fields given. Nothing given, or nothing different: nothing changes."""
    check_is_member(actor)
    with transaction.atomic():
        topic = lock_topic(actor, topic_id)
        if topic.is_deleted:
            raise TopicNotFoundError
        check_can_edit(actor, topic)
        changed: list[str] = []
        if title is not None:
            title = clean_title(title)
            if title != topic.title:
                topic.title = title
                changed.append("title")
        if content is not None:
            content = clean_content(content, required=False)
            if content != topic.content:
                topic.content = content
                topic.content_html = render(content)
                changed += ["content", "content_html"]
        tags_changed = False
        if tags is not None:
            tag_names = clean_tags(tags)
            if sorted(tag_names) != sorted(topic.tags.values_list("name", flat=True)):
                topic.tags.set(get_or_create_tags(tag_names))
                tags_changed = True
        if changed or tags_changed:
            topic.edited_at = timezone.now()
            topic.save(update_fields=[*changed, "edited_at"])
        if "title" in changed:
            events.publish_topic_updated(topic)
    return selectors.get_topic(actor, topic.pk)


def delete_topic(*, actor: User, topic_id: int) -> Topic:
    """Soft delete: the topic leaves lists and pages (staff still see it). Idempotent."""
    check_is_member(actor)
    with transaction.atomic():
        topic = lock_topic(actor, topic_id)
        check_can_delete(actor, topic)
        if topic.is_deleted:
            return topic
        topic.deleted_at = timezone.now()
        topic.deleted_by = actor
        topic.save(update_fields=["deleted_at", "deleted_by"])
        events.publish_topic_deleted(topic.pk)
    return topic


def set_pinned(*, actor: User, topic_id: int, pinned: bool) -> Topic:
    return moderate_topic(actor, topic_id, is_pinned=bool(pinned))


def set_locked(*, actor: User, topic_id: int, locked: bool) -> Topic:
    return moderate_topic(actor, topic_id, is_locked=bool(locked))


def move_topic(*, actor: User, topic_id: int, category: Category | int | str) -> Topic:
    check_can_moderate(actor)
    return moderate_topic(actor, topic_id, category_id=selectors.category_id_of(category))


def moderate_topic(actor: User, topic_id: int, **values: Any) -> Topic:
    check_can_moderate(actor)
    with transaction.atomic():
        topic = lock_topic(actor, topic_id)
        changed = [name for name, value in values.items() if getattr(topic, name) != value]
        if changed:
            for name in changed:
                setattr(topic, name, values[name])
            topic.save(update_fields=changed)
            topic = Topic.objects.select_related("category").get(pk=topic.pk)
            events.publish_topic_updated(topic)
    return selectors.get_topic(actor, topic_id)


def record_view(*, actor: User, topic_id: int) -> bool:
    """Count the actor's first view of a topic (a user counts once). True on that first view."""
    check_is_member(actor)
    topic = Topic.objects.filter(pk=topic_id).first()
    if topic is None:
        raise TopicNotFoundError
    check_can_view_topic(actor, topic)
    if TopicView.objects.filter(topic=topic, user=actor).exists():
        return False
    try:
        with transaction.atomic():
            TopicView.objects.create(topic=topic, user=actor)
            Topic.objects.filter(pk=topic.pk).update(view_count=F("view_count") + 1)
    except IntegrityError:
        # The same user's other request counted this view a moment ago.
        return False
    return True


# Posts


def create_post(
    *, actor: User, topic_id: int, content: str, reply_to_id: int | None = None
) -> Post:
    """Store a reply (see store_post) and, once it is committed, notify the topic's followers
    who are not viewing it."""
    post = store_post(actor=actor, topic_id=topic_id, content=content, reply_to_id=reply_to_id)
    transaction.on_commit(partial(queue_reply_notifications, post.pk), robust=True)
    return post


def store_post(*, actor: User, topic_id: int, content: str, reply_to_id: int | None = None) -> Post:
    """Store a reply, count it, make the author follow the topic (unless they muted it) and
    publish `post_created`, without notifying anyone (demo data, imports)."""
    check_is_member(actor)
    content = clean_content(content, required=True)
    with transaction.atomic():
        topic = lock_topic(actor, topic_id)
        if topic.is_deleted:
            raise TopicNotFoundError
        if topic.is_locked:
            raise TopicLockedError
        if (
            reply_to_id is not None
            and not Post.objects.filter(
                pk=reply_to_id, topic=topic, deleted_at__isnull=True
            ).exists()
        ):
            raise InvalidReplyToError
        now = timezone.now()
        post = Post.objects.create(
            topic=topic,
            author=actor,
            content=content,
            content_html=render_markdown(content),
            reply_to_id=reply_to_id,
            created_at=now,
        )
        Topic.objects.filter(pk=topic.pk).update(
            reply_count=F("reply_count") + 1, last_activity_at=now, last_post=post
        )
        follow(topic.pk, actor.pk)
        events.publish_post_created(selectors.post_queryset().get(pk=post.pk))
    return selectors.post_queryset(actor).get(pk=post.pk)


def queue_reply_notifications(post_id: int) -> None:
    """Notify the followers in a worker; without a broker, here and now."""
    from forums.tasks import notify_reply_followers_task

    if not delay_safely(notify_reply_followers_task, post_id):
        notify_reply_followers(post_id)


def notify_reply_followers(post_id: int) -> int:
    """One `forum_reply` notification for each follower of the post's topic, except its author
    and those viewing the topic now. Safe to run twice: those already notified of this post
    are skipped. Answers how many were notified."""
    post = (
        Post.objects.select_related("topic", "author")
        .filter(pk=post_id, deleted_at__isnull=True, topic__deleted_at__isnull=True)
        .first()
    )
    if post is None or post.author is None:
        return 0
    topic, actor = post.topic, post.author
    already = Notification.objects.filter(
        type=FORUM_REPLY,
        target_type=ContentType.objects.get_for_model(Post),
        target_id=post.pk,
    ).values("recipient_id")
    followers = (
        User.objects.filter(
            forum_subscriptions__topic=topic,
            forum_subscriptions__level=Subscription.Level.FOLLOWING,
            is_active=True,
        )
        .exclude(pk=actor.pk)
        .exclude(pk__in=presence.get_viewer_ids(topic.pk))
        .exclude(pk__in=already)
        .order_by("pk")
    )
    link = f"{topic_url(topic.pk)}#post-{post.pk}"
    text = f"{person_name(actor)} replied to “{topic.title}”"
    count = 0
    # Each in its own transaction: a follower's stream stays locked only for their own.
    for follower in followers:
        notified = notify(
            recipient=follower, type=FORUM_REPLY, actor=actor, target=post, text=text, link=link
        )
        count += notified is not None
    return count


def lock_post(actor: User, post_id: int) -> tuple[Topic, Post]:
    """The post and its topic, both locked (topic first, as create_post locks them)."""
    check_is_member(actor)
    topic_id = Post.objects.filter(pk=post_id).values_list("topic_id", flat=True).first()
    if topic_id is None:
        raise PostNotFoundError
    try:
        topic = lock_topic(actor, topic_id)
    except TopicNotFoundError:
        raise PostNotFoundError from None
    post = (
        Post.objects.select_for_update(no_key=True, of=("self",))
        .select_related("author")
        .get(pk=post_id)
    )
    return topic, post


def update_post(*, actor: User, post_id: int, content: str) -> Post:
    check_is_member(actor)
    content = clean_content(content, required=True)
    with transaction.atomic():
        topic, post = lock_post(actor, post_id)
        if post.is_deleted or topic.is_deleted:
            raise PostNotFoundError
        check_can_edit(actor, post)
        if content != post.content:
            post.content = content
            post.content_html = render_markdown(content)
            post.edited_at = timezone.now()
            post.save(update_fields=["content", "content_html", "edited_at"])
            events.publish_post_updated(selectors.post_queryset().get(pk=post.pk))
    return selectors.post_queryset(actor).get(pk=post.pk)


def delete_post(*, actor: User, post_id: int) -> Post:
    """Soft delete: the post keeps its place as "post deleted", its content cleared; the topic
    counts one reply less and loses it as best answer or last post. Idempotent."""
    with transaction.atomic():
        topic, post = lock_post(actor, post_id)
        check_can_delete(actor, post)
        if not post.is_deleted:
            post.deleted_at = timezone.now()
            post.deleted_by = actor
            post.content = ""
            post.content_html = ""
            post.save(update_fields=["deleted_at", "deleted_by", "content", "content_html"])
            changes: dict[str, Any] = {"reply_count": F("reply_count") - 1}
            if topic.best_answer_id == post.pk:
                changes["best_answer"] = None
            if topic.last_post_id == post.pk:
                changes["last_post"] = (
                    Post.objects.filter(topic=topic, deleted_at__isnull=True)
                    .order_by("-id")
                    .first()
                )
            Topic.objects.filter(pk=topic.pk).update(**changes)
            events.publish_post_deleted(selectors.post_queryset().get(pk=post.pk))
            if "best_answer" in changes:
                events.publish_best_answer(topic_id=topic.pk, post_id=None)
    return selectors.post_queryset(actor).get(pk=post.pk)


def mark_best_answer(*, actor: User, topic_id: int, post_id: int | None) -> Topic:
    """The topic's author or staff choose its best answer (None clears it)."""
    check_is_member(actor)
    with transaction.atomic():
        topic = lock_topic(actor, topic_id)
        if topic.is_deleted:
            raise TopicNotFoundError
        if not (actor.is_staff or topic.author_id == actor.pk):
            raise NotAllowedError("Only the topic's author or staff can choose the best answer.")
        if (
            post_id is not None
            and not Post.objects.filter(pk=post_id, topic=topic, deleted_at__isnull=True).exists()
        ):
            raise NotAPostOfTopicError
        if topic.best_answer_id != post_id:
            Topic.objects.filter(pk=topic.pk).update(best_answer_id=post_id)
            events.publish_best_answer(topic_id=topic.pk, post_id=post_id)
    return selectors.get_topic(actor, topic_id)


# Likes, bookmarks, follows


def toggle_topic_like(*, actor: User, topic_id: int) -> tuple[bool, int]:
    """Like the topic, or take the like back. Answers (liked now, like_count)."""
    topic = get_live_topic(actor, topic_id)
    with transaction.atomic():
        change = toggle_row(TopicLike, topic=topic, user=actor)
        if change:
            Topic.objects.filter(pk=topic.pk).update(like_count=F("like_count") + change)
        count = Topic.objects.values_list("like_count", flat=True).get(pk=topic.pk)
    return change >= 0, count


def toggle_post_like(*, actor: User, post_id: int) -> tuple[bool, int]:
    """Like a post that is not deleted, or take the like back; publishes `post_liked`."""
    check_is_member(actor)
    post = Post.objects.filter(
        pk=post_id, deleted_at__isnull=True, topic__deleted_at__isnull=True
    ).first()
    if post is None:
        raise PostNotFoundError
    with transaction.atomic():
        change = toggle_row(PostLike, post=post, user=actor)
        if change:
            Post.objects.filter(pk=post.pk).update(like_count=F("like_count") + change)
        count = Post.objects.values_list("like_count", flat=True).get(pk=post.pk)
        events.publish_post_liked(topic_id=post.topic_id, post_id=post.pk, like_count=count)
    return change >= 0, count


def toggle_row(model: type[TopicLike | PostLike | Bookmark], **fields: Any) -> int:
    """Delete the row if it exists (-1), else create it (1). Run inside a transaction.

    When the same user's other request created the row a moment ago, the unique constraint
    keeps that one and nothing changes here (0: the row exists)."""
    deleted, _ = model.objects.filter(**fields).delete()
    if deleted:
        return -1
    try:
        with transaction.atomic():
            model.objects.create(**fields)
    except IntegrityError:
        return 0
    return 1


def toggle_bookmark(*, actor: User, topic_id: int) -> bool:
    """Bookmark the topic, or remove the bookmark. True when it is bookmarked now."""
    topic = get_live_topic(actor, topic_id)
    with transaction.atomic():
        return toggle_row(Bookmark, topic=topic, user=actor) >= 0


def set_subscription(*, actor: User, topic_id: int, level: str | None) -> str | None:
    """Follow ("following"), mute ("muted"), or remove the choice (None)."""
    if level is not None and level not in Subscription.Level.values:
        raise InvalidSubscriptionLevelError
    topic = get_live_topic(actor, topic_id)
    with transaction.atomic():
        if level is None:
            Subscription.objects.filter(topic=topic, user=actor).delete()
        else:
            Subscription.objects.update_or_create(
                topic=topic, user=actor, defaults={"level": level}
            )
    return level
