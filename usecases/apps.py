from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UseCasesConfig(AppConfig):
    name = "usecases"
    verbose_name = "Use cases"

    def ready(self) -> None:
        from messaging.notification_types import NotificationType, register_notification_type

        register_notification_type(
            NotificationType(
                key="use_case_published",
                label=_("Use case published"),
                description=_("A reviewer published a use case you submitted."),
            )
        )
        register_notification_type(
            NotificationType(
                key="use_case_rejected",
                label=_("Use case sent back"),
                description=_("A reviewer sent back a use case you submitted, with a note."),
            )
        )
