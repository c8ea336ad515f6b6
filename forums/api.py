"""The JSON API of the forums (/api/v1/forums).

Thin operations: parse, then one `sync_to_async` hop to a service, which answers the object as
the caller sees it (read back through the selectors); reads evaluate inside one hop. Deleting a
topic or a post answers 204: open pages learn of it from the `post_deleted` event, and the post
list shows a deleted post in its place, without its content.
"""

from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import model_validator

from accounts.authentication import api_auth
from accounts.models import User
from forums import selectors, services
from forums.models import Category, Post, Topic
from forums.schemas import (
    BestAnswerIn,
    CategoryOut,
    LockIn,
    MoveIn,
    PinIn,
    PostIn,
    PostOut,
    PostPatch,
    SubscriptionIn,
    SubscriptionOut,
    TopicBookmarkOut,
    TopicIn,
    TopicListItemOut,
    TopicOut,
    TopicPatch,
)
from p2p_sandbox.pagination import OneHopPagination
from p2p_sandbox.schemas import LikeOut, ObjectId

router = Router(tags=["forums"], auth=api_auth)

MAX_POST_PAGE_SIZE = 100


# Schemas only this API uses


class TopicFilters(Schema):
    category: str | None = Field(None, description="A category's slug or id.")
    tag: str | None = None
    filter: Literal["recent", "unanswered", "solved", "following", "bookmarked"] = "recent"
    author: int | None = Field(None, description="Only the topics this user opened.")


class PostsQuery(Schema):
    """Oldest first. Neither `after` nor `before`: from the first post; `after`: the posts newer
    than that id (catching up); `before`: the newest posts older than that id (scrolling back)."""

    after: int | None = Field(None, ge=0)
    before: int | None = Field(None, ge=1)
    limit: int = Field(selectors.POST_PAGE_SIZE, ge=1, le=MAX_POST_PAGE_SIZE)

    @model_validator(mode="after")
    def one_direction(self) -> "PostsQuery":
        if self.before is not None and self.after is not None:
            raise ValueError("Give before or after, not both.")
        return self


class PostPageOut(Schema):
    posts: list[PostOut]
    has_more: bool


def view_topic(user: User, topic_id: int) -> Topic:
    services.record_view(actor=user, topic_id=topic_id)
    return selectors.get_topic(user, topic_id)


def posts_page(user: User, topic_id: int, query: PostsQuery) -> dict[str, Any]:
    # One more than asked tells whether more remain in the direction of reading.
    posts = selectors.list_posts(
        user, topic_id, after=query.after, before=query.before, limit=query.limit + 1
    )
    has_more = len(posts) > query.limit
    if has_more:
        posts = posts[1:] if query.before is not None else posts[: query.limit]
    return {"posts": posts, "has_more": has_more}


# Categories


@router.get("/categories", response=list[CategoryOut])
async def list_categories(request: HttpRequest) -> list[Category]:
    """Every category in its order, with its counts: a short list, not paginated."""
    return await sync_to_async(selectors.list_categories)()


# Topics


@router.get("/topics", response=list[TopicListItemOut])
@paginate(OneHopPagination)
async def list_topics(request: HttpRequest, filters: Query[TopicFilters]) -> QuerySet[Topic]:
    """Latest activity first, pinned topics among the others (`is_pinned` marks them)."""
    category = None
    if filters.category is not None:
        category = await sync_to_async(selectors.get_category)(filters.category)
    return selectors.list_topics(
        request.auth,
        category=category,
        tag=filters.tag,
        filter=filters.filter,
        author_id=filters.author,
    )


@router.post("/topics", response={201: TopicOut})
async def create_topic(request: HttpRequest, payload: TopicIn) -> Status:
    topic = await sync_to_async(services.create_topic)(actor=request.auth, **payload.model_dump())
    return Status(201, topic)


@router.get("/topics/{topic_id}", response=TopicOut)
async def get_topic(request: HttpRequest, topic_id: ObjectId) -> Topic:
    """Counts the caller's view: a user counts once."""
    return await sync_to_async(view_topic)(request.auth, topic_id)


@router.patch("/topics/{topic_id}", response=TopicOut)
async def update_topic(request: HttpRequest, topic_id: ObjectId, payload: TopicPatch) -> Topic:
    """Changes only the fields given. The author or staff."""
    return await sync_to_async(services.update_topic)(
        actor=request.auth, topic_id=topic_id, **payload.model_dump(exclude_unset=True)
    )


@router.delete("/topics/{topic_id}", response={204: None})
async def delete_topic(request: HttpRequest, topic_id: ObjectId) -> Status:
    """The author, an admin of the author's organization, or staff."""
    await sync_to_async(services.delete_topic)(actor=request.auth, topic_id=topic_id)
    return Status(204, None)


@router.get("/topics/{topic_id}/posts", response=PostPageOut)
async def list_posts(
    request: HttpRequest, topic_id: ObjectId, query: Query[PostsQuery]
) -> dict[str, Any]:
    return await sync_to_async(posts_page)(request.auth, topic_id, query)


@router.post("/topics/{topic_id}/posts", response={201: PostOut})
async def create_post(request: HttpRequest, topic_id: ObjectId, payload: PostIn) -> Status:
    post = await sync_to_async(services.create_post)(
        actor=request.auth,
        topic_id=topic_id,
        content=payload.content,
        reply_to_id=payload.reply_to,
    )
    return Status(201, post)


@router.post("/topics/{topic_id}/like", response=LikeOut)
async def like_topic(request: HttpRequest, topic_id: ObjectId) -> dict[str, Any]:
    """Likes the topic, or takes the caller's like back."""
    liked, like_count = await sync_to_async(services.toggle_topic_like)(
        actor=request.auth, topic_id=topic_id
    )
    return {"liked": liked, "like_count": like_count}


@router.post("/topics/{topic_id}/bookmark", response=TopicBookmarkOut)
async def bookmark_topic(request: HttpRequest, topic_id: ObjectId) -> dict[str, bool]:
    """Bookmarks the topic, or removes the caller's bookmark."""
    bookmarked = await sync_to_async(services.toggle_bookmark)(
        actor=request.auth, topic_id=topic_id
    )
    return {"bookmarked": bookmarked}


@router.post("/topics/{topic_id}/follow", response=SubscriptionOut)
async def follow_topic(
    request: HttpRequest, topic_id: ObjectId, payload: SubscriptionIn
) -> dict[str, str | None]:
    """`following`, `muted`, or null to remove the caller's choice."""
    level = await sync_to_async(services.set_subscription)(
        actor=request.auth, topic_id=topic_id, level=payload.level
    )
    return {"subscription": level}


@router.post("/topics/{topic_id}/best-answer", response=TopicOut)
async def mark_best_answer(
    request: HttpRequest, topic_id: ObjectId, payload: BestAnswerIn
) -> Topic:
    """The topic's author or staff; `post_id: null` clears it."""
    return await sync_to_async(services.mark_best_answer)(
        actor=request.auth, topic_id=topic_id, post_id=payload.post_id
    )


@router.post("/topics/{topic_id}/pin", response=TopicOut)
async def pin_topic(request: HttpRequest, topic_id: ObjectId, payload: PinIn) -> Topic:
    """Staff only."""
    return await sync_to_async(services.set_pinned)(
        actor=request.auth, topic_id=topic_id, pinned=payload.pinned
    )


@router.post("/topics/{topic_id}/lock", response=TopicOut)
async def lock_topic(request: HttpRequest, topic_id: ObjectId, payload: LockIn) -> Topic:
    """Staff only. A locked topic accepts no posts."""
    return await sync_to_async(services.set_locked)(
        actor=request.auth, topic_id=topic_id, locked=payload.locked
    )


@router.post("/topics/{topic_id}/move", response=TopicOut)
async def move_topic(request: HttpRequest, topic_id: ObjectId, payload: MoveIn) -> Topic:
    """Staff only: into another category, given by slug or id."""
    return await sync_to_async(services.move_topic)(
        actor=request.auth, topic_id=topic_id, category=payload.category
    )


# Posts


@router.patch("/posts/{post_id}", response=PostOut)
async def update_post(request: HttpRequest, post_id: ObjectId, payload: PostPatch) -> Post:
    """The author or staff."""
    return await sync_to_async(services.update_post)(
        actor=request.auth, post_id=post_id, content=payload.content
    )


@router.delete("/posts/{post_id}", response={204: None})
async def delete_post(request: HttpRequest, post_id: ObjectId) -> Status:
    """Soft delete: the post keeps its place as "post deleted". The author, an admin of the
    author's organization, or staff."""
    await sync_to_async(services.delete_post)(actor=request.auth, post_id=post_id)
    return Status(204, None)


@router.post("/posts/{post_id}/like", response=LikeOut)
async def like_post(request: HttpRequest, post_id: ObjectId) -> dict[str, Any]:
    """Likes the post, or takes the caller's like back."""
    liked, like_count = await sync_to_async(services.toggle_post_like)(
        actor=request.auth, post_id=post_id
    )
    return {"liked": liked, "like_count": like_count}
