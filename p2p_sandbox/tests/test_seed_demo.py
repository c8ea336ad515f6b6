from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.demo import DEMO_PASSWORD
from accounts.models import Organization, User
from forums.demo import TOPICS
from forums.models import Post, Topic
from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db


def seed(**options: object) -> str:
    output = StringIO()
    call_command("seed_demo", stdout=output, **options)
    return output.getvalue()


def test_seed_demo_creates_organizations_and_people_once_and_prints_logins() -> None:
    first = seed(allow_production=True)
    counts = (
        Organization.objects.count(),
        User.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Topic.objects.count(),
        Post.objects.count(),
    )
    second = seed(allow_production=True)

    assert counts[:4] == (6, 12, 3, 6)
    assert counts[4:] == (len(TOPICS), sum(len(demo.replies) for demo in TOPICS))
    assert (
        Organization.objects.count(),
        User.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Topic.objects.count(),
        Post.objects.count(),
    ) == counts
    assert first == second
    assert f"sara@gulfprecision.example      {DEMO_PASSWORD}" in first
    sara = authenticate(email="sara@gulfprecision.example", password=DEMO_PASSWORD)
    assert sara is not None
    assert (sara.organization.slug, sara.role) == ("gulf-precision", User.Role.ADMIN)
    assert User.objects.get(email="moderator@p2psandbox.example").is_staff is True
    assert not User.objects.filter(email_verified_at__isnull=True).exists()
    assert Organization.objects.values("city").distinct().count() == 6


def test_seed_demo_refuses_without_debug_unless_told() -> None:
    with pytest.raises(CommandError, match="published password"):
        seed()

    assert User.objects.count() == 0
