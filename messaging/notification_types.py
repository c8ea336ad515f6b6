"""The kinds of notification, each with its defaults. An app registers its own in its
AppConfig.ready(); the preferences page lists them all."""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from messaging.models import EmailFrequency


@dataclass(frozen=True)
class NotificationType:
    key: str
    label: str | Promise
    description: str | Promise
    default_email: str = EmailFrequency.INSTANT
    default_in_app: bool = True


NOTIFICATION_TYPES: dict[str, NotificationType] = {}


def register_notification_type(notification_type: NotificationType) -> NotificationType:
    NOTIFICATION_TYPES[notification_type.key] = notification_type
    return notification_type


DIRECT_MESSAGE = register_notification_type(
    NotificationType(
        key="direct_message",
        label=_("Direct messages"),
        description=_(
            "Messages sent to you. By email only when you have not read them within a few "
            "minutes; several messages come in one email."
        ),
    )
)
ADDED_TO_GROUP = register_notification_type(
    NotificationType(
        key="added_to_group",
        label=_("Added to a group conversation"),
        description=_("Someone started a group conversation with you in it."),
        default_email=EmailFrequency.DAILY,
    )
)
