import logging
import uuid

from celery import shared_task
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.models import Organization, User
from p2p_sandbox.images import InvalidImageError, reencode_image

logger = logging.getLogger(__name__)

AVATAR_SIDE = 256
LOGO_SIDE = 512


def process_pending_image(
    model: type[User] | type[Organization],
    pk: int,
    *,
    pending_field: str,
    image_field: str,
    folder: str,
    max_side: int,
) -> bool:
    """Re-encode the pending upload of one row into its image field. Idempotent.

    The row is updated only if its pending upload is still the one processed, so a newer
    upload that arrived meanwhile is not overwritten (its own task handles it).
    """
    row = model.objects.filter(pk=pk).values(pending_field, image_field).first()
    pending = row[pending_field] if row else ""
    if not pending:
        return False
    try:
        with default_storage.open(pending, "rb") as upload:
            data = reencode_image(upload.read(), max_side=max_side, format="WEBP")
    except FileNotFoundError:
        model.objects.filter(pk=pk, **{pending_field: pending}).update(**{pending_field: ""})
        return False
    except InvalidImageError:
        logger.warning("%s %s: pending image %s is not a valid image", model.__name__, pk, pending)
        model.objects.filter(pk=pk, **{pending_field: pending}).update(**{pending_field: ""})
        default_storage.delete(pending)
        return False
    stored = default_storage.save(f"{folder}/{uuid.uuid4().hex}.webp", ContentFile(data))
    with transaction.atomic():
        updated = model.objects.filter(pk=pk, **{pending_field: pending}).update(
            **{pending_field: "", image_field: stored}
        )
    if not updated:
        default_storage.delete(stored)
        return False
    default_storage.delete(pending)
    if row[image_field]:
        default_storage.delete(row[image_field])
    return True


@shared_task(name="accounts.process_avatar_task", ignore_result=True)
def process_avatar_task(user_id: int) -> bool:
    return process_pending_image(
        User,
        user_id,
        pending_field="avatar_pending",
        image_field="avatar",
        folder="users/avatars",
        max_side=AVATAR_SIDE,
    )


@shared_task(name="accounts.process_logo_task", ignore_result=True)
def process_logo_task(organization_id: int) -> bool:
    return process_pending_image(
        Organization,
        organization_id,
        pending_field="logo_pending",
        image_field="logo",
        folder="organizations/logos",
        max_side=LOGO_SIDE,
    )
