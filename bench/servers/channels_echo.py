"""The channel-layer echo baseline of the `messaging` scenario: a bare Channels consumer that
relays a frame to another socket through the same Redis channel layer, under the same server.

    daphne bench.servers.channels_echo:application   (DJANGO_SETTINGS_MODULE defaults to
                                                      bench.servers.echo_settings)

HTTP goes to the raw ASGI app (`GET /health` answers the project's bytes, for the readiness
check). `/ws/echo/?user=<id>` (no authentication, no origin check, no database): on connect the
consumer joins group `bench.echo.<id>` and sends {"type": "ready", "event_id": null}. A client
frame {"type": "send", "receiver_id": R, "content": ..., "client_msg_id": ...} is relayed to
group `bench.echo.<R>` as {"type": "new_message", "event_id": null, "message": {...}}, and the
sender gets {"type": "sent", "event_id": null, "client_msg_id": ...}: the least any relay over
the layer does (one group_send and one frame back), with none of the project's work (session,
database, Markdown, stored events, unread counts).

`/ws/echo/forum/<topic_id>/?user=<id>` is the baseline of the `forum_viewers` scenario: on connect
the consumer joins group `forum.topic.<topic_id>` (the project's group name) and sends nothing (no
presence); a frame {"type": "new_post", "content": ...} is sent to the whole group as
{"type": "post_created", "topic_id", "post": {...}}, a post shaped like the project's PostOut
(numbered per process, the content in a <p> escaped, not rendered), which every socket of the
group, the sender's too, relays as it is: one group_send fanned out by the layer, and nothing of
the project's work (session, database, Markdown, presence, notifications).
"""

import html
import itertools
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.echo_settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.servers import raw_asgi  # noqa: E402


def query_user(scope: dict[str, Any]) -> int | None:
    """The `user` of the socket's query string (`?user=<id>`), or None."""
    query = parse_qs(scope.get("query_string", b"").decode())
    try:
        return int(query["user"][0])
    except (KeyError, ValueError):
        return None


def echo_group(user_id: int) -> str:
    return f"bench.echo.{user_id}"


class EchoConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        self.user_id = query_user(self.scope)
        if self.user_id is None:
            await self.close(code=4400)
            return
        await self.channel_layer.group_add(echo_group(self.user_id), self.channel_name)
        await self.accept()
        await self.send_json({"type": "ready", "event_id": None})

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(echo_group(self.user_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "send":
            await self.send_json({"type": "error", "event_id": None, "code": "unknown_type"})
            return
        receiver_id = content.get("receiver_id")
        if not isinstance(receiver_id, int):
            await self.send_json({"type": "error", "event_id": None, "code": "invalid_destination"})
            return
        message = {
            "conversation_id": None,
            "sender": {"id": self.user_id},
            "content": content.get("content"),
            "client_msg_id": content.get("client_msg_id"),
        }
        await self.channel_layer.group_send(
            echo_group(receiver_id),
            {
                "type": "stream.event",
                "event": {"type": "new_message", "event_id": None, "message": message},
            },
        )
        await self.send_json(
            {"type": "sent", "event_id": None, "client_msg_id": content.get("client_msg_id")}
        )

    async def stream_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["event"])


def forum_group(topic_id: int) -> str:
    return f"forum.topic.{topic_id}"


POST_IDS = itertools.count(1)


class ForumEchoConsumer(AsyncJsonWebsocketConsumer):
    topic_id: int
    user_id: int | None = None

    async def connect(self) -> None:
        self.topic_id = self.scope["url_route"]["kwargs"]["topic_id"]
        self.user_id = query_user(self.scope)
        if self.user_id is None:
            await self.close(code=4400)
            return
        await self.channel_layer.group_add(forum_group(self.topic_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(forum_group(self.topic_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "new_post":
            await self.send_json({"type": "error", "code": "unknown_type", "detail": ""})
            return
        text = str(content.get("content", ""))
        post = {
            "id": next(POST_IDS),
            "topic_id": self.topic_id,
            "author": {
                "id": self.user_id,
                "full_name": f"Bench Viewer {self.user_id}",
                "avatar_url": None,
                "organization_name": "Bench Forum Works",
            },
            "content": text,
            "content_html": f"<p>{html.escape(text)}</p>",
            "reply_to": None,
            "created_at": datetime.now(UTC).isoformat(),
            "edited_at": None,
            "is_deleted": False,
            "like_count": 0,
            "is_liked": False,
            "is_best_answer": False,
        }
        await self.channel_layer.group_send(
            forum_group(self.topic_id),
            {
                "type": "forum.event",
                "event": {"type": "post_created", "topic_id": self.topic_id, "post": post},
            },
        )

    async def forum_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["event"])


application = ProtocolTypeRouter(
    {
        "http": raw_asgi.application,
        "websocket": URLRouter(
            [
                path("ws/echo/", EchoConsumer.as_asgi()),
                path("ws/echo/forum/<int:topic_id>/", ForumEchoConsumer.as_asgi()),
            ]
        ),
    }
)
