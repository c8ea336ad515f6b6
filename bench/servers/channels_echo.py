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
"""

import os
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.echo_settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.servers import raw_asgi  # noqa: E402


def echo_group(user_id: int) -> str:
    return f"bench.echo.{user_id}"


class EchoConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.user_id = int(query["user"][0])
        except (KeyError, ValueError):
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


application = ProtocolTypeRouter(
    {
        "http": raw_asgi.application,
        "websocket": URLRouter([path("ws/echo/", EchoConsumer.as_asgi())]),
    }
)
