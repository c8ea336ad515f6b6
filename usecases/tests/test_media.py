import io
import os
import threading
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from PIL import ExifTags, Image

from messaging.models import StreamEvent
from p2p_sandbox import config, filetypes
from p2p_sandbox.celery import app as celery_app
from p2p_sandbox.errors import AppError
from usecases import media as media_module
from usecases.media import (
    MediaNotFoundError,
    MediaNotReadyError,
    add_media,
    open_media_for,
    process_media,
    processed_names,
    remove_media,
)
from usecases.models import Media, UseCase
from usecases.tasks import (
    MAX_RETRIES,
    STORAGE_UNAVAILABLE,
    process_media_task,
    requeue_stale_media_task,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db]

BUCKET = "p2p-media"
S3_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


# Sample files


def jpeg_with_exif(width: int = 2000, height: int = 1500, *, name: str = "site.jpg") -> Any:
    """A JPEG carrying a camera make, a GPS position and "rotate 90°" in its EXIF data."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Factory Camera"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (26.0, 59.0, 0.0),
    }
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 20)).save(buffer, "JPEG", exif=exif.tobytes())
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def png(width: int = 640, height: int = 480, *, name: str = "line.png") -> Any:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (12, 110, 80)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def noisy_png(side: int, *, name: str = "huge.png") -> Any:
    """A PNG that does not compress: about side * side * 3 bytes."""
    buffer = io.BytesIO()
    pixels = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    pixels.save(buffer, "PNG", compress_level=1)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def png_bomb(*, name: str = "bomb.png") -> Any:
    """A PNG of a few dozen bytes that declares 100,000 by 100,000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = (100_000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )
    return SimpleUploadedFile(name, data, content_type="image/png")


def mp4(*, brand: bytes = b"isom", name: str = "line.mp4", payload: int = 2048) -> Any:
    ftyp = (24).to_bytes(4, "big") + b"ftyp" + brand + (512).to_bytes(4, "big") + b"isommp41"
    mdat = (8 + payload).to_bytes(4, "big") + b"mdat" + b"\0" * payload
    return SimpleUploadedFile(name, ftyp + mdat, content_type="video/mp4")


def webm(*, doctype: bytes = b"webm", name: str = "line.webm") -> Any:
    def element(element_id: bytes, data: bytes) -> bytes:
        return element_id + bytes([0x80 | len(data)]) + data

    header = b"".join(
        [
            element(b"\x42\x86", b"\x01"),
            element(b"\x42\xf7", b"\x01"),
            element(b"\x42\xf2", b"\x04"),
            element(b"\x42\xf3", b"\x08"),
            element(b"\x42\x82", doctype),
            element(b"\x42\x87", b"\x04"),
            element(b"\x42\x85", b"\x02"),
        ]
    )
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + b"\0" * 512
    data = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + segment
    return SimpleUploadedFile(name, data, content_type="video/webm")


def pdf(*, name: str = "datasheet.pdf") -> Any:
    data = b"%PDF-1.7\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def gif(*, name: str = "anim.gif") -> Any:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buffer, "GIF")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/gif")


def renamed_html() -> Any:
    data = b"<html><body><script>alert(document.cookie)</script></body></html>"
    return SimpleUploadedFile("evil.png", data, content_type="image/png")


def text_file() -> Any:
    return SimpleUploadedFile("notes.txt", b"Line 3 downtime notes\n", content_type="text/plain")


def open_stored(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as stored:
        return Image.open(io.BytesIO(stored.read()))


def stored_files(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def media_events(user: Any) -> list[dict[str, Any]]:
    return list(
        StreamEvent.objects.filter(user=user, type="media_ready")
        .order_by("event_id")
        .values_list("payload", flat=True)
    )


# Fixtures


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def author(user_factory: Any) -> Any:
    return user_factory()


@pytest.fixture
def use_case(author: Any, use_case_factory: Any) -> UseCase:
    return use_case_factory(author=author, draft=True)


def add(author: Any, use_case: UseCase, files: list[Any], capture: Any) -> list[Media]:
    with capture(execute=True):
        return add_media(actor=author, use_case=use_case, files=files)


# Sniffing


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        (jpeg_with_exif(16, 16), filetypes.JPEG),
        (png(8, 8), filetypes.PNG),
        (mp4(), filetypes.MP4),
        (mp4(brand=b"mp42"), filetypes.MP4),
        (mp4(brand=b"qt  "), filetypes.QUICKTIME),
        (mp4(brand=b"heic"), None),
        (webm(), filetypes.WEBM),
        (webm(doctype=b"matroska"), filetypes.MATROSKA),
        (pdf(), filetypes.PDF),
        (gif(), filetypes.GIF),
        (renamed_html(), None),
        (text_file(), None),
        (SimpleUploadedFile("empty.png", b""), None),
    ],
)
def test_sniff_decides_the_type_from_the_content(upload: Any, expected: Any) -> None:
    assert filetypes.sniff(filetypes.read_head(upload)) == expected


# Upload


def test_add_media_stores_every_kind_and_processing_makes_them_ready(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    files = [jpeg_with_exif(), png(), mp4(), webm(), pdf()]

    created = add(author, use_case, files, django_capture_on_commit_callbacks)

    stored = list(Media.objects.filter(use_case=use_case))
    assert [m.pk for m in created] == [m.pk for m in stored]
    assert [(m.kind, m.content_type, m.original_name, m.position, m.status) for m in stored] == [
        ("image", "image/jpeg", "site.jpg", 0, "ready"),
        ("image", "image/png", "line.png", 1, "ready"),
        ("video", "video/mp4", "line.mp4", 2, "ready"),
        ("video", "video/webm", "line.webm", 3, "ready"),
        ("pdf", "application/pdf", "datasheet.pdf", 4, "ready"),
    ]
    assert all(m.uploaded_by_id == author.pk and m.processed_at for m in stored)
    assert [bool(m.thumbnail_small) and bool(m.thumbnail_large) for m in stored] == [
        True,
        True,
        False,
        False,
        False,
    ]
    expected_files = sorted(
        name
        for m in stored
        for name in (m.file.name, m.thumbnail_small.name, m.thumbnail_large.name)
        if name
    )
    assert stored_files(media_root) == expected_files
    assert all(name.startswith(f"use-cases/{use_case.pk}/") for name in expected_files)
    assert [m.file.name.rsplit(".", 1)[1] for m in stored] == ["jpg", "png", "mp4", "webm", "pdf"]
    assert (stored[2].size_bytes, stored[4].size_bytes) == (len(mp4().read()), len(pdf().read()))
    assert media_events(author) == [
        {
            "media_id": m.pk,
            "use_case_id": use_case.pk,
            "status": "ready",
            "kind": m.kind,
            "failure_reason": "",
        }
        for m in stored
    ]


@pytest.mark.parametrize(
    ("bad", "status", "code"),
    [
        (renamed_html, 415, "unsupported_media_type"),
        (gif, 415, "unsupported_media_type"),
        (text_file, 415, "unsupported_media_type"),
        (lambda: mp4(brand=b"qt  ", name="clip.mp4"), 415, "unsupported_media_type"),
        (lambda: webm(doctype=b"matroska", name="clip.webm"), 415, "unsupported_media_type"),
        (lambda: SimpleUploadedFile("empty.pdf", b""), 415, "unsupported_media_type"),
        (lambda: noisy_png(1400), 413, "file_too_large"),
        (png_bomb, 400, "invalid_image"),
        (lambda: SimpleUploadedFile("cut.png", png().read()[:200]), 400, "invalid_image"),
    ],
)
def test_add_media_refuses_a_bad_file_and_stores_nothing(
    author: Any,
    use_case: UseCase,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
    bad: Any,
    status: int,
    code: str,
) -> None:
    upload = bad()

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(AppError) as refused:
        # A good file first: the request is refused as a whole, before anything is stored.
        add_media(actor=author, use_case=use_case, files=[png(), upload])

    assert (refused.value.status, refused.value.code) == (status, code)
    assert upload.name in refused.value.message
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []
    assert callbacks == []


def test_add_media_names_what_it_refuses(author: Any, use_case: UseCase) -> None:
    with pytest.raises(AppError) as refused:
        add_media(actor=author, use_case=use_case, files=[gif()])

    assert refused.value.message == (
        '"anim.gif" is a GIF image, which cannot be uploaded. '
        "Upload JPEG, PNG or WebP images, MP4 or WebM videos, or PDF documents."
    )


def test_add_media_refuses_a_video_or_pdf_over_its_limit(
    author: Any, use_case: UseCase, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(media_module.MAX_BYTES, Media.Kind.VIDEO, 4096)
    monkeypatch.setitem(media_module.MAX_BYTES, Media.Kind.PDF, 64)

    with pytest.raises(AppError) as video:
        add_media(actor=author, use_case=use_case, files=[mp4(payload=4096)])
    with pytest.raises(AppError) as document:
        add_media(actor=author, use_case=use_case, files=[pdf()])

    assert (video.value.status, video.value.code) == (413, "file_too_large")
    assert video.value.message == '"line.mp4" is larger than 4 KB, the limit for a video.'
    assert (document.value.status, document.value.code) == (413, "file_too_large")
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []


def test_add_media_refuses_eleven_files_and_stores_nothing(
    author: Any, use_case: UseCase, media_root: Path
) -> None:
    with pytest.raises(AppError) as refused:
        add_media(actor=author, use_case=use_case, files=[pdf() for _ in range(11)])

    assert (refused.value.status, refused.value.code) == (409, "too_many_media")
    assert refused.value.message == (
        "A use case has at most 10 files: this one has 0 and the upload adds 11."
    )
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []


def test_add_media_counts_the_files_already_there(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    add(author, use_case, [pdf() for _ in range(8)], django_capture_on_commit_callbacks)
    before = stored_files(media_root)

    with pytest.raises(AppError) as refused:
        add_media(actor=author, use_case=use_case, files=[pdf(), pdf(), pdf()])
    added = add(author, use_case, [pdf(), pdf()], django_capture_on_commit_callbacks)

    assert (refused.value.status, refused.value.code) == (409, "too_many_media")
    assert [m.position for m in added] == [8, 9]
    assert Media.objects.filter(use_case=use_case).count() == 10
    assert len(stored_files(media_root)) == 10
    assert set(before) < set(stored_files(media_root))


def test_add_media_with_no_files_is_refused(author: Any, use_case: UseCase) -> None:
    with pytest.raises(AppError) as refused:
        add_media(actor=author, use_case=use_case, files=[])

    assert (refused.value.status, refused.value.code) == (400, "no_files")


@pytest.mark.parametrize(
    ("status", "denied_status", "denied_code"),
    [
        (UseCase.Status.PUBLISHED, 403, "not_use_case_editor"),
        (UseCase.Status.DRAFT, 404, "use_case_not_found"),
    ],
)
def test_add_media_by_someone_who_cannot_edit_is_denied_and_stores_nothing(
    use_case: UseCase,
    user_factory: Any,
    media_root: Path,
    status: str,
    denied_status: int,
    denied_code: str,
) -> None:
    use_case.status = status
    use_case.save(update_fields=["status"])
    colleague = user_factory(organization=use_case.organization)
    outsider = user_factory()

    refusals = []
    for person in (colleague, outsider):
        with pytest.raises(AppError) as denied:
            add_media(actor=person, use_case=use_case, files=[png()])
        refusals.append((denied.value.status, denied.value.code))

    assert refusals == [(denied_status, denied_code)] * 2
    assert Media.objects.count() == 0
    assert stored_files(media_root) == []


def test_add_media_by_an_admin_of_the_authors_organization_is_allowed(
    use_case: UseCase, user_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    admin = user_factory(organization=use_case.organization, admin=True)

    created = add(admin, use_case, [pdf()], django_capture_on_commit_callbacks)

    assert Media.objects.get().pk == created[0].pk
    assert media_events(admin)[0]["media_id"] == created[0].pk


def test_add_media_stores_the_sniffed_type_not_the_browsers(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    disguised = SimpleUploadedFile("report.png", pdf().read(), content_type="image/png")

    (created,) = add(author, use_case, [disguised], django_capture_on_commit_callbacks)

    assert (created.kind, created.content_type, created.original_name) == (
        "pdf",
        "application/pdf",
        "report.png",
    )
    assert created.file.name.endswith(".pdf")


# Processing


def test_process_media_strips_exif_and_makes_webp_thumbnails(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[jpeg_with_exif()])
    upload = pending.file.name
    assert open_stored(upload).getexif()  # the upload is stored as it came

    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)

    media = Media.objects.get()
    processed = open_stored(media.file.name)
    assert media.status == "ready"
    assert media.file.name == processed_names(upload)["original"]
    assert (processed.format, processed.size) == ("JPEG", (1500, 2000))  # turned upright
    assert dict(processed.getexif()) == {}
    assert "exif" not in processed.info
    assert (media.width, media.height) == (1500, 2000)
    assert media.size_bytes == default_storage.size(media.file.name)
    small, large = open_stored(media.thumbnail_small.name), open_stored(media.thumbnail_large.name)
    assert (small.format, small.size) == ("WEBP", (240, 320))
    assert (large.format, large.size) == ("WEBP", (960, 1280))
    assert "exif" not in small.info
    assert "exif" not in large.info
    assert not default_storage.exists(upload)
    assert stored_files(media_root) == sorted(
        [media.file.name, media.thumbnail_small.name, media.thumbnail_large.name]
    )


def test_process_media_twice_leaves_one_set_of_files(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png(1600, 900)])

    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)
    first = Media.objects.get()
    files_after_first = stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)

    second = Media.objects.get()
    assert len(files_after_first) == 3
    assert stored_files(media_root) == files_after_first
    assert (second.file.name, second.processed_at) == (first.file.name, first.processed_at)
    assert len(media_events(author)) == 1


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Run a task's retries in place: an eager task retries only when its errors do not
    propagate (with them propagating, the first retry raises `Retry` to the caller)."""
    saved = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = saved


def test_process_media_retry_cleans_up_what_an_interrupted_run_left(
    eager_retries: None,
    author: Any,
    use_case: UseCase,
    media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png(1600, 900)])
    real_save = FileSystemStorage.save
    saves: list[str] = []

    def failing_third_save(self: Any, name: str, content: Any, **kwargs: Any) -> str:
        saves.append(name)
        if len(saves) == 3:  # the re-encoded image and the small thumbnail are stored by now
            raise ConnectionError("storage went away")
        return real_save(self, name, content, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "save", failing_third_save)
    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)

    media = Media.objects.get()
    names = processed_names(pending.file.name)
    assert media.status == "ready"
    assert saves == [names["original"], names["small"], names["large"]] * 2
    assert stored_files(media_root) == sorted(names.values())
    assert (media.file.name, media.thumbnail_small.name, media.thumbnail_large.name) == (
        names["original"],
        names["small"],
        names["large"],
    )


def test_process_media_replaces_what_a_killed_run_left(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png(1600, 900)])
    names = processed_names(pending.file.name)
    for name in names.values():  # as if a worker died after storing, before committing
        default_storage.save(name, io.BytesIO(b"half-written"))

    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)

    media = Media.objects.get()
    assert (media.file.name, media.thumbnail_small.name, media.thumbnail_large.name) == (
        names["original"],
        names["small"],
        names["large"],
    )
    assert stored_files(media_root) == sorted(names.values())
    assert open_stored(media.thumbnail_large.name).size == (1280, 720)


def test_process_media_task_gives_up_after_bounded_retries(
    eager_retries: None,
    author: Any,
    use_case: UseCase,
    media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png()])
    attempts: list[str] = []

    def unreachable(self: Any, name: str, mode: str = "rb") -> Any:
        attempts.append(name)
        raise TimeoutError("storage timed out")

    monkeypatch.setattr(FileSystemStorage, "open", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        process_media_task.delay(pending.pk)

    media = Media.objects.get()
    assert len(attempts) == MAX_RETRIES + 1
    assert (media.status, media.failure_reason) == ("failed", STORAGE_UNAVAILABLE)
    assert media_events(author) == [
        {
            "media_id": media.pk,
            "use_case_id": use_case.pk,
            "status": "failed",
            "kind": "image",
            "failure_reason": STORAGE_UNAVAILABLE,
        }
    ]
    assert stored_files(media_root) == [pending.file.name]


def test_process_media_marks_an_image_that_no_longer_decodes_failed(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png()])
    with default_storage.open(pending.file.name, "wb") as stored:
        stored.write(png_bomb().read())

    with django_capture_on_commit_callbacks(execute=True):
        media = process_media(pending.pk)

    assert media is not None
    assert media.status == "failed"
    assert media.failure_reason.startswith("The image has too many pixels")
    assert (media.thumbnail_small.name, media.thumbnail_large.name) == ("", "")
    assert media_events(author)[0]["status"] == "failed"


def test_process_media_of_a_missing_upload_fails_cleanly(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        (pending,) = add_media(actor=author, use_case=use_case, files=[png()])
    default_storage.delete(pending.file.name)

    media = process_media(pending.pk)

    assert media is not None
    assert (media.status, media.failure_reason) == (
        "failed",
        "The uploaded file is missing; upload it again.",
    )


def test_process_media_of_a_deleted_media_does_nothing() -> None:
    assert process_media(999_999) is None


def test_requeue_stale_media_processes_what_was_never_queued(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # as if the broker was down
        stale, recent = add_media(actor=author, use_case=use_case, files=[png(), pdf()])
    Media.objects.filter(pk=stale.pk).update(requeue_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        queued = requeue_stale_media_task.delay().get()

    assert queued == 1
    assert dict(Media.objects.values_list("pk", "status")) == {
        stale.pk: "ready",
        recent.pk: "pending",
    }


def test_requeue_stale_media_gives_a_requeued_media_time_before_queueing_it_again(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # as if its worker died
        (stale,) = add_media(actor=author, use_case=use_case, files=[png()])
    Media.objects.filter(pk=stale.pk).update(requeue_at=timezone.now() - timedelta(seconds=1))

    first = requeue_stale_media_task.delay().get()
    second = requeue_stale_media_task.delay().get()

    stale.refresh_from_db()
    assert (first, second) == (1, 0)
    assert timezone.now() < stale.requeue_at <= timezone.now() + settings.MEDIA_REQUEUE_AFTER


def test_add_media_gives_processing_until_the_requeue_delay(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False):
        (added,) = add_media(actor=author, use_case=use_case, files=[pdf()])

    assert before + settings.MEDIA_REQUEUE_AFTER <= added.requeue_at
    assert added.requeue_at <= timezone.now() + settings.MEDIA_REQUEUE_AFTER


# Removing


def test_remove_media_deletes_the_row_and_its_files(
    author: Any, use_case: UseCase, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    kept, removed = add(author, use_case, [pdf(), png()], django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        remove_media(actor=author, media_id=removed.pk)

    assert list(Media.objects.values_list("pk", flat=True)) == [kept.pk]
    assert stored_files(media_root) == [Media.objects.get().file.name]


def test_remove_media_by_someone_who_cannot_edit_changes_nothing(
    author: Any,
    use_case: UseCase,
    user_factory: Any,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    (media,) = add(author, use_case, [png()], django_capture_on_commit_callbacks)
    files = stored_files(media_root)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(AppError) as hidden:
        remove_media(actor=user_factory(), media_id=media.pk)
    use_case.status = UseCase.Status.PUBLISHED
    use_case.save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(AppError) as denied:
        remove_media(actor=user_factory(organization=use_case.organization), media_id=media.pk)

    assert (hidden.value.status, hidden.value.code) == (404, "media_not_found")
    assert (denied.value.status, denied.value.code) == (403, "not_use_case_editor")
    assert Media.objects.filter(pk=media.pk).exists()
    assert stored_files(media_root) == files


# Access


@pytest.fixture
def organization_only(use_case: UseCase) -> UseCase:
    use_case.visibility = UseCase.Visibility.ORGANIZATION
    use_case.status = UseCase.Status.PUBLISHED
    use_case.save(update_fields=["visibility", "status"])
    return use_case


def test_open_media_for_streams_local_files_to_a_member(
    author: Any,
    organization_only: UseCase,
    user_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    colleague = user_factory(organization=organization_only.organization)
    (media,) = add(
        author,
        organization_only,
        [jpeg_with_exif(name="weld seam.jpg")],
        django_capture_on_commit_callbacks,
    )
    media.refresh_from_db()

    original = open_media_for(colleague, media.pk, "original")
    small = open_media_for(colleague, media.pk, "small")

    assert original.url is None
    assert small.url is None
    with original.file as opened, default_storage.open(media.file.name) as stored:
        assert opened.read() == stored.read()
    with small.file as opened:
        assert Image.open(io.BytesIO(opened.read())).size == (240, 320)
    assert (original.content_type, original.filename) == ("image/jpeg", "weld seam.jpg")
    assert (small.content_type, small.filename) == ("image/webp", "weld seam-small.webp")


def test_open_media_for_an_outsider_of_an_organization_use_case_is_404(
    author: Any,
    organization_only: UseCase,
    user_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    (media,) = add(author, organization_only, [pdf()], django_capture_on_commit_callbacks)
    outsider = user_factory()

    with pytest.raises(MediaNotFoundError) as hidden:
        open_media_for(outsider, media.pk, "original")
    with pytest.raises(MediaNotFoundError) as missing:
        open_media_for(outsider, 999_999, "original")

    assert (hidden.value.status, hidden.value.code) == (404, "media_not_found")
    assert hidden.value.message == missing.value.message


def test_open_media_for_a_pending_or_absent_variant(
    author: Any, use_case: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        image, document = add_media(actor=author, use_case=use_case, files=[png(), pdf()])
    process_media(document.pk)

    with pytest.raises(MediaNotReadyError) as pending:
        open_media_for(author, image.pk, "original")
    with pytest.raises(MediaNotFoundError):
        open_media_for(author, document.pk, "small")
    with pytest.raises(MediaNotFoundError):
        open_media_for(author, document.pk, "../secret")

    assert (pending.value.status, pending.value.code) == (409, "media_not_ready")


# Concurrency


def upload_in_threads(use_case: UseCase, author: Any, count: int) -> list[Any]:
    """`count` uploads of one file each, started together; answers each one's media or error."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def upload(index: int) -> None:
        try:
            start.wait(timeout=10)
            results[index] = add_media(actor=author, use_case=use_case, files=[png(400, 300)])
        except AppError as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_add_media_five_concurrent_uploads_all_succeed_and_are_processed(
    author: Any, use_case: UseCase, media_root: Path
) -> None:
    results = upload_in_threads(use_case, author, 5)

    assert [len(result) for result in results] == [1] * 5
    stored = list(Media.objects.filter(use_case=use_case))
    assert sorted(m.position for m in stored) == [0, 1, 2, 3, 4]
    assert [m.status for m in stored] == ["ready"] * 5
    assert len(stored_files(media_root)) == 15
    assert sorted(event["media_id"] for event in media_events(author)) == sorted(
        m.pk for m in stored
    )


@pytest.mark.django_db(transaction=True)
def test_add_media_concurrent_uploads_never_pass_ten(
    author: Any, use_case: UseCase, media_root: Path
) -> None:
    add_media(actor=author, use_case=use_case, files=[pdf() for _ in range(7)])

    results = upload_in_threads(use_case, author, 4)

    refused = [result for result in results if isinstance(result, AppError)]
    assert [error.code for error in refused] == ["too_many_media"]
    assert Media.objects.filter(use_case=use_case).count() == 10
    assert len(stored_files(media_root)) == 7 + 3 * 3  # the refused upload's file is gone


# S3 (django-storages against moto's server)


@pytest.fixture
def s3(s3_server: str, settings: Any) -> Any:
    client = boto3.client("s3", endpoint_url=s3_server, **S3_CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    production = config.storages(
        {
            "MEDIA_S3_BUCKET": BUCKET,
            "AWS_S3_ENDPOINT_URL": s3_server,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    settings.STORAGES = {**settings.STORAGES, "default": production["default"]}
    return client


def bucket_keys(client: Any) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_media_on_s3_is_stored_processed_and_served_by_signed_url(
    s3: Any,
    author: Any,
    organization_only: UseCase,
    user_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    image, document = add(
        author, organization_only, [jpeg_with_exif(), pdf()], django_capture_on_commit_callbacks
    )
    image.refresh_from_db()
    document.refresh_from_db()

    assert (image.status, document.status) == ("ready", "ready")
    assert bucket_keys(s3) == sorted(
        [
            image.file.name,
            image.thumbnail_small.name,
            image.thumbnail_large.name,
            document.file.name,
        ]
    )
    stored = s3.get_object(Bucket=BUCKET, Key=image.file.name)
    assert stored["ContentType"] == "image/jpeg"
    assert dict(Image.open(io.BytesIO(stored["Body"].read())).getexif()) == {}
    thumbnail = s3.get_object(Bucket=BUCKET, Key=image.thumbnail_small.name)["Body"].read()
    assert Image.open(io.BytesIO(thumbnail)).size == (240, 320)

    served = open_media_for(author, document.pk, "original")
    assert served.file is None
    assert "X-Amz-Signature=" in served.url
    assert "X-Amz-Expires=300" in served.url
    fetched = httpx.get(served.url)
    assert fetched.status_code == 200
    assert fetched.content == pdf().read()
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["content-disposition"] == 'inline; filename="datasheet.pdf"'

    with pytest.raises(MediaNotFoundError):
        open_media_for(user_factory(), document.pk, "original")


def test_bad_upload_leaves_nothing_in_s3(
    s3: Any, author: Any, use_case: UseCase, media_root: Path
) -> None:
    with pytest.raises(AppError) as refused:
        add_media(actor=author, use_case=use_case, files=[png(), renamed_html()])

    assert refused.value.code == "unsupported_media_type"
    assert bucket_keys(s3) == []
    assert Media.objects.count() == 0
