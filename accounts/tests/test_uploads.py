import io
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.models import Organization, User
from accounts.tasks import process_avatar_task
from p2p_sandbox import config

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: object, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    return tmp_path


def png(width: int = 900, height: int = 600, name: str = "me.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (12, 110, 80)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def stored_image(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as stored:
        return Image.open(io.BytesIO(stored.read()))


def test_avatar_upload_is_re_encoded_by_the_worker(
    api: object, client: Client, user_factory: object
) -> None:
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)

    response = api.upload("/api/v1/users/me/avatar", {"file": png()})  # type: ignore[attr-defined]

    user.refresh_from_db()
    assert response.status_code == 202
    assert user.avatar_pending == ""
    assert user.avatar.name.startswith("users/avatars/")
    assert user.avatar.name.endswith(".webp")
    image = stored_image(user.avatar.name)
    assert (image.format, image.size) == ("WEBP", (256, 171))
    assert default_storage.listdir("uploads/avatars") == ([], [])
    assert client.get("/api/v1/users/me").json()["avatar_url"] == user.avatar.url


def test_avatar_task_twice_leaves_one_avatar(
    api: object, client: Client, user_factory: object, django_capture_on_commit_callbacks: object
) -> None:
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=False):  # type: ignore[operator]
        client.post("/api/v1/users/me/avatar", {"file": png()})

    first = process_avatar_task(user.pk)
    second = process_avatar_task(user.pk)

    user.refresh_from_db()
    assert (first, second) == (True, False)
    assert default_storage.listdir("users/avatars")[1] == [Path(user.avatar.name).name]


def test_a_new_avatar_replaces_and_deletes_the_old_one(
    api: object, client: Client, user_factory: object
) -> None:
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)
    api.upload("/api/v1/users/me/avatar", {"file": png()})  # type: ignore[attr-defined]
    old = User.objects.get(pk=user.pk).avatar.name

    api.upload("/api/v1/users/me/avatar", {"file": png(300, 300)})  # type: ignore[attr-defined]

    new = User.objects.get(pk=user.pk).avatar.name
    assert new != old
    assert default_storage.exists(new)
    assert not default_storage.exists(old)


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (
            SimpleUploadedFile("me.jpg", b"%PDF-1.7 not an image", "image/jpeg"),
            400,
            "invalid_image",
        ),
        (SimpleUploadedFile("me.png", b"GIF89a" + b"\0" * 64, "image/png"), 400, "invalid_image"),
    ],
)
def test_avatar_that_is_not_an_image_is_refused_and_nothing_is_stored(
    api: object,
    client: Client,
    user_factory: object,
    media_root: Path,
    upload: SimpleUploadedFile,
    status: int,
    code: str,
) -> None:
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)

    response = api.upload("/api/v1/users/me/avatar", {"file": upload})  # type: ignore[attr-defined]

    user.refresh_from_db()
    assert response.status_code == status
    assert response.json()["code"] == code
    assert (user.avatar.name, user.avatar_pending) == ("", "")
    assert list(media_root.rglob("*.*")) == []


def test_avatar_over_5_mb_is_413(
    api: object, client: Client, user_factory: object, settings: object
) -> None:
    settings.IMAGE_UPLOAD_MAX_BYTES = 10_000  # type: ignore[attr-defined]
    client.force_login(user_factory())  # type: ignore[operator]

    response = api.upload("/api/v1/users/me/avatar", {"file": png(2000, 2000)})  # type: ignore[attr-defined]

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_only_organization_admins_upload_the_logo(
    api: object, client: Client, user_factory: object, organization_factory: object
) -> None:
    organization = organization_factory()  # type: ignore[operator]
    client.force_login(user_factory(organization=organization))  # type: ignore[operator]
    denied = api.upload("/api/v1/organizations/me/logo", {"file": png()})  # type: ignore[attr-defined]
    client.force_login(user_factory(organization=organization, admin=True))  # type: ignore[operator]
    allowed = api.upload("/api/v1/organizations/me/logo", {"file": png(1600, 800)})  # type: ignore[attr-defined]

    organization.refresh_from_db()
    assert denied.status_code == 403
    assert allowed.status_code == 202
    assert stored_image(organization.logo.name).size == (512, 256)


def test_avatar_is_stored_in_s3_through_django_storages(
    api: object, client: Client, user_factory: object, settings: object, s3_server: str
) -> None:
    credentials = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }
    s3 = boto3.client("s3", endpoint_url=s3_server, **credentials)
    s3.create_bucket(Bucket="p2p-media")
    production = config.storages(
        {
            "MEDIA_S3_BUCKET": "p2p-media",
            "AWS_S3_ENDPOINT_URL": s3_server,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    settings.STORAGES = {**settings.STORAGES, "default": production["default"]}  # type: ignore[attr-defined]
    user = user_factory()  # type: ignore[operator]
    client.force_login(user)

    response = api.upload("/api/v1/users/me/avatar", {"file": png()})  # type: ignore[attr-defined]

    user.refresh_from_db()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="p2p-media").get("Contents", [])]
    assert response.status_code == 202
    assert keys == [user.avatar.name]
    stored = s3.get_object(Bucket="p2p-media", Key=user.avatar.name)["Body"].read()
    assert Image.open(io.BytesIO(stored)).format == "WEBP"
    assert "X-Amz-Signature=" in user.avatar.url  # private object, short-lived signed URL


def test_admin_verifies_organizations_in_bulk(
    client: Client, user_factory: object, organization_factory: object
) -> None:
    first, second = organization_factory(), organization_factory()  # type: ignore[operator]
    client.force_login(user_factory(is_staff=True, is_superuser=True))  # type: ignore[operator]

    response = client.post(
        "/admin/accounts/organization/",
        {"action": "mark_verified", "_selected_action": [first.pk, second.pk]},
    )

    assert response.status_code == 302
    verified = Organization.objects.filter(is_verified=True)
    assert set(verified.values_list("pk", flat=True)) == {first.pk, second.pk}
