import asyncio
import threading
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.core.handlers.asgi import ASGIHandler
from django.db import connection

from accounts.models import FailedLogin

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 10


class GatedHasher(MD5PasswordHasher):
    """Verifies only once the test opens the gate, and records the thread it verified in."""

    algorithm = "gated_md5"
    started = threading.Event()
    gate = threading.Event()
    threads: list[str] = []

    def encode(self, password: str, salt: str) -> str:
        type(self).threads.append(threading.current_thread().name)
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        type(self).threads.append(threading.current_thread().name)
        type(self).started.set()
        if not type(self).gate.wait(WAIT_SECONDS):
            raise TimeoutError("the test never opened the gate")
        return super().verify(password, encoded)


@pytest.fixture
def gated_hasher(settings: Any) -> type[GatedHasher]:
    settings.PASSWORD_HASHERS = [f"{__name__}.GatedHasher"]
    GatedHasher.started.clear()
    GatedHasher.gate.clear()
    GatedHasher.threads = []
    return GatedHasher


async def test_api_login_hashes_in_the_password_pool_while_other_requests_are_served(
    gated_hasher: type[GatedHasher], user_factory: Any
) -> None:
    user = await sync_to_async(user_factory)(email="sara@jubail-valves.example")
    user.password = await sync_to_async(make_password)("a long passphrase")
    await user.asave(update_fields=["password"])
    gated_hasher.threads.clear()
    transport = httpx.ASGITransport(app=ASGIHandler())

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        login = asyncio.create_task(
            client.post(
                "/api/v1/auth/login",
                json={"email": "sara@jubail-valves.example", "password": "a long passphrase"},
            )
        )
        assert await asyncio.to_thread(gated_hasher.started.wait, WAIT_SECONDS)
        health = await asyncio.wait_for(client.get("/health"), timeout=WAIT_SECONDS)
        still_hashing = not login.done()
        gated_hasher.gate.set()
        response = await asyncio.wait_for(login, timeout=WAIT_SECONDS)

    assert health.status_code == 200
    assert still_hashing
    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk
    assert {name.rsplit("_", 1)[0] for name in gated_hasher.threads} == {"password-hash"}


async def test_api_login_with_an_unknown_email_still_hashes_in_the_pool(
    gated_hasher: type[GatedHasher],
) -> None:
    transport = httpx.ASGITransport(app=ASGIHandler())

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever"}
        )

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert await FailedLogin.objects.filter(email="nobody@example.com").acount() == 1
    # The hash an unknown address costs, as a wrong password does, ran in the pool too.
    assert {name.rsplit("_", 1)[0] for name in gated_hasher.threads} == {"password-hash"}


def pooled_connections_in_use() -> int:
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


async def test_api_login_holds_no_database_connection_while_its_hash_waits(
    gated_hasher: type[GatedHasher], user_factory: Any
) -> None:
    user = await sync_to_async(user_factory)(email="huda@yanbu-polymers.example")
    user.password = await sync_to_async(make_password)("a long passphrase")
    await user.asave(update_fields=["password"])
    transport = httpx.ASGITransport(app=ASGIHandler())
    in_use_before = await asyncio.to_thread(pooled_connections_in_use)

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        login = asyncio.create_task(
            client.post(
                "/api/v1/auth/login",
                json={"email": "huda@yanbu-polymers.example", "password": "a long passphrase"},
            )
        )
        assert await asyncio.to_thread(gated_hasher.started.wait, WAIT_SECONDS)
        in_use_while_hashing = await asyncio.to_thread(pooled_connections_in_use)
        gated_hasher.gate.set()
        response = await asyncio.wait_for(login, timeout=WAIT_SECONDS)

    assert response.status_code == 200
    assert in_use_while_hashing == in_use_before
