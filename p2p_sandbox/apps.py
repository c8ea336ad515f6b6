from django.apps import AppConfig


class P2PSandboxConfig(AppConfig):
    """Shared infrastructure: the email outbox, health checks and project-wide commands."""

    name = "p2p_sandbox"
    verbose_name = "Platform"
