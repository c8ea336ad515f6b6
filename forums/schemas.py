"""Input and output schemas of the forums.

Input schemas only check types: lengths, tags and categories are checked by the services, which
answer the forums' own error codes (invalid_title, invalid_tags, ...). The limits are still
documented in the OpenAPI schema (`documented_limit`), so a client sees them before it sends.

Per-viewer fields (`is_liked`, `is_bookmarked`, `subscription`) come from the selectors'
annotations; an object without them (a broadcast payload) renders them false / null.
"""

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from accounts.models import User
from forums.models import (
    MAX_CONTENT_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE_LENGTH,
    MIN_TITLE_LENGTH,
    Category,
    Post,
    Topic,
)
from messaging.schemas import PersonBriefOut
from p2p_sandbox.markdown import to_plain_text
from p2p_sandbox.schemas import InputSchema

EXCERPT_LENGTH = 160

SubscriptionLevel = Literal["following", "muted"]


def documented_limit(default: object = ..., **limits: int) -> object:
    """A field whose limits (JSON Schema keywords: maxLength, maxItems, ...) the OpenAPI schema
    shows while the service enforces them with the forums' own error codes."""
    return Field(default, json_schema_extra=limits)


TITLE = {"minLength": MIN_TITLE_LENGTH, "maxLength": MAX_TITLE_LENGTH}
TAGS = {"maxItems": MAX_TAGS, "items": {"type": "string", "maxLength": MAX_TAG_LENGTH}}


def person_name(user: User | None) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.email.split("@")[0]


def excerpt(html: str, length: int = EXCERPT_LENGTH) -> str:
    text = to_plain_text(html)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


class CategoryBriefOut(Schema):
    id: int
    name: str
    slug: str


class CategoryOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    topic_count: int
    post_count: int

    @staticmethod
    def resolve_topic_count(category: Category) -> int:
        return getattr(category, "topic_count", 0) or 0

    @staticmethod
    def resolve_post_count(category: Category) -> int:
        return getattr(category, "post_count", 0) or 0


class TopicIn(InputSchema):
    title: str = documented_limit(**TITLE)
    category: int | str
    content: str = documented_limit("", maxLength=MAX_CONTENT_LENGTH)
    tags: list[str] = documented_limit([], **TAGS)


class TopicPatch(InputSchema):
    """Only the fields given change."""

    title: str | None = documented_limit(None, **TITLE)
    content: str | None = documented_limit(None, maxLength=MAX_CONTENT_LENGTH)
    tags: list[str] | None = documented_limit(None, **TAGS)


class TopicResolvers(Schema):
    """Resolvers shared by the topic outputs (a topic from the selectors: category, author and
    organization loaded, tags prefetched)."""

    @staticmethod
    def resolve_tags(topic: Topic) -> list[str]:
        return [tag.name for tag in topic.tags.all()]

    @staticmethod
    def resolve_is_liked(topic: Topic) -> bool:
        return bool(getattr(topic, "is_liked", False))

    @staticmethod
    def resolve_is_bookmarked(topic: Topic) -> bool:
        return bool(getattr(topic, "is_bookmarked", False))


class TopicOut(TopicResolvers):
    id: int
    title: str
    category: CategoryBriefOut
    content: str
    content_html: str
    tags: list[str]
    author: PersonBriefOut | None
    created_at: datetime
    edited_at: datetime | None
    last_activity_at: datetime
    reply_count: int
    view_count: int
    like_count: int
    is_pinned: bool
    is_locked: bool
    is_solved: bool
    best_answer_id: int | None
    is_liked: bool
    is_bookmarked: bool
    subscription: SubscriptionLevel | None
    is_deleted: bool

    @staticmethod
    def resolve_subscription(topic: Topic) -> str | None:
        return getattr(topic, "subscription", None)


class TopicListItemOut(TopicResolvers):
    """A topic in a list: no opening text, an excerpt of it instead."""

    id: int
    title: str
    category: CategoryBriefOut
    excerpt: str
    tags: list[str]
    author: PersonBriefOut | None
    created_at: datetime
    last_activity_at: datetime
    last_post_author_name: str | None
    reply_count: int
    view_count: int
    like_count: int
    is_pinned: bool
    is_locked: bool
    is_solved: bool
    is_liked: bool
    is_bookmarked: bool
    is_deleted: bool

    @staticmethod
    def resolve_excerpt(topic: Topic) -> str:
        return excerpt(topic.content_html)

    @staticmethod
    def resolve_last_post_author_name(topic: Topic) -> str | None:
        return person_name(topic.last_post.author) if topic.last_post_id else None


class PostIn(InputSchema):
    content: str = documented_limit(minLength=1, maxLength=MAX_CONTENT_LENGTH)
    reply_to: int | None = None


class PostPatch(InputSchema):
    content: str = documented_limit(minLength=1, maxLength=MAX_CONTENT_LENGTH)


class ReplyToOut(Schema):
    """The post replied to, for the quote above a reply (empty excerpt once it is deleted)."""

    id: int
    author_name: str | None
    excerpt: str


class PostOut(Schema):
    """A reply. A deleted post keeps its place with empty content and `is_deleted`."""

    id: int
    topic_id: int
    author: PersonBriefOut | None
    content: str
    content_html: str
    reply_to: ReplyToOut | None
    created_at: datetime
    edited_at: datetime | None
    is_deleted: bool
    like_count: int
    is_liked: bool
    is_best_answer: bool

    @staticmethod
    def resolve_content(post: Post) -> str:
        return "" if post.is_deleted else post.content

    @staticmethod
    def resolve_content_html(post: Post) -> str:
        return "" if post.is_deleted else post.content_html

    @staticmethod
    def resolve_reply_to(post: Post) -> dict | None:
        if post.reply_to_id is None:
            return None
        quoted = post.reply_to
        return {
            "id": quoted.pk,
            "author_name": person_name(quoted.author),
            "excerpt": "" if quoted.is_deleted else excerpt(quoted.content_html),
        }

    @staticmethod
    def resolve_is_liked(post: Post) -> bool:
        return bool(getattr(post, "is_liked", False))

    @staticmethod
    def resolve_is_best_answer(post: Post) -> bool:
        return bool(getattr(post, "is_best_answer", False))


class BestAnswerIn(InputSchema):
    """`post_id: null` clears the best answer."""

    post_id: int | None


class SubscriptionIn(InputSchema):
    """`level: null` removes the caller's choice (they are neither following nor muting)."""

    level: SubscriptionLevel | None


class SubscriptionOut(Schema):
    subscription: SubscriptionLevel | None


class PinIn(InputSchema):
    pinned: bool


class LockIn(InputSchema):
    locked: bool


class MoveIn(InputSchema):
    category: int | str


class TopicBookmarkOut(Schema):
    bookmarked: bool
