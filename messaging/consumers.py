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

import time
from typing import Any

from channels.db import database_sync_to_async

from accounts.consumers import InvalidFrameError, SignedInConsumer, display_name, frame_id
from accounts.events import sessions_group
from accounts.models import User
from messaging import events, selectors, services
from p2p_sandbox.errors import AppError

# Typing signals for one conversation closer together than this are dropped.
TYPING_INTERVAL = 2.0
MAX_CLIENT_MSG_ID_LENGTH = 64


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


class PersonalStreamConsumer(SignedInConsumer):
    covered_after: int
    covered_through: int
    write_frames = frozenset({"send"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.typing_sent_at: dict[int, float] = {}
        self.actions = {
            "resume": self.handle_resume,
            "typing": self.handle_typing,
            "read": self.handle_read,
            "send": self.handle_send,
        }

    # Connection

    def groups_to_join(self, user_id: int) -> list[str]:
        return [events.user_group(user_id), sessions_group(user_id)]

    async def prepare(self) -> int | None:
        self.display_name = display_name(self.user)
        head = await selectors.aget_last_event_id(self.user.pk)
        self.covered_after = self.covered_through = head
        return None

    async def opened(self) -> None:
        await self.send_json(
            {"type": "ready", "event_id": None, "last_event_id": self.covered_through}
        )
        await self.send_unread_counts()

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

    # Client frames

    def error_frame(self, content: Any, error: AppError) -> dict[str, Any]:
        """The error, with the `client_msg_id` of the frame when it had one."""
        reply = {"type": "error", "event_id": None, "code": error.code, "detail": error.message}
        is_frame = isinstance(content, dict) and isinstance(content.get("type"), str)
        if is_frame and isinstance(content.get("client_msg_id"), str):
            reply["client_msg_id"] = content["client_msg_id"]
        return reply

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
