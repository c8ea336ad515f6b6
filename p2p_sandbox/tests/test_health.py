import asyncio
import json
from typing import Any

import boto3
import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect

from p2p_sandbox.testing import celery_broker, free_port

pytestmark = pytest.mark.django_db


def s3_storages(current: dict, endpoint: str, bucket: str) -> dict:
    return {
        **current,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
            },
        },
    }


def test_health_answers_without_touching_any_dependency(
    client: Client, django_assert_num_queries: object
) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "async": True}


def test_ready_reports_every_dependency_with_state_and_latency(client: Client) -> None:
    response = client.get("/health/ready")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["down"] == []
    assert set(body["checks"]) == {"database", "redis", "broker", "storage"}
    for check in body["checks"].values():
        assert check["state"] in {"ok", "embedded"}
        assert check["latency_ms"] >= 0


@pytest.mark.services
def test_ready_checks_real_postgres_redis_and_broker(client: Client) -> None:
    response = client.get("/health/ready")

    checks = response.json()["checks"]
    assert response.status_code == 200
    assert {name: check["state"] for name, check in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
        "storage": "ok",
    }


def test_ready_answers_503_naming_redis_when_redis_is_down(
    client: Client, settings: object
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings.CHANNEL_LAYERS = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [closed]},
        }
    }

    response = client.get("/health/ready")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["down"] == ["redis"]
    assert body["checks"]["redis"]["state"] == "down"
    assert body["checks"]["database"]["state"] == "ok"


def test_ready_answers_503_naming_the_broker_when_it_is_unreachable(client: Client) -> None:
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]


def test_ready_checks_s3_media_storage_bucket(
    client: Client, settings: object, s3_server: str
) -> None:
    boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="p2p-media")

    current = settings.STORAGES  # type: ignore[attr-defined]
    settings.STORAGES = s3_storages(current, s3_server, "p2p-media")  # type: ignore[attr-defined]
    present = client.get("/health/ready")
    settings.STORAGES = s3_storages(current, s3_server, "no-such-bucket")  # type: ignore[attr-defined]
    missing = client.get("/health/ready")

    assert present.status_code == 200
    assert present.json()["checks"]["storage"]["state"] == "ok"
    assert missing.status_code == 503
    assert missing.json()["down"] == ["storage"]
    assert missing.json()["checks"]["storage"]["error"] == "ClientError"


def signed_in_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_ready_reports_redis_ok_while_a_socket_is_open_on_the_server(
    asgi_server: Any, user_factory: Any
) -> None:
    user = await sync_to_async(user_factory)()
    cookie = await sync_to_async(signed_in_cookie)(user)

    async with connect(
        f"{asgi_server.ws_url}/ws/messaging/",
        origin=asgi_server.url,
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    ) as socket:
        ready = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{asgi_server.url}/health/ready", timeout=10)

    assert ready["type"] == "ready"
    assert response.status_code == 200
    assert response.json()["checks"]["redis"]["state"] == "ok"
    assert response.json()["down"] == []
