"""A Celery worker killed with SIGKILL in the middle of processing a media and of sending an
email: with a new worker and the real beat schedule, both are done within 2 minutes.

The production timeouts and intervals are used as they are (MEDIA_REQUEUE_AFTER,
MEDIA_SWEEP_INTERVAL, OUTBOX_CLAIM_TIMEOUT, OUTBOX_RELAY_INTERVAL), so the test takes about
as long as a real recovery.
"""

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from messaging.models import StreamEvent
from p2p_sandbox import emails
from p2p_sandbox.models import OutboundEmail
from p2p_sandbox.testing import (
    BIN,
    RunningProcess,
    free_port,
    process_env,
    start_process,
    wait_for_child_connections_to_close,
    wait_until,
)
from p2p_sandbox.tests.test_emails import CONTEXT
from usecases.media import add_media
from usecases.models import Media
from usecases.tests.factories import UseCaseFactory
from usecases.tests.test_media import png

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

RECOVERY_LIMIT = 120.0
RECOVERY_LIMIT_DELTA = timedelta(seconds=RECOVERY_LIMIT)
APPLICATION_NAME = "p2p-test-fault"


@dataclass
class HoldingSmtp:
    """An SMTP server that never answers the first message's DATA (its sender is killed while
    it waits) and accepts the others."""

    host: str
    port: int
    held: threading.Event = field(default_factory=threading.Event)
    delivered: list = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        if not self.held.is_set():
            self.held.set()
            await asyncio.Event().wait()
        with self._changed:
            self.delivered.append(envelope)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for_delivery(self, *, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.delivered, timeout=timeout):
                raise TimeoutError("the email did not arrive")


@pytest.fixture
def holding_smtp() -> Iterator[HoldingSmtp]:
    from aiosmtpd.controller import Controller

    smtp = HoldingSmtp("127.0.0.1", free_port())
    controller = Controller(smtp, hostname=smtp.host, port=smtp.port)
    controller.start()
    try:
        yield smtp
    finally:
        controller.stop()


@pytest.fixture
def start_celery(tmp_path: Path, holding_smtp: HoldingSmtp) -> Iterator[Any]:
    """Start Celery processes (`worker` or `beat`) on the test database and the run's broker;
    with `holding=True` a worker's media storage holds processing half-way."""
    from p2p_sandbox.celery import app as celery_app

    started: list[RunningProcess] = []

    def start(command: str, name: str, *, holding: bool = False) -> RunningProcess:
        env = process_env(
            APPLICATION_NAME,
            EMAIL_HOST=holding_smtp.host,
            EMAIL_PORT=str(holding_smtp.port),
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            FAULT_HOLD_MARKER=str(tmp_path / "held"),
        )
        if holding:
            env["DJANGO_SETTINGS_MODULE"] = "p2p_sandbox.tests.worker_fault_settings"
        options = ["--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if command == "beat":
            options = ["--schedule", str(tmp_path / "beat-schedule")]
        running = start_process(
            [str(BIN / "celery"), "-A", "p2p_sandbox", command, *options, "--loglevel=INFO"],
            env=env,
            log_path=tmp_path / f"{name}.log",
        )
        started.append(running)
        return running

    celery_app.conf.task_always_eager = False
    try:
        yield start
    finally:
        celery_app.conf.task_always_eager = True
        for running in started:
            running.stop()
        wait_for_child_connections_to_close(APPLICATION_NAME)


def kill(running: RunningProcess) -> None:
    running.process.send_signal(signal.SIGKILL)
    running.process.wait(timeout=10)


def files_of(use_case_id: int) -> set[str]:
    folder = f"use-cases/{use_case_id}"
    return {f"{folder}/{name}" for name in default_storage.listdir(folder)[1]}


@pytest.mark.django_db(transaction=True)
def test_work_of_a_killed_worker_is_done_once_within_two_minutes(
    start_celery: Any, holding_smtp: HoldingSmtp, user_factory: Any, tmp_path: Path
) -> None:
    author = user_factory()
    use_case = UseCaseFactory(author=author, draft=True)

    media_worker = start_celery("worker", "media-worker", holding=True)
    (media,) = add_media(actor=author, use_case=use_case, files=[png(900, 700)])
    wait_until(
        (tmp_path / "held").exists, timeout=30, message="the media worker did not start processing"
    )
    email_worker = start_celery("worker", "email-worker")
    email = emails.queue_email(
        to="omar@gulfprecision.example",
        template="message",
        context=CONTEXT,
    )
    if not holding_smtp.held.wait(timeout=30):
        raise TimeoutError("the email worker did not start sending")
    half_done = files_of(use_case.pk)
    kill(media_worker)
    kill(email_worker)
    killed_at = time.monotonic()

    start_celery("worker", "worker")
    start_celery("beat", "beat")

    def media_processed() -> bool:
        return Media.objects.get(pk=media.pk).status != Media.Status.PENDING

    wait_until(media_processed, timeout=RECOVERY_LIMIT, message="the media was not processed")
    holding_smtp.wait_for_delivery(timeout=max(RECOVERY_LIMIT - (time.monotonic() - killed_at), 1))
    recovered_in = time.monotonic() - killed_at

    def email_marked_sent() -> bool:
        return OutboundEmail.objects.get(pk=email.pk).state == OutboundEmail.State.SENT

    # The server has the message before the worker records the send.
    wait_until(email_marked_sent, timeout=30, message="the delivered email was not marked sent")
    media.refresh_from_db()
    email.refresh_from_db()
    message_ids = {
        message_from_bytes(envelope.original_content)["Message-ID"]
        for envelope in holding_smtp.delivered
    }
    assert recovered_in < RECOVERY_LIMIT
    # The killed run had written the re-encoded image and a thumbnail beside the upload.
    assert len(half_done) == 3
    assert media.status == Media.Status.READY
    assert files_of(use_case.pk) == {
        media.file.name,
        media.thumbnail_small.name,
        media.thumbnail_large.name,
    }
    assert StreamEvent.objects.filter(type="media_ready", payload__media_id=media.pk).count() == 1
    assert 1 <= len(holding_smtp.delivered) <= 2
    assert len(message_ids) == 1
    assert (email.state, email.attempts) == (OutboundEmail.State.SENT, 2)
    assert settings.MEDIA_REQUEUE_AFTER + settings.MEDIA_SWEEP_INTERVAL < RECOVERY_LIMIT_DELTA
    assert settings.OUTBOX_CLAIM_TIMEOUT + settings.OUTBOX_RELAY_INTERVAL < RECOVERY_LIMIT_DELTA
