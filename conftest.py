"""Fixtures shared by every app's tests: real servers started as processes.

With CI=true, PostgreSQL and Redis are required: a run without them stops at once, loudly,
instead of skipping the tests that need them.
"""

import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.test import Client

from accounts.tests.factories import OrganizationFactory, UserFactory
from p2p_sandbox.testing import (
    BIN,
    SERVER_START_TIMEOUT,
    RunningProcess,
    free_port,
    port_open,
    process_env,
    redact,
    start_process,
    wait_for_child_connections_to_close,
    wait_for_health,
    wait_until,
)


def pytest_configure(config: pytest.Config) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if os.environ.get("CI") == "true":
        missing = []
        if not database_url.startswith("postgres"):
            missing.append("DATABASE_URL is not a postgres:// URL")
        if not redis_url:
            missing.append("REDIS_URL is not set")
        if missing:
            pytest.exit("CI needs PostgreSQL and Redis: " + "; ".join(missing), returncode=3)
    for name, url in (("PostgreSQL", database_url), ("Redis", redis_url)):
        if url.startswith(("postgres", "redis")) and not port_open(url):
            pytest.exit(
                f"{name} is not reachable at {redact(url)}. Start it (README: 'Tests'), or run "
                "`make test-embedded` on a machine with no servers.",
                returncode=3,
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    from django.conf import settings

    if settings.configured and getattr(settings, "TEST_MEDIA_ROOT_OWNED", False):
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_services = os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(
        os.environ.get("REDIS_URL")
    )
    if has_services:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis (run `make test`)")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def close_connections_of_the_sync_to_async_thread() -> Iterator[None]:
    """Async tests reach the ORM through asgiref's shared thread, whose connection pytest-django
    never closes: it would outlive the test database."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture
def organization_factory(db: None) -> type[OrganizationFactory]:
    return OrganizationFactory


@pytest.fixture
def user_factory(db: None) -> type[UserFactory]:
    return UserFactory


class JsonClient:
    """Django's test client speaking JSON, running on-commit callbacks (events, emails) as a
    committed request would."""

    def __init__(self, client: Client, capture: object) -> None:
        self.client = client
        self.capture = capture

    def request(self, method: str, path: str, data: object = None, **extra: object) -> object:
        with self.capture(execute=True):  # type: ignore[operator]
            return getattr(self.client, method)(
                path, data, content_type="application/json", **extra
            )

    def get(self, path: str, data: object = None, **extra: object) -> object:
        return self.client.get(path, data, **extra)

    def post(self, path: str, data: object = None, **extra: object) -> object:
        return self.request("post", path, data, **extra)

    def patch(self, path: str, data: object = None, **extra: object) -> object:
        return self.request("patch", path, data, **extra)

    def delete(self, path: str, **extra: object) -> object:
        return self.request("delete", path, None, **extra)

    def upload(self, path: str, files: dict, **extra: object) -> object:
        with self.capture(execute=True):  # type: ignore[operator]
            return self.client.post(path, files, **extra)


@pytest.fixture
def api(client: Client, django_capture_on_commit_callbacks: object) -> JsonClient:
    return JsonClient(client, django_capture_on_commit_callbacks)


@dataclass
class AsgiServer:
    url: str
    running: RunningProcess

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture(scope="session")
def asgi_server(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiServer]:
    """The real ASGI application under Daphne, on a free port, using the test database.

    Tests that create rows for it to see must use `transaction=True` so the rows are committed.
    """
    port = free_port()
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        env = process_env("p2p-test-daphne")
    running = start_process(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "p2p_sandbox.asgi:application"],
        env=env,
        log_path=tmp_path_factory.mktemp("daphne") / "daphne.log",
    )
    server = AsgiServer(f"http://127.0.0.1:{port}", running)

    try:
        wait_for_health(running, server.url, name="Daphne")
        yield server
    finally:
        running.stop()
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            wait_for_child_connections_to_close("p2p-test-daphne")


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self._changed:
            self.messages.append(envelope)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, *, timeout: float) -> list:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.messages)} of {count} emails arrived")
            return list(self.messages)


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    """A real SMTP server (aiosmtpd) on a free local port, collecting what it receives."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox("127.0.0.1", free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def celery_worker_process(
    tmp_path: Path, smtp_inbox: SmtpInbox, transactional_db: None
) -> Iterator[RunningProcess]:
    """A real Celery worker process on the Redis broker, sending email to `smtp_inbox`.

    While it runs, tasks queued by the test go to the broker instead of running in-process.
    """
    from p2p_sandbox.celery import app as celery_app

    env = process_env(
        "p2p-test-celery",
        EMAIL_HOST=smtp_inbox.host,
        EMAIL_PORT=str(smtp_inbox.port),
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    )
    running = start_process(
        [
            str(BIN / "celery"),
            "-A",
            "p2p_sandbox",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        env=env,
        log_path=tmp_path / "celery-worker.log",
    )
    celery_app.conf.task_always_eager = False
    try:
        yield running
    finally:
        celery_app.conf.task_always_eager = True
        running.stop()
        wait_for_child_connections_to_close("p2p-test-celery")


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[str]:
    """A local S3-compatible server (moto in server mode); yields its endpoint URL."""
    port = free_port()
    running = start_process(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        log_path=tmp_path / "moto.log",
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if running.process.poll() is not None:
            raise RuntimeError(f"moto_server exited early:\n{running.log()}")
        try:
            httpx.get(endpoint, timeout=1)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, timeout=SERVER_START_TIMEOUT, message="moto_server did not start")
        yield endpoint
    finally:
        running.stop()


CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_INSTALLED = CHROMIUM.exists()
# Without these, Chromium reaches out to Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class BrowserPage:
    """A Playwright page plus every console error and uncaught exception it reported."""

    page: object
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def browser_page(asgi_server: object) -> AsyncIterator[BrowserPage]:
    """A page in Debian's Chromium (driven by Playwright's async API), with its errors recorded.

    The async API keeps Django's ORM usable in the test: call it through `sync_to_async` or the
    `a`-methods while the browser is open.
    """
    from playwright.async_api import async_playwright

    if not CHROMIUM_INSTALLED:
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make test` (it installs chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(base_url=asgi_server.url)  # type: ignore[attr-defined]
        page = await context.new_page()
        recorded = BrowserPage(page)
        page.on(
            "console",
            lambda message: message.type == "error" and recorded.errors.append(message.text),
        )
        page.on("pageerror", lambda error: recorded.errors.append(str(error)))
        try:
            yield recorded
        finally:
            await browser.close()
