import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from accounts import services as account_services
from p2p_sandbox.asgi import application
from p2p_sandbox.body_limits import BodySizeLimit, body_limit_for
from p2p_sandbox.testing import (
    BIN,
    free_port,
    process_env,
    start_process,
    wait_for_child_connections_to_close,
    wait_for_health,
)
from usecases.media import max_bytes_for
from usecases.models import Media
from usecases.tests.factories import UseCaseFactory
from usecases.tests.test_media import mp4

LOGIN = "/api/v1/auth/login"
CHUNK = 64 * 1024


class Recorder:
    """An ASGI application that records whether it was called and what it read."""

    def __init__(self) -> None:
        self.called = False
        self.read: list[dict] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.read.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, path: str, chunks: list[bytes], *, length: int | None) -> tuple:
    """Run `app` on a POST to `path` whose body arrives in `chunks`; answer what was sent and
    how many chunks were received."""
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    scope |= {"query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1"}
    scope |= {"server": ("testserver", 80), "client": ("127.0.0.1", 5000)}
    pending = list(chunks)
    received = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal received
        if not pending:
            await asyncio.Event().wait()  # like a client that sends nothing more
        received += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent, received


def answer(sent: list[dict]) -> tuple[int, dict[bytes, bytes], bytes]:
    start, *bodies = sent
    return start["status"], dict(start["headers"]), b"".join(m["body"] for m in bodies)


# The wrapper, called directly


async def test_body_size_limit_refuses_a_declared_length_over_the_limit_without_reading() -> None:
    inner = Recorder()
    limit = django_settings.REQUEST_BODY_MAX_BYTES

    sent, received = await call(BodySizeLimit(inner), LOGIN, [b"{}"], length=limit + 1)

    status, headers, body = answer(sent)
    assert (status, headers[b"content-type"]) == (413, b"application/json")
    assert json.loads(body) == {"detail": "The request body is too large.", "code": "too_large"}
    assert (inner.called, received) == (False, 0)


async def test_body_size_limit_answers_pages_in_plain_text() -> None:
    inner = Recorder()
    limit = django_settings.REQUEST_BODY_MAX_BYTES

    sent, received = await call(BodySizeLimit(inner), "/forums/new/", [b""], length=limit + 1)

    status, headers, body = answer(sent)
    assert (status, headers[b"content-type"], body) == (
        413,
        b"text/plain; charset=utf-8",
        b"The request body is too large.",
    )
    assert (inner.called, received) == (False, 0)


async def test_body_size_limit_lets_a_body_at_the_limit_through() -> None:
    inner = Recorder()
    limit = django_settings.REQUEST_BODY_MAX_BYTES
    chunks = [b"x" * (limit - 10), b"y" * 10]

    sent, received = await call(BodySizeLimit(inner), LOGIN, chunks, length=limit)

    assert answer(sent) == (200, {}, b"ok")
    assert (inner.called, received, sum(len(m["body"]) for m in inner.read)) == (True, 2, limit)


async def test_body_size_limit_stops_reading_a_streamed_body_at_the_limit() -> None:
    """Through the real application: Django sees a disconnect and answers nothing itself."""
    limit = django_settings.REQUEST_BODY_MAX_BYTES
    chunks = [b"x" * CHUNK] * (limit // CHUNK + 50)

    sent, received = await call(application, LOGIN, chunks, length=None)

    status, _, body = answer(sent)
    assert (status, json.loads(body)["code"]) == (413, "too_large")
    assert received == limit // CHUNK + 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/use-cases/12/media", "MEDIA_UPLOAD_REQUEST_MAX_BYTES"),
        ("/use-cases/12/edit/3/", "MEDIA_UPLOAD_REQUEST_MAX_BYTES"),
        ("/use-cases/12/edit/2/", "REQUEST_BODY_MAX_BYTES"),
        ("/api/v1/use-cases/12/media/extra", "REQUEST_BODY_MAX_BYTES"),
        ("/api/v1/users/me/avatar", "REQUEST_BODY_MAX_BYTES"),
    ],
)
def test_body_limit_for_paths(path: str, expected: str) -> None:
    assert body_limit_for(path) == getattr(django_settings, expected)


def test_body_limits_allow_what_the_uploads_allow() -> None:
    largest_file = max(max_bytes_for(kind) for kind in Media.Kind.values)

    uploads = Media.MAX_PER_USE_CASE * largest_file
    form_and_image = (
        django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + django_settings.IMAGE_UPLOAD_MAX_BYTES
    )

    assert uploads < django_settings.MEDIA_UPLOAD_REQUEST_MAX_BYTES
    assert form_and_image < django_settings.REQUEST_BODY_MAX_BYTES


# Real servers


@pytest.fixture(scope="module")
def uvicorn_url(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The application under uvicorn, which streams bodies to the application as they arrive
    (Daphne receives a whole body before it calls the application)."""
    port = free_port()
    with django_db_blocker.unblock():
        env = process_env("p2p-test-uvicorn")
    running = start_process(
        [
            *(str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port)),
            *("--no-access-log", "--lifespan", "off", "p2p_sandbox.asgi:application"),
        ],
        env=env,
        log_path=tmp_path_factory.mktemp("uvicorn") / "uvicorn.log",
    )
    url = f"http://127.0.0.1:{port}"

    try:
        wait_for_health(running, url, name="uvicorn")
        yield url
    finally:
        running.stop()
        with django_db_blocker.unblock():
            wait_for_child_connections_to_close("p2p-test-uvicorn")


async def raw_post(url: str, head: bytes, body_parts: Any) -> bytes:
    """Send a request head and then `body_parts` while reading the answer; the sender stops
    quietly when the server closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def send_body() -> None:
        try:
            writer.write(head)
            for part in body_parts:
                writer.write(part)
                await writer.drain()
        except ConnectionError:
            pass

    sender = asyncio.create_task(send_body())
    try:
        head_of_answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head_of_answer.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await asyncio.wait_for(reader.readexactly(length), timeout=10)
    finally:
        sender.cancel()
        writer.close()
    return head_of_answer + body


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.services
async def test_uvicorn_refuses_a_huge_declared_length_at_once(uvicorn_url: str) -> None:
    head = request_head(LOGIN, {"Content-Length": str(200 * 1024 * 1024)})

    response = await raw_post(uvicorn_url, head, [b'{"email": "a@b.example"}'])

    status_line, _, body = response.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["code"] == "too_large"


def chunked(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        sent += CHUNK
        yield f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.mark.services
async def test_uvicorn_cuts_off_a_chunked_body_over_the_limit(uvicorn_url: str) -> None:
    head = request_head(LOGIN, {"Transfer-Encoding": "chunked"})

    # Far more than the limit: the answer must come while the body is still being sent.
    response = await raw_post(uvicorn_url, head, chunked(1024 * 1024 * 1024))

    status_line, _, body = response.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["code"] == "too_large"


@pytest.mark.services
async def test_daphne_refuses_a_chunked_body_over_the_limit(asgi_server: Any) -> None:
    head = request_head(LOGIN, {"Transfer-Encoding": "chunked"})
    total = django_settings.REQUEST_BODY_MAX_BYTES + CHUNK

    response = await raw_post(asgi_server.url, head, chunked(total))

    status_line, _, body = response.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["code"] == "too_large"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_media_upload_over_the_default_limit_still_works(
    server: str, request: pytest.FixtureRequest, user_factory: Any
) -> None:
    url = request.getfixturevalue("asgi_server").url if server == "daphne" else None
    url = url or request.getfixturevalue("uvicorn_url")
    author = await sync_to_async(user_factory)()
    use_case = await sync_to_async(UseCaseFactory)(author=author, draft=True)
    _, token = await sync_to_async(account_services.create_api_token)(actor=author, name="big")
    video = mp4(payload=django_settings.REQUEST_BODY_MAX_BYTES + CHUNK).read()

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post(
            f"/api/v1/use-cases/{use_case.pk}/media",
            files={"files": ("line.mp4", video, "video/mp4")},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert response.status_code == 201
    stored = await Media.objects.aget(use_case=use_case)
    assert (stored.kind, stored.size_bytes) == ("video", len(video))


def test_asgi_application_wraps_http_in_the_body_size_limit() -> None:
    assert isinstance(application.application_mapping["http"], BodySizeLimit)
