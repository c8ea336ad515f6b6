from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, StringConstraints, model_validator

from accounts.models import User
from messaging.models import (
    MAX_GROUP_PARTICIPANTS,
    MAX_MESSAGE_LENGTH,
    Block,
    Message,
    Notification,
)
from p2p_sandbox.schemas import InputSchema

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_LENGTH)
]
ClientMessageId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
EmailChoice = Literal["instant", "daily", "off"]


class PersonBriefOut(Schema):
    id: int
    full_name: str
    avatar_url: str | None
    organization_name: str | None

    @staticmethod
    def resolve_full_name(user: User) -> str:
        return user.get_full_name() or user.email.split("@")[0]

    @staticmethod
    def resolve_avatar_url(user: User) -> str | None:
        return user.avatar.url if user.avatar else None

    @staticmethod
    def resolve_organization_name(user: User) -> str | None:
        return user.organization.name if user.organization_id else None


class MessageOut(Schema):
    """A message as its conversation's participants see it. A deleted message keeps its place
    with empty content and `is_deleted`."""

    id: int
    conversation_id: int
    sender: PersonBriefOut
    content: str
    content_html: str
    client_msg_id: str | None
    created_at: datetime
    edited_at: datetime | None
    is_deleted: bool

    @staticmethod
    def resolve_content(message: Message) -> str:
        return "" if message.is_deleted else message.content

    @staticmethod
    def resolve_content_html(message: Message) -> str:
        return "" if message.is_deleted else message.content_html


class MessageIn(InputSchema):
    receiver_id: int | None = None
    conversation_id: int | None = None
    content: Content
    client_msg_id: ClientMessageId | None = None

    @model_validator(mode="after")
    def one_destination(self) -> "MessageIn":
        if (self.receiver_id is None) == (self.conversation_id is None):
            raise ValueError("Give either receiver_id or conversation_id.")
        return self


class MessagePatch(InputSchema):
    content: Content


class GroupIn(InputSchema):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    participant_ids: Annotated[list[int], Field(min_length=1, max_length=MAX_GROUP_PARTICIPANTS)]


class MessagePageOut(Schema):
    """Messages oldest first; `has_more`: older ones remain (newest page, `before`) or newer
    ones remain (`after`)."""

    messages: list[MessageOut]
    has_more: bool


class ReadIn(InputSchema):
    """Without `message_id`, everything up to the newest message is read."""

    message_id: int | None = None


class ParticipationPatch(InputSchema):
    is_archived: bool | None = None
    is_muted: bool | None = None


class ConversationOut(Schema):
    id: int
    kind: str
    title: str
    participants: list[PersonBriefOut]
    last_message: MessageOut | None
    last_message_at: datetime | None
    unread_count: int
    is_archived: bool
    is_muted: bool
    # The newest message each other participant has read, for read receipts.
    read_up_to: dict[int, int]


class UnreadCountsOut(Schema):
    messages: int
    conversations: int
    notifications: int


class ReadOut(Schema):
    last_read_message_id: int
    unread: UnreadCountsOut


class BlockIn(InputSchema):
    user_id: int


class BlockOut(Schema):
    """One person the caller blocked."""

    user: PersonBriefOut
    created_at: datetime

    @staticmethod
    def resolve_user(block: Block) -> User:
        return block.blocked


class NotificationOut(Schema):
    id: int
    type: str
    actor: PersonBriefOut | None
    text: str
    link: str
    created_at: datetime
    is_read: bool

    @staticmethod
    def resolve_is_read(notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationsReadIn(InputSchema):
    """Without `ids`, every notification is marked read."""

    ids: Annotated[list[int], Field(max_length=500)] | None = None


class NotificationsReadOut(Schema):
    marked: int
    unread: UnreadCountsOut


class PreferenceOut(Schema):
    type: str
    label: str
    description: str
    in_app: bool
    email: EmailChoice


class PreferencePatch(InputSchema):
    type: Annotated[str, StringConstraints(max_length=40)]
    in_app: bool | None = None
    email: EmailChoice | None = None
