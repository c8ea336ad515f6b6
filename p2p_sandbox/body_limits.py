"""Refusing request bodies over their path's limit before the application reads them.

`BodySizeLimit` wraps the HTTP application: a request whose `Content-Length` is over the limit
is answered 413 without reading a byte of its body; a body sent without a length (chunked) is
counted as the application reads it and cut off with a 413 once it passes the limit. API paths
get the API's error shape `{"detail", "code": "too_large"}`, pages a plain-text 413.

The limits are REQUEST_BODY_MAX_BYTES, and REQUEST_BODY_LIMITS for the paths that take more
(the media uploads): a list of (path regular expression, bytes), the first match wins.

Daphne (Twisted) receives the whole body, into a temporary file on disk, before it calls the
application, and then queues all of it for the application at once; under Daphne this wrapper
only spares the application from reading it. Servers that stream the body to the application
(uvicorn) never read more than the limit.
"""

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/"


@cache
def _compiled_limits(limits: tuple[tuple[str, int], ...]) -> list[tuple[re.Pattern[str], int]]:
    return [(re.compile(pattern), max_bytes) for pattern, max_bytes in limits]


def body_limit_for(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    limits = tuple(tuple(item) for item in settings.REQUEST_BODY_LIMITS)
    for pattern, max_bytes in _compiled_limits(limits):
        if pattern.match(path):
            return max_bytes
    return settings.REQUEST_BODY_MAX_BYTES


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when it has none (or one that is not a number:
    the server refuses those, and the body is counted anyway)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope["path"])
        length = declared_length(scope)
        if length is not None and length > limit:
            await send_too_large(scope, send)
            return

        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await send_too_large(scope, send)
                    # The application stops reading and answers nothing more (Django treats
                    # a disconnect while reading the body as an aborted request).
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def send_too_large(scope: Scope, send: Send) -> None:
    if scope["path"].startswith(API_PREFIX):
        content_type = b"application/json"
        body = json.dumps(
            {"detail": gettext("The request body is too large."), "code": "too_large"}
        ).encode()
    else:
        content_type = b"text/plain; charset=utf-8"
        body = gettext("The request body is too large.").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
