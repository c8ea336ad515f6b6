"""Two real Daphne processes behind the real HAProxy, configured from deploy/haproxy.cfg.

The test configuration adds `X-Served-By: <backend>` to every response (also to a WebSocket's
101), so each test proves which process answered.
"""

import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from accounts.tests.factories import PASSWORD
from forums.models import Post
from forums.tests.factories import CategoryFactory
from p2p_sandbox.balancer import (
    DEFAULT_SERVER,
    Backend,
    backends_for,
    default_check_host,
    haproxy_command,
    render_config,
    web_command,
)
from p2p_sandbox.testing import (
    SERVER_START_TIMEOUT,
    RunningProcess,
    free_port,
    process_env,
    start_process,
    wait_for_child_connections_to_close,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10
SERVED_BY = "X-Served-By"
HAPROXY = shutil.which("haproxy")


@dataclass
class Balanced:
    url: str
    haproxy: RunningProcess
    web: dict[str, RunningProcess]
    backends: list[Backend]

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


def answers(url: str, running: RunningProcess, name: str) -> bool:
    if running.process.poll() is not None:
        raise RuntimeError(f"{name} exited early:\n{running.log()}")
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def served_by(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/health", timeout=1).headers.get(SERVED_BY)
    except httpx.TransportError:
        return None


def start_balanced(log_dir: Path, application_prefix: str) -> Balanced:
    if HAPROXY is None:
        pytest.fail("haproxy is missing: run `make test` (it installs Debian's haproxy)")
    backends = backends_for(2, free_port())
    # Two free ports, not consecutive: the launcher's first port + index is for production.
    backends[1] = Backend(backends[1].name, free_port())
    started: list[RunningProcess] = []
    try:
        return start_processes(log_dir, application_prefix, backends, started)
    except BaseException:
        for running in started:
            running.stop()
        raise


def start_processes(
    log_dir: Path, application_prefix: str, backends: list[Backend], started: list[RunningProcess]
) -> Balanced:
    web: dict[str, RunningProcess] = {}
    for backend in backends:
        name = f"{application_prefix}-{backend.name}"
        running = start_process(
            web_command(DEFAULT_SERVER, backend.port),
            env=process_env(name),
            log_path=log_dir / f"{name}.log",
        )
        web[backend.name] = running
        started.append(running)
    for backend in backends:
        wait_until(
            lambda backend=backend: answers(
                f"http://{backend.address}/health", web[backend.name], backend.name
            ),
            timeout=SERVER_START_TIMEOUT,
            message=f"{backend.name} did not start",
        )
    port = free_port()
    config = log_dir / "haproxy.cfg"
    config.write_text(
        render_config(
            bind=f"127.0.0.1:{port}",
            backends=backends,
            check_host="localhost",
            served_by_header=True,
        )
    )
    haproxy = start_process(
        haproxy_command(config), env=dict(os.environ), log_path=log_dir / "haproxy.log"
    )
    started.append(haproxy)
    balanced = Balanced(f"http://127.0.0.1:{port}", haproxy, web, backends)
    seen: set[str] = set()

    def both_backends_answer() -> bool:
        if haproxy.process.poll() is not None:
            raise RuntimeError(f"haproxy exited early:\n{haproxy.log()}")
        seen.add(served_by(balanced.url) or "")
        return {"web1", "web2"} <= seen

    wait_until(
        both_backends_answer, timeout=SERVER_START_TIMEOUT, message="haproxy did not balance"
    )
    return balanced


def stop_balanced(balanced: Balanced, application_prefix: str) -> None:
    balanced.haproxy.stop()
    for running in balanced.web.values():
        running.stop()
    for name in balanced.web:
        wait_for_child_connections_to_close(f"{application_prefix}-{name}")


@pytest.fixture(scope="module")
def balanced(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Balanced]:
    with django_db_blocker.unblock():
        started = start_balanced(tmp_path_factory.mktemp("balanced"), "p2p-test-lb")
    try:
        yield started
    finally:
        with django_db_blocker.unblock():
            stop_balanced(started, "p2p-test-lb")


@pytest.fixture
def balanced_to_break(
    django_db_setup: None, django_db_blocker: Any, tmp_path: Path
) -> Iterator[Balanced]:
    """A set of its own: the test kills one of its processes."""
    with django_db_blocker.unblock():
        started = start_balanced(tmp_path, "p2p-test-lb-kill")
    try:
        yield started
    finally:
        with django_db_blocker.unblock():
            stop_balanced(started, "p2p-test-lb-kill")


def open_socket(balanced: Balanced, path: str, session: str | None = None) -> Any:
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"} if session else {}
    return connect(
        f"{balanced.ws_url}{path}",
        origin=balanced.url,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=TIMEOUT,
    )


def socket_served_by(socket: ClientConnection) -> str | None:
    assert socket.response is not None
    return socket.response.headers.get(SERVED_BY)


async def receive_type(socket: ClientConnection, frame_type: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT))
        if frame["type"] == frame_type:
            return frame


def test_render_config_lists_every_backend_and_checks_liveness() -> None:
    config = render_config(
        bind="0.0.0.0:8000", backends=backends_for(3, 8001), check_host="p2p.example"
    )

    server_lines = [line.strip() for line in config.splitlines() if "server web" in line]
    assert server_lines == [
        "server web1 127.0.0.1:8001",
        "server web2 127.0.0.1:8002",
        "server web3 127.0.0.1:8003",
    ]
    assert "    bind 0.0.0.0:8000\n" in config
    assert "uri /health ver HTTP/1.1 hdr Host p2p.example" in config
    assert SERVED_BY not in config
    assert "stats socket" not in config


def test_render_config_refuses_no_backend() -> None:
    with pytest.raises(ValueError, match="At least one backend"):
        render_config(bind="0.0.0.0:8000", backends=[], check_host="p2p.example")


def test_default_check_host_is_the_first_concrete_allowed_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "*, .p2p.example,www.p2p.example")

    assert default_check_host() == "p2p.example"


def test_balancer_session_made_through_one_process_is_valid_on_the_other(
    balanced: Balanced, user_factory: Any
) -> None:
    user = user_factory()

    with httpx.Client(base_url=balanced.url, timeout=TIMEOUT) as client:
        login = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        reads = [client.get("/api/v1/users/me") for _ in range(4)]

    assert login.status_code == 200
    assert settings.SESSION_COOKIE_NAME in login.cookies
    assert [read.status_code for read in reads] == [200, 200, 200, 200]
    assert [read.json()["email"] for read in reads] == [user.email] * 4
    answered = [login.headers[SERVED_BY], *(read.headers[SERVED_BY] for read in reads)]
    # Round robin, no stickiness: every request goes to the other process.
    assert answered in (
        ["web1", "web2", "web1", "web2", "web1"],
        ["web2", "web1", "web2", "web1", "web2"],
    )


def test_balancer_replaces_the_clients_forwarded_headers(balanced: Balanced) -> None:
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    direct_url = f"http://{balanced.backends[0].address}/health"

    through_balancer = httpx.get(f"{balanced.url}/health", headers=spoofed, timeout=TIMEOUT)
    direct = httpx.get(direct_url, headers=spoofed, timeout=TIMEOUT)

    # HSTS is sent only on a request Django takes for https (SECURE_PROXY_SSL_HEADER): the
    # balancer says http, whatever the client claimed.
    assert through_balancer.status_code == 200
    assert "Strict-Transport-Security" not in through_balancer.headers
    assert direct.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


async def test_balancer_carries_a_websocket_end_to_end(balanced: Balanced) -> None:
    async with open_socket(balanced, "/ws/health/") as socket:
        await socket.send(json.dumps({"type": "ping"}))
        pong = json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT))
        await socket.send(json.dumps({"type": "shout"}))
        error = json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT))

    assert socket_served_by(socket) in {"web1", "web2"}
    assert pong == {"type": "pong"}
    assert error == {"type": "error", "code": "unknown_type"}


async def test_balancer_post_on_one_process_reaches_a_viewer_on_the_other(
    balanced: Balanced, user_factory: Any
) -> None:
    from forums import services

    author = await sync_to_async(user_factory)()
    viewer = await sync_to_async(user_factory)(organization=author.organization)
    category = await sync_to_async(CategoryFactory)()
    topic = await sync_to_async(services.create_topic)(
        actor=author, category=category, title="Which gearbox for the conveyor?"
    )
    csrf_token = secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=balanced.url, timeout=TIMEOUT) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"email": viewer.email, "password": PASSWORD}
        )
        session = login.cookies[settings.SESSION_COOKIE_NAME]
        # Two viewers through the balancer land on the two processes.
        async with (
            open_socket(balanced, f"/ws/forum/{topic.pk}/", session) as first,
            open_socket(balanced, f"/ws/forum/{topic.pk}/", session) as second,
        ):
            await receive_type(first, "presence")
            await receive_type(second, "presence")
            http.cookies.set(settings.CSRF_COOKIE_NAME, csrf_token)
            response = await http.post(
                f"/api/v1/forums/topics/{topic.pk}/posts",
                json={"content": "A **helical** one, sent through the balancer"},
                headers={"X-CSRFToken": csrf_token},
            )
            on_first = await receive_type(first, "post_created")
            on_second = await receive_type(second, "post_created")

    sockets_on = {socket_served_by(first), socket_served_by(second)}
    post = await Post.objects.aget(topic=topic)
    assert response.status_code == 201
    assert sockets_on == {"web1", "web2"}
    assert response.headers[SERVED_BY] in sockets_on
    assert on_first["post"]["id"] == on_second["post"]["id"] == response.json()["id"] == post.pk
    assert on_first["post"]["content_html"] == (
        "<p>A <strong>helical</strong> one, sent through the balancer</p>"
    )


async def test_balancer_routes_around_a_killed_process(balanced_to_break: Balanced) -> None:
    balanced = balanced_to_break
    async with open_socket(balanced, "/ws/health/") as on_first:
        async with open_socket(balanced, "/ws/health/") as on_second:
            victim = socket_served_by(on_second)
            survivor = socket_served_by(on_first)
            balanced.web[victim].process.send_signal(signal.SIGKILL)
            balanced.web[victim].process.wait(timeout=TIMEOUT)
            async with httpx.AsyncClient(base_url=balanced.url, timeout=TIMEOUT) as http:
                after = [await http.get("/health") for _ in range(6)]
            async with open_socket(balanced, "/ws/health/") as reconnected:
                await reconnected.send(json.dumps({"type": "ping"}))
                pong = json.loads(await asyncio.wait_for(reconnected.recv(), timeout=TIMEOUT))
        await on_first.send(json.dumps({"type": "ping"}))
        still_there = json.loads(await asyncio.wait_for(on_first.recv(), timeout=TIMEOUT))

    assert {victim, survivor} == {"web1", "web2"}
    assert [response.status_code for response in after] == [200] * 6
    assert [response.headers[SERVED_BY] for response in after] == [survivor] * 6
    assert socket_served_by(reconnected) == survivor
    assert pong == {"type": "pong"}
    assert still_there == {"type": "pong"}


def port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_balancer_launcher_serves_through_haproxy_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    backend_ports = [free_port(), free_port()]
    backend_ports = [min(backend_ports), min(backend_ports) + 1]
    launcher = start_process(
        [
            sys.executable,
            "-m",
            "p2p_sandbox.balancer",
            "--processes",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--first-backend-port",
            str(backend_ports[0]),
        ],
        env=process_env("p2p-test-lb-launcher", ALLOWED_HOSTS="localhost,127.0.0.1"),
        log_path=tmp_path / "launcher.log",
    )
    try:
        wait_until(
            lambda: answers(f"http://127.0.0.1:{port}/health/ready", launcher, "the launcher"),
            timeout=SERVER_START_TIMEOUT,
            message="the launcher did not serve",
        )
        direct = [httpx.get(f"http://127.0.0.1:{p}/health", timeout=TIMEOUT) for p in backend_ports]
        launcher.process.send_signal(signal.SIGTERM)
        status = launcher.process.wait(timeout=TIMEOUT * 2)
    finally:
        launcher.stop()
        wait_for_child_connections_to_close("p2p-test-lb-launcher")

    assert [response.status_code for response in direct] == [200, 200]
    assert status == 0
    assert [port_closed(p) for p in (port, *backend_ports)] == [True, True, True]
