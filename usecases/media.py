"""The media of a use case: checking uploads, storing them, processing them in a worker, and
answering what a view needs to serve them.

Upload (`add_media`): every file of the request is checked by its content before any is stored;
then the files are stored through the storage of `Media.file` (django-storages' S3 backend in
production) and the rows are created `pending` under a lock on the use case, so concurrent
uploads never pass `Media.MAX_PER_USE_CASE` together.

Processing (`process_media`, run by `usecases.tasks.process_media_task`): an image is checked
again (decompression bombs), re-encoded without metadata into a new file that replaces the
upload, and gets two WebP thumbnails; videos and PDFs are kept as uploaded. The media row stays
locked while it is processed, so two deliveries of the task never work on it at once, and the
names of what processing writes derive from the upload's name, so a run that stopped half-way
is cleaned up by the next one. `media_ready` is recorded in the uploader's personal stream:
    {"type": "media_ready", "event_id": N, "media_id": 7, "use_case_id": 3,
     "status": "ready" | "failed", "kind": "image" | "video" | "pdf", "failure_reason": ""}
"""

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from io import BytesIO
from pathlib import PurePosixPath
from typing import IO

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.http import content_disposition_header
from PIL import Image
from storages.backends.s3 import S3Storage

from accounts.models import User
from messaging.services import push_to_stream
from p2p_sandbox import filetypes
from p2p_sandbox.errors import AppError, ConflictError, NotFoundError, PermissionDeniedError
from p2p_sandbox.images import (
    IMAGE_FORMATS,
    ImageTooLargeError,
    InvalidImageError,
    inspect_image,
    make_renditions,
    reencode_image,
)
from p2p_sandbox.queueing import delay_after_commit
from usecases.exceptions import UseCaseNotFoundError
from usecases.models import Media, UseCase
from usecases.services import check_can_edit, check_can_view

logger = logging.getLogger(__name__)

ACCEPTED_TYPES = {
    filetypes.JPEG: Media.Kind.IMAGE,
    filetypes.PNG: Media.Kind.IMAGE,
    filetypes.WEBP: Media.Kind.IMAGE,
    filetypes.MP4: Media.Kind.VIDEO,
    filetypes.WEBM: Media.Kind.VIDEO,
    filetypes.PDF: Media.Kind.PDF,
}
ACCEPTED_DESCRIPTION = "JPEG, PNG or WebP images, MP4 or WebM videos, or PDF documents"
# Images read IMAGE_UPLOAD_MAX_BYTES from the settings; these may be changed by tests.
MAX_BYTES = {Media.Kind.VIDEO: 50 * 1024 * 1024, Media.Kind.PDF: 10 * 1024 * 1024}
# The processed image keeps its format and fits within this side; the thumbnails are WebP.
FULL_SIDE = 4096
THUMBNAIL_SIDES = {"small": 320, "large": 1280}
_FORMATS = {content_type: name for name, content_type in IMAGE_FORMATS.items()}
_CHUNK_BYTES = 64 * 1024
_NAME_IN_MESSAGES = 60


class NoMediaFilesError(AppError):
    code = "no_files"
    message = "Choose at least one file to upload."


class UnsupportedMediaTypeError(AppError):
    code = "unsupported_media_type"
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    message = f"This type of file cannot be uploaded. Upload {ACCEPTED_DESCRIPTION}."


class MediaTooLargeError(AppError):
    code = "file_too_large"
    status = HTTPStatus.CONTENT_TOO_LARGE
    message = "The file is too large."


class TooManyMediaError(ConflictError):
    code = "too_many_media"
    message = f"A use case has at most {Media.MAX_PER_USE_CASE} files."


class MediaNotFoundError(NotFoundError):
    code = "media_not_found"
    message = "This file does not exist or you cannot see it."


class MediaNotReadyError(ConflictError):
    code = "media_not_ready"
    message = "This file is still being processed. Try again in a moment."


# Upload


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    upload: UploadedFile
    file_type: filetypes.FileType
    kind: str
    size_bytes: int
    original_name: str


def check_upload(upload: UploadedFile) -> CheckedUpload:
    """Decide what `upload` is from its content and check it against its kind's limits.

    Reads at most the kind's size limit plus one chunk: an image is decoded from at most 5 MB in
    memory (header checks first, so a bomb is refused before any pixel is decoded); a video or
    PDF is only counted, never held.
    """
    name = _original_name(upload)
    file_type = filetypes.sniff(filetypes.read_head(upload))
    kind = ACCEPTED_TYPES.get(file_type) if file_type else None
    if kind is None:
        seen = f"a {file_type.description}, which" if file_type else "of a type that"
        raise UnsupportedMediaTypeError(
            f'"{_shorten(name)}" is {seen} cannot be uploaded. Upload {ACCEPTED_DESCRIPTION}.'
        )
    max_bytes = max_bytes_for(kind)
    if kind == Media.Kind.IMAGE:
        try:
            info = inspect_image(upload, max_bytes=max_bytes)
        except ImageTooLargeError as error:
            raise _too_large(name, kind, max_bytes) from error
        except InvalidImageError as error:
            raise InvalidImageError(f'"{_shorten(name)}": {error.message}') from error
        finally:
            upload.seek(0)
        size_bytes = info.size_bytes
    else:
        size_bytes = _measure(upload, max_bytes)
        if size_bytes > max_bytes:
            raise _too_large(name, kind, max_bytes)
    return CheckedUpload(upload, file_type, kind, size_bytes, name)


def add_media(*, actor: User, use_case: UseCase, files: Sequence[UploadedFile]) -> list[Media]:
    """Store the uploaded files of one request as pending media of `use_case`.

    All or nothing: a file that fails its checks, or too many files, refuses the whole request
    before anything is stored. The files are stored before the use case is locked (an upload
    may take a while; the lock is held only to count and insert), and deleted again if the
    rows cannot be created.
    """
    from usecases.tasks import process_media_task

    check_can_edit(actor, use_case)
    if not files:
        raise NoMediaFilesError
    _check_room(use_case.pk, len(files))
    checked = [check_upload(upload) for upload in files]

    stored: list[str] = []
    created = False
    try:
        media = [_store(actor, use_case, item, stored) for item in checked]
        with transaction.atomic():
            if not UseCase.objects.select_for_update().filter(pk=use_case.pk).exists():
                raise UseCaseNotFoundError
            last_position = _check_room(use_case.pk, len(media))
            for offset, item in enumerate(media, start=1):
                item.position = last_position + offset
            Media.objects.bulk_create(media)
            for item in media:
                delay_after_commit(process_media_task, item.pk)
        created = True
    finally:
        if not created:
            _delete_quietly(stored)
    return media


def remove_media(*, actor: User, media_id: int) -> None:
    """Delete one media of a use case the actor may edit; its files go once the row is gone.

    Waits for a processing run of the media to end, so the files it made go too.
    """
    with transaction.atomic():
        media = (
            Media.objects.select_for_update(of=("self",))
            .select_related("use_case")
            .filter(pk=media_id)
            .first()
        )
        if media is None:
            raise MediaNotFoundError
        try:
            check_can_edit(actor, media.use_case)
        except NotFoundError as error:
            raise MediaNotFoundError from error
        delete_files_on_commit([media])
        media.delete()


def delete_files_on_commit(media: Iterable[Media]) -> None:
    """Delete the stored files of `media` once the current transaction commits (the rows are
    being deleted). Pass rows locked with select_for_update, so that a processing run that
    is replacing their files finishes first."""
    names = [
        field_file.name
        for item in media
        for field_file in (item.file, item.thumbnail_small, item.thumbnail_large)
        if field_file
    ]
    if names:
        transaction.on_commit(partial(_delete_quietly, names), robust=True)


def max_bytes_for(kind: str) -> int:
    if kind == Media.Kind.IMAGE:
        return settings.IMAGE_UPLOAD_MAX_BYTES
    return MAX_BYTES[kind]


def _check_room(use_case_id: int, adding: int) -> int:
    """Raise unless `adding` more files fit; answer the last position in use (or -1)."""
    existing = Media.objects.filter(use_case_id=use_case_id).aggregate(
        count=Count("pk"), last=Max("position")
    )
    if existing["count"] + adding > Media.MAX_PER_USE_CASE:
        raise TooManyMediaError(
            f"A use case has at most {Media.MAX_PER_USE_CASE} files: this one has "
            f"{existing['count']} and the upload adds {adding}."
        )
    return -1 if existing["last"] is None else existing["last"]


def _store(actor: User, use_case: UseCase, item: CheckedUpload, stored: list[str]) -> Media:
    media = Media(
        use_case=use_case,
        uploaded_by=actor,
        requeue_at=timezone.now() + settings.MEDIA_REQUEUE_AFTER,
        kind=item.kind,
        content_type=item.file_type.content_type,
        original_name=item.original_name,
        size_bytes=item.size_bytes,
    )
    item.upload.seek(0)
    # A plain File: the storage must not see the browser's Content-Type.
    content = File(item.upload, name=f"upload.{item.file_type.extension}")
    media.file.save(content.name, content, save=False)
    stored.append(media.file.name)
    return media


def _measure(file: IO[bytes], limit: int) -> int:
    """The size of `file`, counted by reading it; stops once it passes `limit`."""
    file.seek(0)
    total = 0
    while total <= limit and (chunk := file.read(_CHUNK_BYTES)):
        total += len(chunk)
    file.seek(0)
    return total


def _original_name(upload: UploadedFile) -> str:
    name = PurePosixPath(str(getattr(upload, "name", "") or "").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    max_length = Media._meta.get_field("original_name").max_length
    return name[:max_length] or "upload"


def _shorten(name: str) -> str:
    return name if len(name) <= _NAME_IN_MESSAGES else name[: _NAME_IN_MESSAGES - 1] + "…"


def _describe_size(size_bytes: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size_bytes >= factor:
            return f"{round(size_bytes / factor, 1):g} {unit}"
    return f"{size_bytes} bytes"


def _too_large(name: str, kind: str, max_bytes: int) -> MediaTooLargeError:
    label = {Media.Kind.IMAGE: "an image", Media.Kind.VIDEO: "a video", Media.Kind.PDF: "a PDF"}
    return MediaTooLargeError(
        f'"{_shorten(name)}" is larger than {_describe_size(max_bytes)}, '
        f"the limit for {label[kind]}."
    )


def _delete_quietly(names: Sequence[str]) -> None:
    """Delete stored objects during a cleanup that must not hide the error that caused it."""
    storage = Media._meta.get_field("file").storage
    for name in names:
        try:
            storage.delete(name)
        except (OSError, BotoConnectionError, HTTPClientError, ClientError):
            logger.warning("Could not delete %s; it is left in the storage", name)


# Processing

TRANSIENT_STORAGE_ERRORS = (
    BotoConnectionError,
    HTTPClientError,
    ClientError,
    ConnectionError,
    TimeoutError,
)
_THROTTLING_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"}


def is_transient_storage_error(error: BaseException) -> bool:
    """Whether a storage call that raised `error` may succeed if tried again later."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or error.response.get("Error", {}).get("Code") in _THROTTLING_CODES
    return isinstance(error, TRANSIENT_STORAGE_ERRORS)


def process_media(media_id: int) -> Media | None:
    """Move a pending media to ready or failed. Idempotent: a media already processed is
    answered as it is. Storage errors propagate (the task retries the transient ones), and
    leave the row pending."""
    with transaction.atomic():
        media = Media.objects.select_for_update().filter(pk=media_id).first()
        if media is None or media.status != Media.Status.PENDING:
            return media
        failure_reason = ""
        if media.kind == Media.Kind.IMAGE:
            failure_reason = _process_image(media)
        _finish(media, failure_reason)
    return media


def fail_media(media_id: int, *, reason: str) -> Media | None:
    """Mark a pending media failed (its processing gave up); a processed one is left alone."""
    with transaction.atomic():
        media = Media.objects.select_for_update().filter(pk=media_id).first()
        if media is None or media.status != Media.Status.PENDING:
            return media
        _finish(media, reason)
    return media


def claim_stale_media_ids(*, limit: int = 100) -> list[int]:
    """Pending media whose processing should have ended by now (its task was never queued, or
    its worker died), each given MEDIA_REQUEUE_AFTER more before it is answered again.

    A media being processed holds its row lock and is skipped: a worker that died released it
    with its database connection.
    """
    now = timezone.now()
    with transaction.atomic():
        stale = (
            Media.objects.select_for_update(skip_locked=True)
            .filter(status=Media.Status.PENDING, requeue_at__lte=now)
            .order_by("pk")
        )
        ids = list(stale.values_list("pk", flat=True)[:limit])
        Media.objects.filter(pk__in=ids).update(requeue_at=now + settings.MEDIA_REQUEUE_AFTER)
    return ids


def processed_names(original: str) -> dict[str, str]:
    """Where processing stores the re-encoded image and the thumbnails of the upload
    `original`: fixed names, so that a retry finds what an interrupted run left."""
    path = PurePosixPath(original)
    stem = path.with_suffix("")
    return {
        "original": f"{stem}-full{path.suffix}",
        "small": f"{stem}-{THUMBNAIL_SIDES['small']}.webp",
        "large": f"{stem}-{THUMBNAIL_SIDES['large']}.webp",
    }


def _process_image(media: Media) -> str:
    """Re-encode the image and make its thumbnails; answer why it failed, or "" if it did not."""
    storage = media.file.storage
    upload = media.file.name
    names = processed_names(upload)
    for name in names.values():  # what an interrupted run may have left
        storage.delete(name)
    max_bytes = max_bytes_for(Media.Kind.IMAGE)
    try:
        with storage.open(upload, "rb") as opened:
            data = opened.read(max_bytes + 1)
    except FileNotFoundError:
        return "The uploaded file is missing; upload it again."
    if len(data) > max_bytes:
        return f"The image is larger than {_describe_size(max_bytes)}."
    try:
        # Both decode with the checks of inspect_image: pixel count before any pixel.
        full = reencode_image(data, max_side=FULL_SIDE, format=_FORMATS[media.content_type])
        thumbnails = make_renditions(data, THUMBNAIL_SIDES)
    except InvalidImageError as error:
        return error.message

    saved: list[str] = []
    try:
        for variant, content in (("original", full), *thumbnails.items()):
            saved.append(storage.save(names[variant], ContentFile(content)))
    except BaseException:
        _delete_quietly(saved)
        raise
    media.file.name, media.thumbnail_small.name, media.thumbnail_large.name = saved
    with Image.open(BytesIO(full)) as processed:
        media.width, media.height = processed.size
    media.size_bytes = len(full)
    transaction.on_commit(partial(_delete_quietly, [upload]), robust=True)
    return ""


def _finish(media: Media, failure_reason: str) -> None:
    media.status = Media.Status.FAILED if failure_reason else Media.Status.READY
    media.failure_reason = failure_reason[: Media._meta.get_field("failure_reason").max_length]
    media.processed_at = timezone.now()
    media.save()
    if media.uploaded_by_id is not None:
        push_to_stream(
            user_id=media.uploaded_by_id,
            type="media_ready",
            payload={
                "media_id": media.pk,
                "use_case_id": media.use_case_id,
                "status": media.status,
                "kind": media.kind,
                "failure_reason": media.failure_reason,
            },
        )


# Access


@dataclass(frozen=True, slots=True)
class MediaDownload:
    """How to serve one file: redirect to `url` (a short-lived signed URL), or stream `file`
    (an open file of the storage, to be closed by whoever sends it)."""

    content_type: str
    filename: str
    url: str | None = None
    file: File | None = None


def open_media_for(user: User, media_id: int, variant: str = "original") -> MediaDownload:
    """What a view needs to serve `variant` of a media to `user`.

    A media of a use case the user may not see answers 404 like a missing one, so its
    existence does not leak. Only processed files are served: a pending image still carries
    its EXIF data.
    """
    media = Media.objects.select_related("use_case").filter(pk=media_id).first()
    if media is None:
        raise MediaNotFoundError
    try:
        check_can_view(user, media.use_case)
    except (PermissionDeniedError, NotFoundError) as error:
        raise MediaNotFoundError from error
    if media.status == Media.Status.PENDING:
        raise MediaNotReadyError
    if media.status != Media.Status.READY:
        raise MediaNotFoundError("This file could not be processed.")
    field_file = {
        "original": media.file,
        "small": media.thumbnail_small,
        "large": media.thumbnail_large,
    }.get(variant)
    if not field_file:
        raise MediaNotFoundError
    content_type = media.content_type if variant == "original" else filetypes.WEBP.content_type
    stem = PurePosixPath(media.original_name).stem or "file"
    suffix = PurePosixPath(field_file.name).suffix
    filename = f"{stem}{suffix}" if variant == "original" else f"{stem}-{variant}{suffix}"
    storage = field_file.storage
    if _signs_urls(storage):
        parameters = {
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition_header(False, filename),
        }
        return MediaDownload(content_type, filename, url=storage.url(field_file.name, parameters))
    try:
        opened = storage.open(field_file.name, "rb")
    except FileNotFoundError as error:
        raise MediaNotFoundError from error
    return MediaDownload(content_type, filename, file=opened)


def _signs_urls(storage: Storage) -> bool:
    """Whether `storage.url()` answers a signed, expiring URL (django-storages' S3 backend with
    query-string authentication, straight to the bucket)."""
    return (
        isinstance(storage, S3Storage)
        and bool(storage.querystring_auth)
        and not storage.custom_domain
    )
