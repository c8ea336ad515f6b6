import json

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from p2p_sandbox.asgi import application


async def test_websocket_health_answers_ping_from_an_allowed_origin() -> None:
    communicator = WebsocketCommunicator(
        application,
        "/ws/health/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected is True
    try:
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "shout"})
        error = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()

    assert pong == {"type": "pong"}
    assert error == {"type": "error", "code": "unknown_type"}


async def test_websocket_from_a_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application,
        "/ws/health/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"testserver")],
    )
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()

    assert connected is False


@pytest.mark.django_db(transaction=True)
def test_daphne_serves_health_over_http(asgi_server: object) -> None:
    response = httpx.get(f"{asgi_server.url}/health", timeout=10)  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "healthy", "async": True}


@pytest.mark.django_db(transaction=True)
async def test_daphne_websocket_is_open_to_its_origin_and_closed_to_a_foreign_one(
    asgi_server: object,
) -> None:
    url = f"{asgi_server.ws_url}/ws/health/"  # type: ignore[attr-defined]

    async with connect(url, origin=asgi_server.url, open_timeout=10) as socket:  # type: ignore[attr-defined]
        await socket.send(json.dumps({"type": "ping"}))
        pong = json.loads(await socket.recv())
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, origin="https://evil.example", open_timeout=10):
            pass

    assert pong == {"type": "pong"}
    assert refused.value.response.status_code == 403
