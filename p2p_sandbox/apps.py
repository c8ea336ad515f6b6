from django.apps import AppConfig


class P2PSandboxConfig(AppConfig):
    """Shared infrastructure: the email outbox, health checks and project-wide commands."""

    name = "p2p_sandbox"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.core import checks

        from p2p_sandbox.middleware import check_security_middleware

        checks.register(check_security_middleware, checks.Tags.security, deploy=True)
