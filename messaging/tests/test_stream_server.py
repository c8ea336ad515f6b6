"""The personal stream under the real server: Daphne, a real WebSocket client, the Redis layer,
and a message sent over HTTP."""

import asyncio
import json
import secrets
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect

from accounts.models import User

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def receive_json(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT))


async def receive_until_type(socket: ClientConnection, type: str) -> list[dict[str, Any]]:
    frames = []
    while not frames or frames[-1]["type"] != type:
        frames.append(await receive_json(socket))
    return frames


async def test_message_posted_over_http_reaches_the_recipients_socket_under_daphne(
    asgi_server: Any, user_factory: Any
) -> None:
    alice = await sync_to_async(user_factory)(first_name="Alice")
    bob = await sync_to_async(user_factory)(first_name="Bob")
    alice_session = await sync_to_async(session_cookie)(alice)
    bob_session = await sync_to_async(session_cookie)(bob)
    url = f"{asgi_server.ws_url}/ws/messaging/"
    csrf_token = secrets.token_hex(16)

    async with (
        connect(
            url,
            origin=asgi_server.url,
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={alice_session}"},
            open_timeout=TIMEOUT,
        ) as alice_socket,
        connect(
            url,
            origin=asgi_server.url,
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={bob_session}"},
            open_timeout=TIMEOUT,
        ) as bob_socket,
    ):
        alice_opening = await receive_until_type(alice_socket, "unread_counts")
        bob_opening = await receive_until_type(bob_socket, "unread_counts")
        async with httpx.AsyncClient(
            base_url=asgi_server.url,
            timeout=TIMEOUT,
            cookies={
                settings.SESSION_COOKIE_NAME: alice_session,
                settings.CSRF_COOKIE_NAME: csrf_token,
            },
        ) as http:
            response = await http.post(
                "/api/v1/messages",
                json={"receiverId": bob.pk, "content": "Hello over *HTTP*"},
                headers={"X-CSRFToken": csrf_token},
            )
        bob_frames = await receive_until_type(bob_socket, "unread_counts")
        alice_frames = await receive_until_type(alice_socket, "new_message")

    sent = response.json()
    assert response.status_code == 201
    assert [frame["type"] for frame in alice_opening] == ["ready", "unread_counts"]
    assert bob_opening[0] == {"type": "ready", "event_id": None, "last_event_id": 0}
    assert [(frame["type"], frame["event_id"]) for frame in bob_frames] == [
        ("new_message", 1),
        ("unread_counts", None),
    ]
    delivered = bob_frames[0]["message"]
    assert (delivered["id"], delivered["conversation_id"]) == (sent["id"], sent["conversation_id"])
    assert delivered["sender"]["id"] == alice.pk
    assert delivered["content_html"] == "<p>Hello over <em>HTTP</em></p>"
    assert bob_frames[1]["messages"] == 1
    assert [(frame["type"], frame["event_id"]) for frame in alice_frames] == [("new_message", 1)]
    assert alice_frames[0]["message"]["id"] == sent["id"]
