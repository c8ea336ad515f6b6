from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.demo import seed_demo_accounts
from forums.demo import create_demo_forums
from messaging.demo import seed_demo_conversations
from usecases.demo import create_demo_use_cases


class Command(BaseCommand):
    help = "Create demo organizations and users (idempotent) and print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off. Demo accounts have a published password.",
        )

    def handle(self, *args: object, allow_production: bool, **options: object) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Demo accounts have a published password; refusing with DEBUG off. "
                "Pass --allow-production to seed anyway."
            )
        logins = seed_demo_accounts()
        seed_demo_conversations()
        create_demo_forums()
        create_demo_use_cases()
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Sign in with:"))
        width = max(len(login.email) for login in logins)
        for login in logins:
            self.stdout.write(f"  {login.email:<{width}}  {login.password}  {login.description}")
