import pytest
from django.test import Client

from p2p_sandbox.models import OutboundEmail

pytestmark = pytest.mark.django_db


def test_outbox_admin_lists_emails_for_staff_and_is_read_only(
    client: Client, user_factory: object
) -> None:
    staff = user_factory(is_staff=True, is_superuser=True)  # type: ignore[operator]
    email = OutboundEmail.objects.create(
        to="omar@gulfprecision.example",
        subject="Visit confirmed",
        text_body="Hi",
        template="message",
    )
    client.force_login(staff)

    listing = client.get("/admin/p2p_sandbox/outboundemail/")
    add = client.get("/admin/p2p_sandbox/outboundemail/add/")
    change = client.post(
        f"/admin/p2p_sandbox/outboundemail/{email.pk}/change/", {"subject": "Edited"}
    )

    assert listing.status_code == 200
    assert b"Visit confirmed" in listing.content
    assert add.status_code == 403
    assert change.status_code == 403
    email.refresh_from_db()
    assert email.subject == "Visit confirmed"


def test_outbox_admin_is_closed_to_members(client: Client, user_factory: object) -> None:
    client.force_login(user_factory())  # type: ignore[operator]

    response = client.get("/admin/p2p_sandbox/outboundemail/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
