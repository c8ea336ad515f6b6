"""The personal stream `/ws/messaging/`: one socket per browser tab of a signed-in user.

Protocol (DESIGN.md, "Live protocol"): on accept the server sends `ready` with the head of the
user's stream and an `unread_counts`; the client may send `resume`, `typing`, `read` and `send`;
every event of the user's group is relayed as it is. Each write goes through one service call,
exactly as over HTTP.

Delivery of stored events (those with an `event_id`): the socket answers for every stored event
in (`covered_after`, `covered_through`]: it sent it, or the client said it holds it. It starts
empty at the head read on connect (`ready.last_event_id`), so live events up to that head are
left to `resume`. A stored event already covered is never sent again (a replay and its live
copy, or two live copies), and a live event that skips ids is preceded by the missing ones,
read from the database: ids commit in order, so they are stored by then.
"""

import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import HASH_SESSION_KEY
from django.utils.crypto import constant_time_compare

from accounts.events import sessions_group
from accounts.models import User
from messaging import events, selectors, services
from p2p_sandbox.errors import AppError

# Close codes, sent before the socket is accepted or to end it.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_EMAIL_NOT_VERIFIED = 4403
CLOSE_SESSION_ENDED = 4001

# Typing signals for one conversation closer together than this are dropped.
TYPING_INTERVAL = 2.0
MAX_ID = 2**63 - 1
MAX_CLIENT_MSG_ID_LENGTH = 64


class InvalidFrameError(AppError):
    code = "invalid_frame"
    message = "This frame is not a JSON object with the fields its type needs."


class UnknownTypeError(AppError):
    code = "unknown_type"
    message = "This type of frame is not known."


def frame_id(content: dict[str, Any], key: str, *, minimum: int = 1) -> int:
    """The integer `content[key]`, or InvalidFrameError (booleans and ids past bigint too)."""
    value = content.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_ID:
        raise InvalidFrameError(f"{key} must be an integer from {minimum}.")
    return value


def optional_frame_id(content: dict[str, Any], key: str) -> int | None:
    return None if content.get(key) is None else frame_id(content, key)


def send_and_describe(
    *,
    actor: User,
    content: object,
    receiver_id: int | None,
    conversation_id: int | None,
    client_msg_id: str | None,
) -> dict[str, Any]:
    message, _ = services.send_direct_message(
        actor=actor,
        content=content,  # type: ignore[arg-type]  # the service rejects what is not text
        receiver_id=receiver_id,
        conversation_id=conversation_id,
        client_msg_id=client_msg_id,
    )
    return events.message_payload(message)


class PersonalStreamConsumer(AsyncJsonWebsocketConsumer):
    user: User
    covered_after: int
    covered_through: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        self.typing_sent_at: dict[int, float] = {}
        # True from accept until the session ends; events for a refused or ending socket drop.
        self.is_open = False
        self.actions = {
            "resume": self.handle_resume,
            "typing": self.handle_typing,
            "read": self.handle_read,
            "send": self.handle_send,
        }

    # Connection

    async def connect(self) -> None:
        scope_user = self.scope.get("user")
        if scope_user is None or not scope_user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        user_id = scope_user.pk
        # Join first, then check the session: a logout from now on reaches this socket, and one
        # that happened since the auth middleware looked is seen below.
        self.joined = [events.user_group(user_id), sessions_group(user_id)]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        user = await User.objects.select_related("organization").filter(pk=user_id).afirst()
        refusal = CLOSE_NOT_AUTHENTICATED if user is None else await self.refusal(user)
        if user is None or refusal is not None:
            await self.leave_groups()
            await self.close(code=refusal)
            return
        self.user = user
        self.display_name = user.get_full_name() or user.email.split("@")[0]
        head = await selectors.aget_last_event_id(user_id)
        self.covered_after = self.covered_through = head
        await self.accept()
        self.is_open = True
        await self.send_json({"type": "ready", "event_id": None, "last_event_id": head})
        await self.send_unread_counts()

    async def refusal(self, user: User) -> int | None:
        """The close code for a user who may not have this socket, or None."""
        if not user.is_active:
            return CLOSE_NOT_AUTHENTICATED
        session_hash = await self.scope["session"].aget(HASH_SESSION_KEY)
        if not session_hash or not constant_time_compare(
            session_hash, user.get_session_auth_hash()
        ):
            return CLOSE_NOT_AUTHENTICATED
        if not user.is_email_verified:
            return CLOSE_EMAIL_NOT_VERIFIED
        return None

    async def leave_groups(self) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []

    async def disconnect(self, code: int) -> None:
        await self.leave_groups()

    # Channel layer

    async def stream_event(self, message: dict[str, Any]) -> None:
        """{"type": "stream.event", "event": {"type", "event_id": N | None, ...}}"""
        if not self.is_open:
            return
        event = message["event"]
        event_id = event.get("event_id")
        if event_id is None:
            await self.send_json(event)
        elif event_id == self.covered_through + 1:
            await self.send_json(event)
            self.covered_through = event_id
        elif event_id > self.covered_through:
            await self.replay(after=self.covered_through)

    async def sessions_ended(self, message: dict[str, Any]) -> None:
        if self.is_open:
            self.is_open = False
            await self.close(code=CLOSE_SESSION_ENDED)

    # Client frames

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self.is_open:
            return
        client_msg_id = None
        try:
            if not isinstance(content, dict) or not isinstance(content.get("type"), str):
                raise InvalidFrameError
            if isinstance(content.get("client_msg_id"), str):
                client_msg_id = content["client_msg_id"]
            action = self.actions.get(content["type"])
            if action is None:
                raise UnknownTypeError
            await action(content)
        except AppError as error:
            reply = {"type": "error", "event_id": None, "code": error.code, "detail": error.message}
            if client_msg_id is not None:
                reply["client_msg_id"] = client_msg_id
            await self.send_json(reply)

    async def handle_resume(self, content: dict[str, Any]) -> None:
        """{"type": "resume", "last_event_id": N}: the stored events after N that this socket
        has not sent, oldest first, then `resumed` and fresh unread counts."""
        after = frame_id(content, "last_event_id", minimum=0)
        head = await selectors.aget_last_event_id(self.user.pk)
        if after > head:
            # Not this stream's past (a restored database, another server): start afresh.
            await self.resync(head)
            return
        if not await self.replay(after=after):
            return
        await self.send_json(
            {"type": "resumed", "event_id": None, "last_event_id": self.covered_through}
        )
        await self.send_unread_counts()

    async def handle_typing(self, content: dict[str, Any]) -> None:
        conversation_id = frame_id(content, "conversation_id")
        now = time.monotonic()
        last = self.typing_sent_at.get(conversation_id)
        if last is not None and now - last < TYPING_INTERVAL:
            return
        recipients = await database_sync_to_async(services.signal_typing_recipients)(
            self.user, conversation_id
        )
        if len(self.typing_sent_at) > 100:
            self.typing_sent_at = {
                key: at for key, at in self.typing_sent_at.items() if now - at < TYPING_INTERVAL
            }
        self.typing_sent_at[conversation_id] = now
        if recipients:
            await events.asend_typing(
                conversation_id=conversation_id,
                user_id=self.user.pk,
                name=self.display_name,
                to=recipients,
            )

    async def handle_read(self, content: dict[str, Any]) -> None:
        """{"type": "read", "conversation_id": C, "message_id": M?}: the other participants get
        `message_read`, this user's tabs `unread_counts`."""
        conversation_id = frame_id(content, "conversation_id")
        message_id = optional_frame_id(content, "message_id")
        await database_sync_to_async(services.mark_conversation_read)(
            actor=self.user, conversation_id=conversation_id, message_id=message_id
        )

    async def handle_send(self, content: dict[str, Any]) -> None:
        """{"type": "send", "conversation_id" | "receiver_id", "content", "client_msg_id"}:
        answered with `sent`; `new_message` reaches every tab through the stream."""
        receiver_id = optional_frame_id(content, "receiver_id")
        conversation_id = optional_frame_id(content, "conversation_id")
        client_msg_id = content.get("client_msg_id")
        if client_msg_id is not None and (
            not isinstance(client_msg_id, str)
            or not 0 < len(client_msg_id.strip()) <= MAX_CLIENT_MSG_ID_LENGTH
        ):
            raise InvalidFrameError(
                f"client_msg_id must be text of 1 to {MAX_CLIENT_MSG_ID_LENGTH} characters."
            )
        message = await database_sync_to_async(send_and_describe)(
            actor=self.user,
            content=content.get("content"),
            receiver_id=receiver_id,
            conversation_id=conversation_id,
            client_msg_id=client_msg_id.strip() if client_msg_id else None,
        )
        await self.send_json(
            {"type": "sent", "event_id": None, "client_msg_id": client_msg_id, "message": message}
        )

    # Helpers

    async def replay(self, *, after: int) -> bool:
        """Send the stored events after `after` that are not covered, oldest first; False when
        the client was told to resync instead: too many events, or some already pruned (event
        ids of a stream have no holes, so a missing one was deleted by retention)."""
        stored = await selectors.alist_stream_events(self.user.pk, after)
        if stored:
            pruned = stored[0].event_id > after + 1
        else:
            pruned = after < await selectors.aget_last_event_id(self.user.pk)
        if pruned or len(stored) > selectors.RESUME_LIMIT:
            head = await selectors.aget_last_event_id(self.user.pk)
            await self.resync(max(head, stored[-1].event_id if stored else 0))
            return False
        for event in stored:
            if not self.covered_after < event.event_id <= self.covered_through:
                await self.send_json(events.stored_event(event))
        self.covered_after = min(self.covered_after, after)
        self.covered_through = max(
            self.covered_through, after, stored[-1].event_id if stored else 0
        )
        return True

    async def resync(self, last_event_id: int) -> None:
        """The client reloads its state over HTTP: it then holds everything up to the head."""
        self.covered_through = max(self.covered_through, last_event_id)
        await self.send_json(
            {"type": "resync_required", "event_id": None, "last_event_id": self.covered_through}
        )

    async def send_unread_counts(self) -> None:
        counts = await database_sync_to_async(selectors.get_unread_counts)(self.user.pk)
        await self.send_json({"type": "unread_counts", "event_id": None, **counts})
