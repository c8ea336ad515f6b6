"""The raw ASGI baseline: the bytes and Content-Type of the project's `/health`, no framework.

With BENCH_RAW_ROUTE naming a JSON file {"path", "content_type", "body"} (the authread
scenario's), it also answers GET on that path with those bytes, read once at start.
"""

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]

BODY = b'{"status": "healthy", "async": true}'


def _headers(content_type: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]


def _routes() -> dict[str, tuple[list[tuple[bytes, bytes]], bytes]]:
    routes = {"/health": (_headers(b"application/json", BODY), BODY)}
    if route_file := os.environ.get("BENCH_RAW_ROUTE"):
        with open(route_file) as source:
            route = json.load(source)
        body = route["body"].encode()
        routes[route["path"]] = (_headers(route["content_type"].encode(), body), body)
    return routes


ROUTES = _routes()
NOT_FOUND_HEADERS = _headers(b"text/plain", b"Not Found")


async def application(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    route = ROUTES.get(scope["path"])
    if route is not None:
        await send({"type": "http.response.start", "status": 200, "headers": route[0]})
        await send({"type": "http.response.body", "body": route[1]})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": NOT_FOUND_HEADERS})
        await send({"type": "http.response.body", "body": b"Not Found"})
