"""One upload end to end: stored in S3 (moto's server) through django-storages, processed by a
real Celery worker process, announced in the uploader's personal stream."""

import io
from typing import Any

import boto3
import pytest
from PIL import Image

from messaging.models import StreamEvent
from p2p_sandbox import config
from p2p_sandbox.testing import RunningProcess, wait_until
from usecases.media import add_media, processed_names
from usecases.models import Media
from usecases.tests.test_media import BUCKET, S3_CREDENTIALS, jpeg_with_exif, pdf

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def s3_everywhere(s3_server: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The S3 media storage, for this process and (through the environment) for the worker."""
    environment = {
        "MEDIA_S3_BUCKET": BUCKET,
        "AWS_S3_ENDPOINT_URL": s3_server,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": config.storages(environment)["default"]}
    client = boto3.client("s3", endpoint_url=s3_server, **S3_CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def media_worker(s3_everywhere: Any, celery_worker_process: RunningProcess) -> RunningProcess:
    """The worker, started once the S3 settings are in the environment it copies."""
    return celery_worker_process


def test_real_worker_processes_an_upload_and_records_media_ready(
    media_worker: RunningProcess, s3_everywhere: Any, user_factory: Any, use_case_factory: Any
) -> None:
    author = user_factory()
    use_case = use_case_factory(author=author, draft=True)

    image, document = add_media(actor=author, use_case=use_case, files=[jpeg_with_exif(), pdf()])
    names = processed_names(image.file.name)

    def processed() -> bool:
        if media_worker.process.poll() is not None:
            raise RuntimeError(f"The worker exited:\n{media_worker.log()}")
        statuses = Media.objects.filter(pk__in=[image.pk, document.pk]).values_list(
            "status", flat=True
        )
        return Media.Status.PENDING not in statuses

    wait_until(processed, timeout=60, message="the worker did not process the upload")
    wait_until(
        lambda: StreamEvent.objects.filter(user=author, type="media_ready").count() == 2,
        timeout=10,
        message="media_ready was not recorded twice",
    )
    image.refresh_from_db()
    document.refresh_from_db()
    keys = sorted(item["Key"] for item in s3_everywhere.list_objects_v2(Bucket=BUCKET)["Contents"])
    events = StreamEvent.objects.filter(user=author, type="media_ready").order_by("event_id")

    assert (image.status, document.status) == ("ready", "ready")
    assert (image.file.name, image.thumbnail_small.name, image.thumbnail_large.name) == (
        names["original"],
        names["small"],
        names["large"],
    )
    assert keys == sorted([*names.values(), document.file.name])  # the upload itself is gone
    body = s3_everywhere.get_object(Bucket=BUCKET, Key=image.file.name)["Body"].read()
    assert dict(Image.open(io.BytesIO(body)).getexif()) == {}
    assert sorted(event.payload["media_id"] for event in events) == [image.pk, document.pk]
    assert {event.payload["status"] for event in events} == {"ready"}
    assert {event.payload["use_case_id"] for event in events} == {use_case.pk}
    assert "usecases.process_media_task" in media_worker.log()
