import json

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, Invitation, Organization, User
from accounts.services import token_hash


def list_directory(
    *,
    search: str = "",
    organization: str = "",
    expertise: str = "",
    city: str = "",
) -> QuerySet[User]:
    """Every active, verified person on the platform, for the people directory."""
    people = User.objects.filter(is_active=True, email_verified_at__isnull=False).select_related(
        "organization"
    )
    for term in search.split():
        people = people.filter(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(job_title__icontains=term)
            | Q(organization__name__icontains=term)
            | Q(expertise_tags__icontains=term)
            | Q(organization__city__icontains=term)
        )
    if organization:
        people = people.filter(
            Q(organization__slug=organization)
            | Q(organization__pk=int(organization) if organization.isdigit() else None)
        )
    if expertise:
        # Tags are stored lower-case; matching the quoted JSON string matches a whole tag.
        people = people.filter(expertise_tags__icontains=json.dumps(expertise.strip().lower()))
    if city:
        people = people.filter(organization__city__iexact=city.strip())
    return people.order_by("first_name", "last_name", "pk")


async def aget_directory_person(user_id: int) -> User | None:
    return await list_directory().filter(pk=user_id).afirst()


def list_members(organization: Organization, *, include_inactive: bool) -> QuerySet[User]:
    members = User.objects.filter(organization=organization).select_related("organization")
    if not include_inactive:
        members = members.filter(is_active=True)
    return members.order_by("role", "first_name", "last_name", "pk")


def list_open_invitations(organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, cancelled_at__isnull=True
    ).select_related("invited_by")


def list_api_tokens(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True)


async def aget_user_for_api_token(raw: str) -> User | None:
    token = (
        await ApiToken.objects.filter(token_hash=token_hash(raw), revoked_at__isnull=True)
        .select_related("user__organization")
        .afirst()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Recording every use would write on every request: once a minute is enough to show it.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
    return token.user


async def aget_own_organization(user: User) -> Organization | None:
    if user.organization_id is None:
        return None
    return await Organization.objects.filter(pk=user.organization_id).afirst()


def list_organizations() -> QuerySet[Organization]:
    return Organization.objects.order_by("name")
