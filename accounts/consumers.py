"""What every socket of a signed-in user shares: who may connect, the end of the user's sessions
closing it, and client frames.

A socket joins its groups before it checks the session, so a logout from then on reaches it and
one that happened since the auth middleware looked is seen by the check. Client frames are JSON
objects with a string `type`, dispatched to the consumer's `actions`; an AppError raised by an
action answers `{"type": "error", "code", "detail"}` and changes nothing. A frame too large, too
deep, or with a string no database can store answers `invalid_frame` before any action sees it.
"""

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import UpdateError
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from accounts import middleware
from accounts.events import sessions_group
from accounts.middleware import ACTIVE_AT, STARTED_AT, last_seen, session_deadline, session_expired
from accounts.models import User
from p2p_sandbox import ratelimit
from p2p_sandbox.errors import AppError
from p2p_sandbox.schemas import MAX_ID

# Close codes, sent before the socket is accepted or to end it.
CLOSE_SESSION_ENDED = 4001
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_EMAIL_NOT_VERIFIED = 4403

# A frame carries at most one text of a few thousand characters (5000 for a post or a
# message), each of which JSON may write as a 6-character escape.
MAX_FRAME_CHARACTERS = 64 * 1024
# Frames are flat objects with perhaps a list of ids: anything deeper is not a frame.
MAX_FRAME_DEPTH = 8
# Neither PostgreSQL text nor UTF-8 can hold these.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")

# An open socket re-reads its stored session when a frame arrives at least this long after the
# last read (a deleted session is seen then), and at the session's deadline.
SESSION_RECHECK_SECONDS = 5.0
# Past the deadline by this much, so the check at the deadline finds the session expired.
DEADLINE_MARGIN_SECONDS = 0.05

Action = Callable[[dict[str, Any]], Awaitable[None]]


class SessionEndedError(Exception):
    """The socket's session is gone from the store, signed out, or past a limit."""


@dataclass(frozen=True)
class SessionClock:
    active_at: float | None
    deadline: float


def refresh_session(session_key: str | None, user_id: int, *, activity: bool) -> SessionClock:
    """Read the stored session of a socket and apply SessionLimitsMiddleware's limits: an expired
    session is ended (flushed) as the middleware ends it, and with `activity` the last activity
    is recorded as the middleware records it (at most once per ACTIVITY_RESOLUTION)."""
    if session_key is None:
        raise SessionEndedError
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if session.get(SESSION_KEY) != str(user_id):
        raise SessionEndedError
    now = time.time()
    started_at, active_at = session.get(STARTED_AT), session.get(ACTIVE_AT)
    if session_expired(started_at, active_at, now):
        session.flush()
        raise SessionEndedError
    if activity and (active_at is None or now - active_at > middleware.ACTIVITY_RESOLUTION):
        session[ACTIVE_AT] = active_at = now
        started_at = session.setdefault(STARTED_AT, now)
        try:
            session.save()
        except UpdateError as error:  # deleted since it was read
            raise SessionEndedError from error
        last_seen(str(user_id)).update(last_seen_at=timezone.now())
    return SessionClock(active_at, session_deadline(started_at, active_at))


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


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON.")


def parse_frame(text: str | None) -> Any:
    """The JSON value of a text frame; InvalidFrameError for a binary, oversized, malformed or
    deeply nested frame, or one with a string that cannot be stored (NUL, lone surrogate)."""
    if text is None:
        raise InvalidFrameError
    if len(text) > MAX_FRAME_CHARACTERS:
        raise InvalidFrameError(
            _("A frame has at most %(limit)d characters.") % {"limit": MAX_FRAME_CHARACTERS}
        )
    try:
        content = json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidFrameError from error
    pending = [(content, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_FRAME_DEPTH:
            raise InvalidFrameError(_("This frame is nested too deeply."))
        if isinstance(value, dict):
            pending += [(key, depth) for key in value]
            pending += [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]
        elif isinstance(value, str) and UNSTORABLE_CHARACTERS.search(value):
            raise InvalidFrameError(_("Text may not contain NUL characters or lone surrogates."))
    return content


def display_name(user: User) -> str:
    return user.get_full_name() or user.email.split("@")[0]


class SignedInConsumer(AsyncJsonWebsocketConsumer):
    """A socket for an active, verified user whose session is current. Subclasses name their
    groups, may refuse in `prepare`, start in `opened` and fill `actions`.

    The session's idle and absolute limits hold as over HTTP: an expired session is refused,
    an open socket closes at its session's deadline or once its session is gone, and client
    frames (but those in `passive_frames`) count as activity.
    """

    user: User
    # Frame types that write as HTTP writes do: they count against the same per-person limit.
    write_frames: frozenset[str] = frozenset()
    # Frames a page's script sends on its own (after reconnecting): not a person's activity.
    passive_frames: frozenset[str] = frozenset({"resume"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        # True from accept until the session ends; events for a refused or ending socket drop.
        self.is_open = False
        self.actions: dict[str, Action] = {}
        self.session_key: str | None = None
        self.session_clock = SessionClock(None, math.inf)
        self.session_read_at = 0.0
        self.deadline_watch: asyncio.Task | None = None

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
        self.watch_deadline()
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
        self.session_key = self.scope["session"].session_key
        if not await self.session_current(activity=False):
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

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.stop_watching_deadline()
        await super().websocket_disconnect(message)

    async def sessions_ended(self, message: dict[str, Any]) -> None:
        await self.end_session()

    async def end_session(self) -> None:
        self.stop_watching_deadline()
        if self.is_open:
            self.is_open = False
            await self.close(code=CLOSE_SESSION_ENDED)

    # Session limits

    async def session_current(self, *, activity: bool) -> bool:
        """Whether the session still holds, re-reading it when a read is due: every
        SESSION_RECHECK_SECONDS, at the deadline, or to record activity. An open socket whose
        session ended is closed."""
        now = time.time()
        active_at = self.session_clock.active_at
        due = (
            now - self.session_read_at >= SESSION_RECHECK_SECONDS
            or now >= self.session_clock.deadline
            or (
                activity and (active_at is None or now - active_at > middleware.ACTIVITY_RESOLUTION)
            )
        )
        if not due:
            return True
        try:
            self.session_clock = await database_sync_to_async(refresh_session)(
                self.session_key, self.scope["user"].pk, activity=activity
            )
        except SessionEndedError:
            await self.end_session()
            return False
        self.session_read_at = now
        if self.is_open:
            self.watch_deadline()
        return True

    def watch_deadline(self) -> None:
        """Check the session again at its deadline (activity elsewhere may have moved it)."""
        current = asyncio.current_task()
        if self.deadline_watch is not None and self.deadline_watch is not current:
            self.deadline_watch.cancel()
        self.deadline_watch = None
        if math.isfinite(self.session_clock.deadline):
            delay = max(self.session_clock.deadline - time.time(), 0) + DEADLINE_MARGIN_SECONDS
            self.deadline_watch = asyncio.create_task(self.check_at_deadline(delay))

    async def check_at_deadline(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.session_current(activity=False)

    def stop_watching_deadline(self) -> None:
        if self.deadline_watch is not None and self.deadline_watch is not asyncio.current_task():
            self.deadline_watch.cancel()
        self.deadline_watch = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = parse_frame(text_data)
        except InvalidFrameError as error:
            content = error
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self.is_open or not await self.admit_frame(content):
            return
        try:
            if isinstance(content, InvalidFrameError):
                raise content
            if not isinstance(content, dict) or not isinstance(content.get("type"), str):
                raise InvalidFrameError
            action = self.actions.get(content["type"])
            if action is None:
                raise UnknownTypeError
            if not await self.session_current(activity=content["type"] not in self.passive_frames):
                return
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
