"""Helpers for tests that start real processes: free ports, waiting with a deadline, children
that run on the test database."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 30.0


def port_open(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    default_port = 5432 if parts.scheme.startswith("postgres") else 6379
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=timeout
        ):
            return True
    except OSError:
        return False


def redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.password, "***") if parts.password else url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, message: str) -> None:
    """Poll `condition` until it holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.05)


def wait_for_health(running: "RunningProcess", url: str, *, name: str) -> None:
    """Until the server at `url` answers GET /health with 200; its log in the error if the
    process exits first."""

    def answers() -> bool:
        if running.process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{running.log()}")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answers, timeout=SERVER_START_TIMEOUT, message=f"{name} did not start")


def child_database_url(application_name: str = "p2p-test-child") -> str:
    """A DATABASE_URL for the test database, for processes the tests start."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}?application_name={application_name}"


@dataclass
class RunningProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_process(args: list[str], *, env: dict[str, str], log_path: Path) -> RunningProcess:
    with log_path.open("w") as log_file:  # the child keeps its own copy of the handle
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    return RunningProcess(process, log_path)


def process_env(application_name: str, **overrides: str) -> dict[str, str]:
    """The test run's environment for a child process, on the test database.

    On PostgreSQL the child's connections carry `application_name`, so a test can wait for
    exactly them to close.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "p2p_sandbox.settings_test",
        "DATABASE_URL": child_database_url(application_name),
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


@dataclass
class RedisServer:
    """A Redis server of a test's own, on a free port, without persistence: a restart starts it
    empty, as a Redis that lost its memory does."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    running: RunningProcess | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.starts += 1
        executable = shutil.which("redis-server") or "redis-server"
        self.running = start_process(
            [executable, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            env={"PATH": os.environ.get("PATH", os.defpath)},
            log_path=self.log_dir / f"redis-{self.port}-{self.starts}.log",
        )
        wait_until(self.answers, timeout=SERVER_START_TIMEOUT, message="Redis did not start")

    def stop(self) -> None:
        """Stop the server and wait until its port refuses connections."""
        if self.running is not None:
            self.running.stop()
            self.running = None
        wait_until(
            lambda: not port_open(self.url, timeout=0.5), timeout=10, message="Redis still answers"
        )


@contextmanager
def redis_server(log_dir: Path) -> Iterator[RedisServer]:
    """A started RedisServer, stopped when the block ends."""
    server = RedisServer(log_dir)
    server.start()
    try:
        yield server
    finally:
        if server.running is not None:
            server.running.stop()


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Send tasks to the broker at `url` (not in-process) until the block ends."""
    from p2p_sandbox.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = url, False
    app._after_fork()  # drops the producer pool connected to the previous broker
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        app._after_fork()


def wait_for_child_connections_to_close(application_name: str, timeout: float = 10.0) -> None:
    """After stopping a child process, wait until PostgreSQL has ended its sessions.

    A stopped process's backends linger for a moment; dropping the test database while they do
    fails.
    """
    if connection.vendor != "postgresql":
        return

    def others() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [application_name],
            )
            return cursor.fetchone()[0]

    wait_until(lambda: others() == 0, timeout=timeout, message="child sessions did not close")
