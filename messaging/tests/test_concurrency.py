import asyncio
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from accounts.models import User
from messaging.models import Conversation, Message

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def people_with_tokens(user_factory: Any, count: int) -> list[tuple[User, str]]:
    return [
        (person, account_services.create_api_token(actor=person, name="load")[1])
        for person in user_factory.create_batch(count)
    ]


async def test_send_message_fifty_concurrent_sends_between_fifty_pairs_store_fifty_messages(
    asgi_server: Any, user_factory: Any
) -> None:
    senders = await sync_to_async(people_with_tokens)(user_factory, 50)
    receivers = await sync_to_async(people_with_tokens)(user_factory, 50)
    pairs = list(zip(senders, receivers, strict=True))

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/messages",
                    json={
                        "receiver_id": receiver.pk,
                        "content": f"Hello from line {index}",
                        "client_msg_id": f"line-{index}",
                    },
                    headers=bearer(token),
                )
                for index, ((_, token), (receiver, _)) in enumerate(pairs)
            )
        )
        unread = await asyncio.gather(
            *(
                client.get("/api/v1/messages/unread", headers=bearer(token))
                for _, token in receivers
            )
        )

    assert [response.status_code for response in responses] == [201] * 50
    assert [
        (response.json()["sender"]["id"], response.json()["content"]) for response in responses
    ] == [(sender.pk, f"Hello from line {index}") for index, ((sender, _), _) in enumerate(pairs)]
    assert await Message.objects.acount() == 50
    stored = {
        (message.sender_id, message.conversation.user_low_id, message.conversation.user_high_id)
        async for message in Message.objects.select_related("conversation")
    }
    assert stored == {
        (sender.pk, min(sender.pk, receiver.pk), max(sender.pk, receiver.pk))
        for (sender, _), (receiver, _) in pairs
    }
    assert await Conversation.objects.acount() == 50
    assert [(response.status_code, response.json()) for response in unread] == [
        (200, {"messages": 1, "conversations": 1, "notifications": 0})
    ] * 50


async def test_send_message_same_client_msg_id_ten_times_at_once_stores_one_message(
    asgi_server: Any, user_factory: Any
) -> None:
    (sender, token), (receiver, receiver_token) = await sync_to_async(people_with_tokens)(
        user_factory, 2
    )

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/messages",
                    json={
                        "receiver_id": receiver.pk,
                        "content": "Is the retrofit done?",
                        "client_msg_id": "flaky-retry-1",
                    },
                    headers=bearer(token),
                )
                for _ in range(10)
            )
        )
        unread = await client.get("/api/v1/messages/unread", headers=bearer(receiver_token))

    message = await Message.objects.aget()
    assert sorted(response.status_code for response in responses) == [200] * 9 + [201]
    assert {response.json()["id"] for response in responses} == {message.pk}
    assert (message.sender_id, message.client_msg_id, message.content) == (
        sender.pk,
        "flaky-retry-1",
        "Is the retrofit done?",
    )
    assert await Conversation.objects.acount() == 1
    assert unread.json() == {"messages": 1, "conversations": 1, "notifications": 0}
