"""What every socket of a signed-in user shares: who may connect, the end of the user's sessions
closing it, and client frames.

A socket joins its groups before it checks the session, so a logout from then on reaches it and
one that happened since the auth middleware looked is seen by the check. Client frames are JSON
objects with a string `type`, dispatched to the consumer's `actions`; an AppError raised by an
action answers `{"type": "error", "code", "detail"}` and changes nothing.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import HASH_SESSION_KEY
from django.utils.crypto import constant_time_compare

from accounts.events import sessions_group
from accounts.models import User
from p2p_sandbox import ratelimit
from p2p_sandbox.errors import AppError

# Close codes, sent before the socket is accepted or to end it.
CLOSE_SESSION_ENDED = 4001
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_EMAIL_NOT_VERIFIED = 4403

MAX_ID = 2**63 - 1

Action = Callable[[dict[str, Any]], Awaitable[None]]


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


def display_name(user: User) -> str:
    return user.get_full_name() or user.email.split("@")[0]


class SignedInConsumer(AsyncJsonWebsocketConsumer):
    """A socket for an active, verified user whose session is current. Subclasses name their
    groups, may refuse in `prepare`, start in `opened` and fill `actions`."""

    user: User
    # Frame types that write as HTTP writes do: they count against the same per-person limit.
    write_frames: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        # True from accept until the session ends; events for a refused or ending socket drop.
        self.is_open = False
        self.actions: dict[str, Action] = {}

    def groups_to_join(self, user_id: int) -> list[str]:
        return [sessions_group(user_id)]

    async def connect(self) -> None:
        scope_user = self.scope.get("user")
        if scope_user is None or not scope_user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        user_id = scope_user.pk
        self.joined = self.groups_to_join(user_id)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        user = await User.objects.select_related("organization").filter(pk=user_id).afirst()
        refusal = CLOSE_NOT_AUTHENTICATED if user is None else await self.refusal(user)
        if refusal is None:
            self.user = user  # type: ignore[assignment]  # not None when there is no refusal
            refusal = await self.prepare()
        if refusal is not None:
            await self.leave_groups()
            await self.close(code=refusal)
            return
        await self.accept()
        self.is_open = True
        await self.opened()

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

    async def prepare(self) -> int | None:
        """Before accepting, with `self.user` set: a close code refuses the socket."""
        return None

    async def opened(self) -> None:
        """After accepting."""

    async def leave_groups(self) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []

    async def disconnect(self, code: int) -> None:
        await self.leave_groups()

    async def sessions_ended(self, message: dict[str, Any]) -> None:
        if self.is_open:
            self.is_open = False
            await self.close(code=CLOSE_SESSION_ENDED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self.is_open or not await self.admit_frame(content):
            return
        try:
            if not isinstance(content, dict) or not isinstance(content.get("type"), str):
                raise InvalidFrameError
            action = self.actions.get(content["type"])
            if action is None:
                raise UnknownTypeError
            await action(content)
        except AppError as error:
            await self.send_json(self.error_frame(content, error))

    def error_frame(self, content: Any, error: AppError) -> dict[str, Any]:
        return {"type": "error", "code": error.code, "detail": error.message}

    async def admit_frame(self, content: Any) -> bool:
        """Count the frame against the person's limits. Over them, it is not acted on: a
        `rate_limited` error frame with `retry_after` answers, except to `typing`, which is
        dropped silently (it is ephemeral and the client sends it unprompted)."""
        frame_type = content.get("type") if isinstance(content, dict) else None
        scopes = [ratelimit.FRAMES]
        if frame_type in self.write_frames:
            scopes.append(ratelimit.WRITES)
        retry_after = await ratelimit.ahit(scopes, ratelimit.person(self.user.pk))
        if retry_after is None:
            return True
        if frame_type != "typing":
            error = ratelimit.limited_error(retry_after)
            await self.send_json({**self.error_frame(content, error), "retry_after": retry_after})
        return False
