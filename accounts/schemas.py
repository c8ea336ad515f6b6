from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import AfterValidator, Field, StringConstraints

from accounts.models import Organization, User, person_name_validator
from p2p_sandbox.schemas import InputSchema


def django_validator(validator: object) -> AfterValidator:
    def check(value: str) -> str:
        if value:
            try:
                validator(value)  # type: ignore[operator]
            except ValidationError as error:
                raise ValueError(error.messages[0]) from error
        return value

    return AfterValidator(check)


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254), django_validator(validate_email)
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=50),
    django_validator(person_name_validator),
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
OrganizationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)
]
Sector = Literal[tuple(Organization.Sector.values)]  # type: ignore[valid-type]
Size = Literal[tuple(Organization.Size.values)]  # type: ignore[valid-type]
Role = Literal["admin", "member"]


class SignupIn(InputSchema):
    email: Email
    password: Password
    organization_name: OrganizationName
    first_name: PersonName = ""
    last_name: PersonName = ""


class EmailIn(InputSchema):
    email: Email


class VerifyEmailIn(InputSchema):
    email: Email
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


class LoginIn(InputSchema):
    email: Email
    password: Password


class PasswordResetConfirmIn(InputSchema):
    uid: Annotated[str, StringConstraints(max_length=64)]
    token: Annotated[str, StringConstraints(max_length=128)]
    new_password: Password


class PasswordChangeIn(InputSchema):
    current_password: Password
    new_password: Password


class ProfilePatch(InputSchema):
    """Only the fields given change; none may be null (an empty string clears a text)."""

    first_name: PersonName = None  # type: ignore[assignment]
    last_name: PersonName = None  # type: ignore[assignment]
    job_title: ShortText = None  # type: ignore[assignment]
    expertise_tags: Annotated[list[Tag], Field(max_length=10)] = None  # type: ignore[assignment]
    language: Literal["en", "ar"] = None  # type: ignore[assignment]


class OrganizationPatch(InputSchema):
    """Only the fields given change; none may be null (an empty string clears a text)."""

    name: OrganizationName = None  # type: ignore[assignment]
    industry_sector: Sector = None  # type: ignore[assignment]
    size: Size = None  # type: ignore[assignment]
    city: ShortText = None  # type: ignore[assignment]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = None  # type: ignore[assignment]
    website: LongText = None  # type: ignore[assignment]


class MemberPatch(InputSchema):
    role: Role | None = None
    is_active: bool | None = None


class InvitationIn(InputSchema):
    email: Email
    role: Role = "member"


class AcceptInvitationIn(InputSchema):
    token: Annotated[str, StringConstraints(max_length=128)]
    password: Password
    first_name: PersonName = ""
    last_name: PersonName = ""


class ApiTokenIn(InputSchema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class OrganizationBriefOut(Schema):
    id: int
    name: str
    slug: str
    city: str
    is_verified: bool


class OrganizationOut(Schema):
    id: int
    name: str
    slug: str
    email_domain: str | None
    industry_sector: str
    size: str
    city: str
    country: str
    website: str
    logo_url: str | None
    is_verified: bool
    created_at: datetime

    @staticmethod
    def resolve_logo_url(organization: Organization) -> str | None:
        return organization.logo.url if organization.logo else None


class PersonOut(Schema):
    """What every member of the platform may see of a person."""

    id: int
    first_name: str
    last_name: str
    full_name: str
    job_title: str
    expertise_tags: list[str]
    avatar_url: str | None
    organization: OrganizationBriefOut | None
    role: str

    @staticmethod
    def resolve_full_name(user: User) -> str:
        return user.get_full_name()

    @staticmethod
    def resolve_avatar_url(user: User) -> str | None:
        return user.avatar.url if user.avatar else None


class UserOut(PersonOut):
    """A person as they and their organization's admins see them."""

    email: str
    language: str
    is_active: bool
    is_email_verified: bool
    date_joined: datetime


class AuthOut(Schema):
    user: UserOut


class SignupOut(Schema):
    user: UserOut
    organization: OrganizationOut


class InvitationOut(Schema):
    id: int
    email: str
    role: str
    created_at: datetime
    sent_at: datetime
    expires_at: datetime


class InvitationPreviewOut(Schema):
    email: str
    organization: OrganizationBriefOut
    expires_at: datetime


class ApiTokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="Shown once: it is not stored and cannot be shown again.")


class AcceptedOut(Schema):
    detail: str
