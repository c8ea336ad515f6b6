import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async

from accounts import services
from accounts.models import User

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


async def test_twenty_concurrent_profile_updates_each_save_their_own_data(
    asgi_server: object, user_factory: object
) -> None:
    people = [await sync_to_async(user_factory)() for _ in range(20)]  # type: ignore[operator]
    tokens = [
        (await sync_to_async(services.create_api_token)(actor=person, name="load"))[1]
        for person in people
    ]

    async with httpx.AsyncClient(base_url=asgi_server.url, timeout=30) as client:  # type: ignore[attr-defined]
        responses = await asyncio.gather(
            *(
                client.patch(
                    "/api/v1/users/me",
                    json={"jobTitle": f"Line {index} lead", "expertiseTags": [f"line-{index}"]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for index, token in enumerate(tokens)
            )
        )

    assert [response.status_code for response in responses] == [200] * 20
    assert [response.json()["id"] for response in responses] == [person.pk for person in people]
    saved = {
        user.pk: (user.job_title, user.expertise_tags)
        async for user in User.objects.filter(pk__in=[person.pk for person in people])
    }
    assert saved == {
        person.pk: (f"Line {index} lead", [f"line-{index}"]) for index, person in enumerate(people)
    }
