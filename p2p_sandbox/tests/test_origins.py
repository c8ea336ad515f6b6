import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from p2p_sandbox.origins import origin_allowed

TIMEOUT = 10


def handshake(origin: str | None, host: str = "testserver", **extra: str) -> dict[str, Any]:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": "ws", "path": "/ws/health/", "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://testserver", "testserver"),
        ("http://localhost:8000", "localhost:8000"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
    ],
)
def test_origin_allowed_accepts_the_requests_own_origin(origin: str, host: str) -> None:
    assert origin_allowed(handshake(origin, host)) is True


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://localhost:9999", "localhost:8000"),
        ("http://localhost", "localhost:8000"),
        ("http://localhost:8000", "localhost"),
        ("https://localhost:8000", "localhost:8000"),
        ("http://evil.example", "testserver"),
        ("http://testserver.evil.example", "testserver"),
        ("null", "testserver"),
    ],
)
def test_origin_allowed_refuses_another_scheme_host_or_port(origin: str, host: str) -> None:
    assert origin_allowed(handshake(origin, host)) is False


def test_origin_allowed_refuses_a_handshake_without_origin() -> None:
    assert origin_allowed(handshake(None)) is False


def test_origin_allowed_refuses_a_host_outside_allowed_hosts() -> None:
    assert origin_allowed(handshake("http://evil.example", "evil.example")) is False


def test_origin_allowed_refuses_two_origin_headers() -> None:
    scope = handshake("http://testserver")
    scope["headers"].append((b"origin", b"http://testserver"))

    assert origin_allowed(scope) is False


def test_origin_allowed_takes_https_from_a_secure_socket_or_the_trusted_proxy_header() -> None:
    secure_socket = {**handshake("https://testserver"), "scheme": "wss"}
    behind_proxy = handshake("https://testserver", **{"x-forwarded-proto": "https"})
    plain_origin_behind_proxy = handshake("http://testserver", **{"x-forwarded-proto": "https"})

    assert origin_allowed(secure_socket) is True
    assert origin_allowed(behind_proxy) is True
    assert origin_allowed(plain_origin_behind_proxy) is False


def test_origin_allowed_accepts_csrf_trusted_origins(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.partner.example"]

    assert origin_allowed(handshake("https://app.example.com")) is True
    assert origin_allowed(handshake("https://eu.partner.example")) is True
    assert origin_allowed(handshake("https://partner.example")) is True
    assert origin_allowed(handshake("http://app.example.com")) is False
    assert origin_allowed(handshake("https://app.example.com:8443")) is False
    assert origin_allowed(handshake("https://evilpartner.example")) is False


@pytest.mark.django_db(transaction=True)
async def test_daphne_websocket_refuses_its_host_on_another_port(asgi_server: Any) -> None:
    url = f"{asgi_server.ws_url}/ws/health/"
    port = int(asgi_server.url.rsplit(":", 1)[1])

    refused = []
    for origin in ("http://localhost:9999", f"http://127.0.0.1:{port + 1}", "http://127.0.0.1"):
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(url, origin=origin, open_timeout=TIMEOUT):  # type: ignore[arg-type]
                pass
        refused.append(refusal.value.response.status_code)
    async with connect(url, origin=asgi_server.url, open_timeout=TIMEOUT) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        pong = json.loads(await socket.recv())

    assert refused == [403, 403, 403]
    assert pong == {"type": "pong"}
