"""Liveness and readiness.

`/health` answers without touching any dependency (for a load balancer's liveness probe).
`/health/ready` checks each dependency concurrently, each with its own time limit, and answers
503 naming the part that is down.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse

from p2p_sandbox.celery import app as celery_app

CHECK_TIMEOUT_SECONDS = 3.0

OK = "ok"
DOWN = "down"
EMBEDDED = "embedded"


async def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # This runs in a worker thread, outside the request cycle that would return it.
        connection.close()
    return OK


async def check_database() -> str:
    return await sync_to_async(_check_database, thread_sensitive=False)()


async def check_redis() -> str:
    """PING every Redis server of the channel layer, on connections of the layer's own pools.

    Not a round trip through a process-local channel (`health.…!…`): receiving on one waits
    behind the receive lock that the process's open sockets hold while they wait for messages.
    """
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("No channel layer is configured.")
    if not isinstance(layer, RedisChannelLayer):
        return await check_embedded_layer(layer)
    await asyncio.gather(*(layer.connection(index).ping() for index in range(layer.ring_size)))
    return OK


async def check_embedded_layer(layer: BaseChannelLayer) -> str:
    """A round trip through the in-memory layer: send to a fresh channel and receive it back."""
    channel = await layer.new_channel("health.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("The channel layer returned a different message.")
    return EMBEDDED


def _check_broker() -> str:
    if celery_app.conf.broker_url.startswith("memory://"):
        return EMBEDDED
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
    return OK


async def check_broker() -> str:
    return await sync_to_async(_check_broker, thread_sensitive=False)()


def _check_storage() -> str:
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        # S3: proves the endpoint, the credentials and the bucket with one HEAD request.
        bucket.meta.client.head_bucket(Bucket=bucket.name)
        return OK
    location = Path(default_storage.location)
    writable = location if location.exists() else location.parent
    if not os.access(writable, os.W_OK):
        raise PermissionError(f"{writable} is not writable")
    return OK


async def check_storage() -> str:
    return await sync_to_async(_check_storage, thread_sensitive=False)()


CHECKS: dict[str, Callable[[], Awaitable[str]]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
    "storage": check_storage,
}


async def run_check(check: Callable[[], Awaitable[str]]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        state = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
        error = None
    except TimeoutError:
        state, error = DOWN, f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "down"
        state, error = DOWN, f"{type(exc).__name__}: {exc}"
    result: dict[str, object] = {
        "state": state,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if error is not None:
        result["error"] = error if settings.DEBUG else type_of(error)
    return result


def type_of(error: str) -> str:
    """In production the check names the kind of failure, not the internal message."""
    return error.split(":", 1)[0]


async def ready(request: HttpRequest) -> JsonResponse:
    results = await asyncio.gather(*(run_check(check) for check in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    down = [name for name, result in checks.items() if result["state"] == DOWN]
    body = {"status": "unavailable" if down else "ready", "checks": checks, "down": down}
    return JsonResponse(body, status=503 if down else 200)
