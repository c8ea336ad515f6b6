from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ForumsConfig(AppConfig):
    name = "forums"
    verbose_name = "Forums"

    def ready(self) -> None:
        from messaging.models import EmailFrequency
        from messaging.notification_types import NotificationType, register_notification_type

        register_notification_type(
            NotificationType(
                key="forum_reply",
                label=_("Replies in forum topics you follow"),
                description=_(
                    "Someone replied in a topic you opened, replied in or follow, while you were "
                    "not viewing it."
                ),
                default_email=EmailFrequency.INSTANT,
            )
        )
