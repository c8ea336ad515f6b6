"""The JSON API of direct messages (/api/v1/messages) and notifications (/api/v1/notifications).

Thin operations: parse, one `sync_to_async` hop to a service for a write, a-methods (or one hop
to a selector that answers evaluated data) for a read, then a schema.
"""

from typing import Annotated, Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StringConstraints, model_validator

from accounts.authentication import api_auth
from messaging import selectors, services
from messaging.models import Message, Notification
from messaging.schemas import (
    BlockIn,
    BlockOut,
    ConversationOut,
    GroupIn,
    MessageIn,
    MessageOut,
    MessagePageOut,
    MessagePatch,
    NotificationOut,
    NotificationsReadIn,
    NotificationsReadOut,
    ParticipationPatch,
    PreferenceOut,
    PreferencePatch,
    ReadIn,
    ReadOut,
    UnreadCountsOut,
)
from p2p_sandbox.pagination import BoundedPagination, page_bounds
from p2p_sandbox.schemas import ObjectId

messages_router = Router(tags=["messages"], auth=api_auth)
notifications_router = Router(tags=["notifications"], auth=api_auth)

MAX_MESSAGE_PAGE_SIZE = 100


# Schemas only this API uses


class ConversationFilters(Schema):
    archived: bool = False


class MessagesQuery(Schema):
    """`before` scrolls back, `after` catches up; without either, the newest page."""

    before: int | None = None
    after: int | None = None
    limit: int = Field(selectors.MESSAGE_PAGE_SIZE, ge=1, le=MAX_MESSAGE_PAGE_SIZE)

    @model_validator(mode="after")
    def one_direction(self) -> "MessagesQuery":
        if self.before is not None and self.after is not None:
            raise ValueError("Give before or after, not both.")
        return self


class SearchQuery(Schema):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class NotificationFilters(Schema):
    unread: bool = False


class DescribedConversationPagination(BoundedPagination):
    """Page numbers over `selectors.list_conversations`, each page described as ConversationOut
    dicts (participants, last message) in the same hop."""

    async def apaginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        offset, page_size = page_bounds(pagination.page, pagination.page_size)

        def described_page() -> dict[str, Any]:
            participations = list(queryset[offset : offset + page_size])
            return {
                "items": selectors.describe_conversations(participations),
                "count": queryset.count(),
            }

        return await sync_to_async(described_page)()


async def aget_unread_counts(user_id: int) -> dict[str, int]:
    return await sync_to_async(selectors.get_unread_counts)(user_id)


async def aget_conversation(user_id: int, conversation_id: int) -> dict[str, Any]:
    return await sync_to_async(selectors.get_conversation)(user_id, conversation_id)


# Messages


@messages_router.post("", response={200: MessageOut, 201: MessageOut})
async def send_message(request: HttpRequest, payload: MessageIn) -> Status:
    """201 with a new message; 200 with the stored one when its `client_msg_id` was sent
    before."""
    message, created = await sync_to_async(services.send_direct_message)(
        actor=request.auth, **payload.model_dump()
    )
    return Status(201 if created else 200, message)


@messages_router.get("/conversations", response=list[ConversationOut])
@paginate(DescribedConversationPagination)
async def list_conversations(request: HttpRequest, filters: Query[ConversationFilters]) -> QuerySet:
    return selectors.list_conversations(request.auth.pk, archived=filters.archived)


@messages_router.post("/conversations", response={201: ConversationOut})
async def create_group(request: HttpRequest, payload: GroupIn) -> Status:
    conversation = await sync_to_async(services.create_group_conversation)(
        actor=request.auth, title=payload.title, participant_ids=payload.participant_ids
    )
    return Status(201, await aget_conversation(request.auth.pk, conversation.pk))


@messages_router.get("/conversations/{conversation_id}", response=ConversationOut)
async def get_conversation(request: HttpRequest, conversation_id: ObjectId) -> dict[str, Any]:
    return await aget_conversation(request.auth.pk, conversation_id)


@messages_router.patch("/conversations/{conversation_id}", response=ConversationOut)
async def update_conversation(
    request: HttpRequest, conversation_id: ObjectId, payload: ParticipationPatch
) -> dict[str, Any]:
    await sync_to_async(services.update_participation)(
        actor=request.auth, conversation_id=conversation_id, **payload.model_dump()
    )
    return await aget_conversation(request.auth.pk, conversation_id)


@messages_router.get("/conversations/{conversation_id}/messages", response=MessagePageOut)
async def list_messages(
    request: HttpRequest, conversation_id: ObjectId, query: Query[MessagesQuery]
) -> dict[str, Any]:
    await selectors.aget_participant(request.auth.pk, conversation_id)
    messages = selectors.list_messages(
        user_id=request.auth.pk,
        conversation_id=conversation_id,
        before=query.before,
        after=query.after,
    )
    # One more than asked tells whether more remain.
    page: list[Message] = [message async for message in messages[: query.limit + 1]]
    has_more = len(page) > query.limit
    page = page[: query.limit]
    if query.after is None:  # fetched newest first
        page.reverse()
    return {"messages": page, "has_more": has_more}


@messages_router.post("/conversations/{conversation_id}/read", response=ReadOut)
async def mark_read(request: HttpRequest, conversation_id: ObjectId, payload: ReadIn) -> dict:
    participant = await sync_to_async(services.mark_conversation_read)(
        actor=request.auth, conversation_id=conversation_id, message_id=payload.message_id
    )
    return {
        "last_read_message_id": participant.last_read_message_id,
        "unread": await aget_unread_counts(request.auth.pk),
    }


@messages_router.get("/unread", response=UnreadCountsOut)
async def get_unread(request: HttpRequest) -> dict[str, int]:
    return await aget_unread_counts(request.auth.pk)


@messages_router.get("/search", response=list[MessageOut])
@paginate
async def search_messages(request: HttpRequest, query: Query[SearchQuery]) -> QuerySet:
    return selectors.search_messages(request.auth.pk, query.q)


@messages_router.get("/blocks", response=list[BlockOut])
@paginate
async def list_blocks(request: HttpRequest) -> QuerySet:
    return selectors.list_blocks(request.auth.pk).order_by("-created_at", "-id")


@messages_router.post("/blocks", response={201: BlockOut})
async def block_user(request: HttpRequest, payload: BlockIn) -> Status:
    block = await sync_to_async(services.block_user)(actor=request.auth, user_id=payload.user_id)
    return Status(201, await selectors.list_blocks(request.auth.pk).aget(pk=block.pk))


@messages_router.delete("/blocks/{user_id}", response={204: None})
async def unblock_user(request: HttpRequest, user_id: ObjectId) -> Status:
    await sync_to_async(services.unblock_user)(actor=request.auth, user_id=user_id)
    return Status(204, None)


@messages_router.patch("/{message_id}", response=MessageOut)
async def edit_message(
    request: HttpRequest, message_id: ObjectId, payload: MessagePatch
) -> Message:
    return await sync_to_async(services.edit_message)(
        actor=request.auth, message_id=message_id, content=payload.content
    )


@messages_router.delete("/{message_id}", response=MessageOut)
async def delete_message(request: HttpRequest, message_id: ObjectId) -> Message:
    """Soft delete: the answer is the message as it now shows, "deleted" in its place."""
    return await sync_to_async(services.delete_message)(actor=request.auth, message_id=message_id)


# Notifications


@notifications_router.get("", response=list[NotificationOut])
@paginate
async def list_notifications(
    request: HttpRequest, filters: Query[NotificationFilters]
) -> QuerySet[Notification]:
    return selectors.list_notifications(request.auth.pk, unread_only=filters.unread)


@notifications_router.post("/read", response=NotificationsReadOut)
async def mark_notifications_read(request: HttpRequest, payload: NotificationsReadIn) -> dict:
    marked = await sync_to_async(services.mark_notifications_read)(
        actor=request.auth, ids=payload.ids
    )
    return {"marked": marked, "unread": await aget_unread_counts(request.auth.pk)}


@notifications_router.get("/preferences", response=list[PreferenceOut])
async def list_preferences(request: HttpRequest) -> list[dict[str, Any]]:
    return await sync_to_async(selectors.get_preferences)(request.auth.pk)


@notifications_router.patch("/preferences", response=list[PreferenceOut])
async def update_preference(request: HttpRequest, payload: PreferencePatch) -> list[dict]:
    await sync_to_async(services.update_notification_preference)(
        actor=request.auth, **payload.model_dump()
    )
    return await sync_to_async(selectors.get_preferences)(request.auth.pk)
