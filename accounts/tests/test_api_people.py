import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import ApiToken, Invitation, Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(organization_factory: object) -> Organization:
    return organization_factory(  # type: ignore[operator]
        name="Jubail Valves", slug="jubail-valves", email_domain="jubail-valves.example"
    )


@pytest.fixture
def admin(user_factory: object, org: Organization) -> User:
    return user_factory(  # type: ignore[operator]
        organization=org, admin=True, email="sara@jubail-valves.example", first_name="Sara"
    )


@pytest.fixture
def member(user_factory: object, org: Organization) -> User:
    return user_factory(  # type: ignore[operator]
        organization=org, email="omar@jubail-valves.example", first_name="Omar"
    )


@pytest.fixture
def outsider(user_factory: object, organization_factory: object) -> User:
    other = organization_factory(name="Najd Foods", email_domain="najdfoods.example")  # type: ignore[operator]
    return user_factory(organization=other, admin=True, email="aisha@najdfoods.example")  # type: ignore[operator]


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# Anonymous callers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/users/me"),
        ("patch", "/api/v1/users/me"),
        ("get", "/api/v1/users"),
        ("get", "/api/v1/users/1"),
        ("get", "/api/v1/users/me/tokens"),
        ("post", "/api/v1/users/me/tokens"),
        ("get", "/api/v1/organizations/me"),
        ("patch", "/api/v1/organizations/me"),
        ("get", "/api/v1/organizations/members"),
        ("patch", "/api/v1/organizations/members/1"),
        ("get", "/api/v1/organizations/invitations"),
        ("post", "/api/v1/organizations/invitations"),
        ("delete", "/api/v1/organizations/invitations/1"),
        ("post", "/api/v1/auth/logout"),
    ],
)
def test_anonymous_callers_get_401(client: Client, method: str, path: str) -> None:
    response = getattr(client, method)(path, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# Profile


def test_me_returns_the_own_profile_with_email(client: Client, member: User) -> None:
    response = signed_in(client, member).get("/api/v1/users/me")

    body = response.json()
    assert response.status_code == 200
    assert (body["id"], body["email"], body["organization"]["slug"]) == (
        member.pk,
        "omar@jubail-valves.example",
        "jubail-valves",
    )


def test_patch_me_updates_only_the_given_fields(api: object, client: Client, member: User) -> None:
    signed_in(client, member)

    response = api.patch(  # type: ignore[attr-defined]
        "/api/v1/users/me",
        {
            "jobTitle": "Reliability Engineer",
            "expertiseTags": ["PLC", " Vibration  analysis", "plc"],
            "language": "ar",
        },
    )

    member.refresh_from_db()
    assert response.status_code == 200
    assert (member.first_name, member.job_title, member.language) == (
        "Omar",
        "Reliability Engineer",
        "ar",
    )
    assert member.expertise_tags == ["plc", "vibration analysis"]


def test_patch_me_accepts_arabic_names(api: object, client: Client, member: User) -> None:
    signed_in(client, member)

    response = api.patch("/api/v1/users/me", {"firstName": "عمر", "lastName": "الحداد"})  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert response.json()["full_name"] == "عمر الحداد"


@pytest.mark.parametrize(
    "payload",
    [
        {"firstName": "x" * 51},
        {"firstName": "Omar3"},
        {"expertiseTags": [f"tag{n}" for n in range(11)]},
        {"language": "fr"},
        {"email": "new@jubail-valves.example"},
        {"role": "admin"},
        {"jobTitle": 42},
    ],
)
def test_patch_me_bad_input_is_422_and_changes_nothing(
    api: object, client: Client, member: User, payload: dict
) -> None:
    signed_in(client, member)

    response = api.patch("/api/v1/users/me", payload)  # type: ignore[attr-defined]

    member.refresh_from_db()
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert (member.first_name, member.role, member.language, member.expertise_tags) == (
        "Omar",
        "member",
        "en",
        [],
    )


# Directory


def test_directory_lists_verified_active_people_of_every_organization(
    client: Client, admin: User, member: User, outsider: User, user_factory: object
) -> None:
    user_factory(unverified=True)  # type: ignore[operator]
    user_factory(is_active=False)  # type: ignore[operator]

    response = signed_in(client, member).get("/api/v1/users")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 3
    assert {person["id"] for person in body["items"]} == {admin.pk, member.pk, outsider.pk}
    assert all("email" not in person for person in body["items"])


def test_directory_search_and_filters(
    client: Client, admin: User, member: User, outsider: User
) -> None:
    User.objects.filter(pk=member.pk).update(expertise_tags=["plc", "scada"])
    Organization.objects.filter(pk=outsider.organization_id).update(city="Riyadh")
    signed_in(client, admin)

    def ids(**query: str) -> set[int]:
        return {person["id"] for person in client.get("/api/v1/users", query).json()["items"]}

    assert ids(search="omar") == {member.pk}
    assert ids(search="najd") == {outsider.pk}
    assert ids(organization="jubail-valves") == {admin.pk, member.pk}
    assert ids(expertise="PLC") == {member.pk}
    assert ids(expertise="pl") == set()
    assert ids(city="riyadh") == {outsider.pk}


def test_directory_page_size_is_capped(client: Client, member: User, user_factory: object) -> None:
    user_factory.create_batch(104)  # type: ignore[attr-defined]

    body = signed_in(client, member).get("/api/v1/users", {"page_size": 500}).json()

    assert body["count"] == 105
    assert len(body["items"]) == 100


def test_person_detail_hides_unverified_people(
    client: Client, member: User, user_factory: object
) -> None:
    hidden = user_factory(unverified=True)  # type: ignore[operator]
    signed_in(client, member)

    assert client.get(f"/api/v1/users/{member.pk}").status_code == 200
    assert client.get(f"/api/v1/users/{hidden.pk}").status_code == 404


# Organization


def test_organization_me_and_members(client: Client, admin: User, member: User) -> None:
    signed_in(client, member)

    organization = client.get("/api/v1/organizations/me").json()
    members = client.get("/api/v1/organizations/members").json()

    assert organization["slug"] == "jubail-valves"
    assert [person["id"] for person in members["items"]] == [admin.pk, member.pk]


def test_only_admins_edit_the_organization(
    api: object, client: Client, admin: User, member: User
) -> None:
    signed_in(client, member)
    denied = api.patch("/api/v1/organizations/me", {"city": "Dammam"})  # type: ignore[attr-defined]
    signed_in(client, admin)
    allowed = api.patch("/api/v1/organizations/me", {"city": "Dammam", "size": "medium"})  # type: ignore[attr-defined]

    assert denied.status_code == 403
    assert denied.json()["code"] == "not_organization_admin"
    assert allowed.status_code == 200
    assert Organization.objects.get(pk=admin.organization_id).city == "Dammam"


def test_admin_changes_a_role_and_the_last_admin_stays(
    api: object, client: Client, admin: User, member: User
) -> None:
    signed_in(client, admin)

    demote_self = api.patch(f"/api/v1/organizations/members/{admin.pk}", {"role": "member"})  # type: ignore[attr-defined]
    promote = api.patch(f"/api/v1/organizations/members/{member.pk}", {"role": "admin"})  # type: ignore[attr-defined]
    demote_self_now = api.patch(f"/api/v1/organizations/members/{admin.pk}", {"role": "member"})  # type: ignore[attr-defined]

    assert demote_self.status_code == 409
    assert demote_self.json()["code"] == "last_admin"
    assert promote.status_code == 200
    assert demote_self_now.status_code == 200
    assert User.objects.get(pk=member.pk).role == "admin"
    assert User.objects.get(pk=admin.pk).role == "member"


def test_deactivating_a_member_ends_their_sessions(
    api: object, client: Client, admin: User, member: User
) -> None:
    member_client = signed_in(Client(), member)
    signed_in(client, admin)

    deactivated = api.patch(f"/api/v1/organizations/members/{member.pk}", {"isActive": False})  # type: ignore[attr-defined]
    members_seen_by_admin = client.get("/api/v1/organizations/members").json()["count"]
    reactivated = api.patch(f"/api/v1/organizations/members/{member.pk}", {"isActive": True})  # type: ignore[attr-defined]

    assert deactivated.status_code == 200
    assert member_client.get("/api/v1/users/me").status_code == 401
    assert members_seen_by_admin == 2
    assert reactivated.json()["is_active"] is True


def test_members_cannot_manage_members(
    api: object, client: Client, admin: User, member: User
) -> None:
    signed_in(client, member)

    response = api.patch(f"/api/v1/organizations/members/{admin.pk}", {"isActive": False})  # type: ignore[attr-defined]

    assert response.status_code == 403
    assert User.objects.get(pk=admin.pk).is_active is True


def test_admins_cannot_touch_another_organizations_members(
    api: object, client: Client, admin: User, outsider: User
) -> None:
    signed_in(client, admin)

    response = api.patch(f"/api/v1/organizations/members/{outsider.pk}", {"isActive": False})  # type: ignore[attr-defined]

    assert response.status_code == 404
    assert User.objects.get(pk=outsider.pk).is_active is True


# Invitations


def invitation_token() -> str:
    return re.search(r"/accounts/invitations/([^/]+)/", mail.outbox[-1].body).group(1)


def test_invitation_flow_from_invite_to_first_login(
    api: object, client: Client, admin: User
) -> None:
    signed_in(client, admin)
    created = api.post(
        "/api/v1/organizations/invitations", {"email": "Khalid@Jubail-Valves.example"}
    )  # type: ignore[attr-defined]
    listed = client.get("/api/v1/organizations/invitations").json()
    token = invitation_token()
    client.logout()

    preview = client.get(f"/api/v1/auth/invitations/{token}")
    accepted = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/accept-invitation",
        {"token": token, "password": "Gate-Valves-77", "firstName": "Khalid", "lastName": "Otaibi"},
    )
    reused = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/accept-invitation", {"token": token, "password": "Gate-Valves-77"}
    )
    login = api.post(  # type: ignore[attr-defined]
        "/api/v1/auth/login",
        {"email": "khalid@jubail-valves.example", "password": "Gate-Valves-77"},
    )

    assert created.status_code == 201
    assert listed["count"] == 1
    assert mail.outbox[-1].to == ["khalid@jubail-valves.example"]
    assert preview.json()["organization"]["name"] == "Jubail Valves"
    assert accepted.status_code == 201
    assert accepted.json()["user"]["is_email_verified"] is True
    assert reused.status_code == 400
    assert login.status_code == 200
    khalid = User.objects.get(email="khalid@jubail-valves.example")
    assert (khalid.organization_id, khalid.role) == (admin.organization_id, "member")


@pytest.mark.parametrize(
    ("email", "status", "code"),
    [
        ("khalid@gmail.com", 400, "email_domain_mismatch"),
        ("omar@jubail-valves.example", 409, "already_member"),
    ],
)
def test_invitation_refused_for_other_domains_and_existing_people(
    api: object, client: Client, admin: User, member: User, email: str, status: int, code: str
) -> None:
    signed_in(client, admin)

    response = api.post("/api/v1/organizations/invitations", {"email": email})  # type: ignore[attr-defined]

    assert response.status_code == status
    assert response.json()["code"] == code
    assert Invitation.objects.count() == 0


def test_second_open_invitation_for_the_same_email_is_409(
    api: object, client: Client, admin: User
) -> None:
    signed_in(client, admin)
    api.post("/api/v1/organizations/invitations", {"email": "khalid@jubail-valves.example"})  # type: ignore[attr-defined]

    again = api.post("/api/v1/organizations/invitations", {"email": "KHALID@jubail-valves.example"})  # type: ignore[attr-defined]

    assert again.status_code == 409
    assert again.json()["code"] == "invitation_exists"
    assert Invitation.objects.count() == 1


def test_members_cannot_invite(api: object, client: Client, member: User) -> None:
    signed_in(client, member)

    response = api.post("/api/v1/organizations/invitations", {"email": "k@jubail-valves.example"})  # type: ignore[attr-defined]

    assert response.status_code == 403
    assert (Invitation.objects.count(), mail.outbox) == (0, [])


def test_cancelled_invitation_no_longer_works(api: object, client: Client, admin: User) -> None:
    signed_in(client, admin)
    invitation_id = api.post(  # type: ignore[attr-defined]
        "/api/v1/organizations/invitations", {"email": "khalid@jubail-valves.example"}
    ).json()["id"]
    token = invitation_token()

    cancelled = api.delete(f"/api/v1/organizations/invitations/{invitation_id}")  # type: ignore[attr-defined]
    preview = client.get(f"/api/v1/auth/invitations/{token}")

    assert cancelled.status_code == 204
    assert preview.status_code == 400
    assert preview.json()["code"] == "invalid_token"


def test_another_organizations_admin_cannot_cancel_an_invitation(
    api: object, client: Client, admin: User, outsider: User
) -> None:
    signed_in(client, admin)
    invitation_id = api.post(  # type: ignore[attr-defined]
        "/api/v1/organizations/invitations", {"email": "khalid@jubail-valves.example"}
    ).json()["id"]
    signed_in(client, outsider)

    response = api.delete(f"/api/v1/organizations/invitations/{invitation_id}")  # type: ignore[attr-defined]

    assert response.status_code == 404
    assert Invitation.objects.get().cancelled_at is None


# API tokens


def test_personal_token_authenticates_and_stops_when_revoked(
    api: object, client: Client, member: User
) -> None:
    signed_in(client, member)
    created = api.post("/api/v1/users/me/tokens", {"name": "ERP sync"}).json()  # type: ignore[attr-defined]
    client.logout()
    script = Client()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {created['token']}"}

    with_token = script.get("/api/v1/users/me", **bearer)
    patched = script.patch(
        "/api/v1/users/me", {"jobTitle": "Integrator"}, content_type="application/json", **bearer
    )
    signed_in(client, member)
    listed = client.get("/api/v1/users/me/tokens").json()
    revoked = api.delete(f"/api/v1/users/me/tokens/{created['id']}")  # type: ignore[attr-defined]
    after = script.get("/api/v1/users/me", **bearer)

    assert created["token"].startswith("p2p_")
    assert created["token"] not in ApiToken.objects.get().token_hash
    assert with_token.json()["id"] == member.pk
    assert patched.status_code == 200
    assert [token["name"] for token in listed] == ["ERP sync"]
    assert "token" not in listed[0]
    assert revoked.status_code == 204
    assert after.status_code == 401


def test_someone_elses_token_cannot_be_revoked(
    api: object, client: Client, member: User, admin: User
) -> None:
    signed_in(client, admin)
    token_id = api.post("/api/v1/users/me/tokens", {"name": "mine"}).json()["id"]  # type: ignore[attr-defined]
    signed_in(client, member)

    response = api.delete(f"/api/v1/users/me/tokens/{token_id}")  # type: ignore[attr-defined]

    assert response.status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_a_made_up_token_is_401(client: Client) -> None:
    response = client.get("/api/v1/users/me", HTTP_AUTHORIZATION="Bearer p2p_made-up")

    assert response.status_code == 401
