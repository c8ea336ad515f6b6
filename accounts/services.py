"""Every write of the accounts app: sign-up, verification, sign-in, passwords, profiles,
organizations, invitations and API tokens."""

import hashlib
import math
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts import events, passwords
from accounts.devices import Device
from accounts.exceptions import (
    AccountLockedError,
    AlreadyMemberError,
    AlreadyVerifiedError,
    CodeAttemptsExceededError,
    CodeExpiredError,
    EmailDomainMismatchError,
    EmailTakenError,
    InvalidCodeError,
    InvalidCredentialsError,
    InvalidPasswordError,
    InvalidTokenError,
    InvitationExistsError,
    InvitationResendTooSoonError,
    LastAdminError,
    NotOrganizationAdminError,
    OrganizationExistsError,
    PersonalEmailDomainError,
    ResendTooSoonError,
    WrongPasswordError,
)
from accounts.models import (
    ApiToken,
    EmailVerification,
    FailedLogin,
    Invitation,
    Organization,
    User,
)
from p2p_sandbox.emails import queue_email
from p2p_sandbox.errors import NotFoundError
from p2p_sandbox.images import inspect_image
from p2p_sandbox.queueing import delay_after_commit

API_TOKEN_PREFIX = "p2p_"  # noqa: S105 - a marker that makes leaked tokens easy to spot
PROFILE_FIELDS = {"first_name", "last_name", "job_title", "expertise_tags", "language"}
ORGANIZATION_FIELDS = {"name", "industry_sector", "size", "city", "country", "website"}


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def check_resend_cooldown(
    sent_at: datetime, error: type[ResendTooSoonError] = ResendTooSoonError
) -> None:
    """Raise `error` (with Retry-After) within EMAIL_CODE_RESEND_AFTER of sent_at."""
    wait = (sent_at + settings.EMAIL_CODE_RESEND_AFTER - timezone.now()).total_seconds()
    if wait > 0:
        raise error(retry_after=max(1, math.ceil(wait)))


def site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def validate_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise InvalidPasswordError(" ".join(error.messages)) from error


def check_organization_admin(actor: User) -> Organization:
    if actor.organization_id is None or not actor.is_organization_admin:
        raise NotOrganizationAdminError
    return actor.organization  # type: ignore[return-value]


def end_all_sessions(user: User) -> None:
    """End every session of `user` at its next request, and close their live sockets."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    events.publish_sessions_ended(user.pk)


# Sign-up and email verification


def unique_organization_slug(name: str) -> str:
    base = slugify(name)[:60] or "organization"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def sign_up(
    *, email: str, password: str, organization_name: str, first_name: str = "", last_name: str = ""
) -> User:
    """Create an organization and its first user, an unverified admin, and email the code."""
    email = normalize_email(email)
    domain = email_domain(email)
    if domain in settings.PERSONAL_EMAIL_DOMAINS:
        raise PersonalEmailDomainError
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTakenError
    if Organization.objects.filter(email_domain=domain).exists():
        raise OrganizationExistsError
    user = User(email=email, first_name=first_name, last_name=last_name, role=User.Role.ADMIN)
    validate_password(password, user)
    try:
        with transaction.atomic():
            organization = Organization.objects.create(
                name=organization_name,
                slug=unique_organization_slug(organization_name),
                email_domain=domain,
            )
            user.organization = organization
            user.set_password(password)
            user.save()
    except IntegrityError as error:  # a concurrent sign-up took the domain or the email
        raise OrganizationExistsError from error
    send_verification_code(user)
    return user


def verification_code_hash(user: User, code: str) -> str:
    return salted_hmac(
        "accounts.email-verification", f"{user.pk}:{code}", algorithm="sha256"
    ).hexdigest()


def send_verification_code(user: User) -> None:
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = timezone.now()
    EmailVerification.objects.update_or_create(
        user=user,
        defaults={
            "code_hash": verification_code_hash(user, code),
            "sent_at": now,
            "expires_at": now + settings.EMAIL_CODE_LIFETIME,
            "failed_attempts": 0,
        },
    )
    minutes = int(settings.EMAIL_CODE_LIFETIME.total_seconds() // 60)
    with translation.override(user.language):
        queue_email(
            to=user.email,
            template="message",
            context={
                "subject": _("Your P2P Sandbox code: %(code)s") % {"code": code},
                "heading": _("Confirm your email address"),
                "paragraphs": [
                    _("Your verification code is %(code)s.") % {"code": code},
                    _("It is valid for %(minutes)d minutes.") % {"minutes": minutes},
                ],
                "action_url": site_url("/accounts/verify/"),
                "action_label": _("Enter the code"),
                "reason": _("You signed up for P2P Sandbox with this address."),
            },
        )


@transaction.atomic
def resend_verification_code(*, email: str) -> None:
    """Send a new code. Unknown and verified addresses are ignored without saying so."""
    user = User.objects.filter(email__iexact=normalize_email(email), is_active=True).first()
    if user is None or user.is_email_verified:
        return
    current = EmailVerification.objects.select_for_update().filter(user=user).first()
    if current is not None:
        check_resend_cooldown(current.sent_at)
    send_verification_code(user)


def verify_email(*, email: str, code: str) -> User:
    """Check a code. Wrong codes count against the code; the fifth spends it."""
    with transaction.atomic():
        user = User.objects.filter(email__iexact=normalize_email(email), is_active=True).first()
        if user is None:
            raise InvalidCodeError
        if user.is_email_verified:
            raise AlreadyVerifiedError
        verification = EmailVerification.objects.select_for_update().filter(user=user).first()
        if verification is None:
            raise InvalidCodeError
        if verification.failed_attempts >= settings.EMAIL_CODE_MAX_ATTEMPTS:
            raise CodeAttemptsExceededError
        if timezone.now() >= verification.expires_at:
            raise CodeExpiredError
        if constant_time_compare(verification.code_hash, verification_code_hash(user, code)):
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
            verification.delete()
            return user
        verification.failed_attempts += 1
        verification.save(update_fields=["failed_attempts"])
        attempts_left = settings.EMAIL_CODE_MAX_ATTEMPTS - verification.failed_attempts
    if attempts_left == 0:
        raise CodeAttemptsExceededError
    raise InvalidCodeError(
        _("This code is not correct. %(left)d attempts left.") % {"left": attempts_left}
    )


# Signing in


def lockout_retry_after(email: str, device_id: str = "") -> int | None:
    """Seconds until `email` may try again from `device_id` ("" for the unknown devices), or
    None when it is not locked there."""
    now = timezone.now()
    recent = list(
        FailedLogin.objects.filter(
            email=email,
            device=device_id,
            created_at__gt=now - settings.LOGIN_FAILURE_WINDOW,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.LOGIN_FAILURE_LIMIT]
    )
    if len(recent) < settings.LOGIN_FAILURE_LIMIT:
        return None
    locked_until = recent[0] + settings.LOGIN_LOCKOUT
    remaining = (locked_until - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else None


def known_device_id(email: str, device: Device | None) -> str:
    """The device's id when its cookie belongs to the account with `email`, else "": a cookie
    of another user counts as an unknown device."""
    if device is None:
        return ""
    if User.objects.filter(pk=device.user_id, email__iexact=email).exists():
        return device.device_id
    return ""


def authenticate_credentials(*, email: str, password: str, device: Device | None = None) -> User:
    """The user these credentials belong to, or an error that says the same for every email.

    LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW lock the address for
    LOGIN_LOCKOUT, whether or not an account has it: the lock reveals nothing. Failures are
    counted per device: a browser the account's owner signed in on before (`device`, from its
    cookie) has its own count, and every other browser shares one, so failures from elsewhere
    never lock the owner's known browsers out. The hash runs in the password pool
    (accounts/passwords.py).
    """
    email = normalize_email(email)
    device_id, user = find_login_candidate(email=email, device=device)
    check = passwords.check_password_in_pool(password, user.password if user else "")
    return finish_authentication(email=email, device_id=device_id, user=user, check=check)


async def aauthenticate_credentials(
    *, email: str, password: str, device: Device | None = None
) -> User:
    """authenticate_credentials from the event loop: two thread hops and the hash in the pool,
    so the request's thread is never busy hashing, and holds no database connection while the
    hash waits its turn."""
    email = normalize_email(email)
    device_id, user = await sync_to_async(find_login_candidate_and_release)(
        email=email, device=device
    )
    check = await passwords.acheck_password_in_pool(password, user.password if user else "")
    return await sync_to_async(finish_authentication)(
        email=email, device_id=device_id, user=user, check=check
    )


def find_login_candidate_and_release(
    *, email: str, device: Device | None
) -> tuple[str, User | None]:
    """find_login_candidate, then the thread's connection goes back to the pool (outside a
    transaction): under a burst, logins queued for the hash would otherwise hold every pooled
    connection, and the process's other requests would time out waiting for one."""
    try:
        return find_login_candidate(email=email, device=device)
    finally:
        if not connection.in_atomic_block:
            connection.close()


def find_login_candidate(*, email: str, device: Device | None) -> tuple[str, User | None]:
    """The device id failures count against, and the account with `email` (or None); raises
    AccountLockedError when that device is locked out."""
    device_id = known_device_id(email, device)
    retry_after = lockout_retry_after(email, device_id)
    if retry_after is not None:
        raise AccountLockedError(retry_after=retry_after)
    try:
        return device_id, User.objects.get_by_natural_key(email)
    except User.DoesNotExist:
        return device_id, None


def finish_authentication(
    *, email: str, device_id: str, user: User | None, check: passwords.PasswordCheck
) -> User:
    if user is None or not check.valid or not user.is_active:
        FailedLogin.objects.create(email=email, device=device_id)
        user_login_failed.send(
            sender=__name__, credentials={"email": email, "password": "********"}
        )
        raise InvalidCredentialsError
    if check.new_encoded is not None:
        user.password = check.new_encoded
        user.save(update_fields=["password"])
    FailedLogin.objects.filter(email=email, device=device_id).delete()
    return user


def sign_out_everywhere(*, actor: User) -> None:
    end_all_sessions(actor)


# Passwords


def request_password_reset(*, email: str) -> None:
    """Email a reset link if an active account has this address; say nothing either way."""
    user = User.objects.filter(email__iexact=normalize_email(email), is_active=True).first()
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    with translation.override(user.language):
        queue_email(
            to=user.email,
            template="message",
            context={
                "subject": _("Reset your P2P Sandbox password"),
                "heading": _("Reset your password"),
                "paragraphs": [
                    _("Someone asked to reset the password of this account."),
                    _("The link works once, for %(hours)d hours. If it was not you, ignore it.")
                    % {"hours": hours},
                ],
                "action_url": site_url(f"/accounts/reset/{uid}/{token}/"),
                "action_label": _("Choose a new password"),
                "reason": _("A password reset was requested for this address."),
            },
        )


def user_from_reset_token(uid: str, token: str) -> User:
    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uid).decode()), is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        raise InvalidTokenError from None
    if not default_token_generator.check_token(user, token):
        raise InvalidTokenError
    return user


@transaction.atomic
def reset_password(*, uid: str, token: str, new_password: str) -> User:
    user = user_from_reset_token(uid, token)
    validate_password(new_password, user)
    user.set_password(new_password)
    # The link reached this inbox, so the address is proven.
    user.email_verified_at = user.email_verified_at or timezone.now()
    user.save(update_fields=["password", "email_verified_at"])
    end_all_sessions(user)
    FailedLogin.objects.filter(email=user.email).delete()
    return user


@transaction.atomic
def change_password(*, actor: User, current_password: str, new_password: str) -> User:
    """Change the password; every session ends (the caller keeps its own with a fresh hash)."""
    if not actor.check_password(current_password):
        raise WrongPasswordError
    validate_password(new_password, actor)
    actor.set_password(new_password)
    actor.save(update_fields=["password"])
    end_all_sessions(actor)
    return actor


# Profiles


def clean_tags(tags: Iterable[str], *, limit: int) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        normalized = " ".join(tag.split()).lower()
        if normalized and normalized not in cleaned:
            cleaned.append(normalized)
    if len(cleaned) > limit:
        raise ValidationError(_("At most %(limit)d tags.") % {"limit": limit})
    return cleaned


@transaction.atomic
def update_profile(*, actor: User, fields: dict[str, Any]) -> User:
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"Not profile fields: {sorted(unknown)}")
    user = User.objects.select_for_update().get(pk=actor.pk)
    for name, value in fields.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password", "avatar"], validate_unique=False)
    user.save(update_fields=list(fields))
    return user


def replace_pending_image(
    model: type[User] | type[Organization],
    pk: int,
    *,
    field: str,
    folder: str,
    upload: Any,
    task: Any,
) -> None:
    """Check an uploaded image, keep it aside in `field`, and have `task` re-encode it.

    The image is checked here so that bad input is refused at once; the worker re-encodes it
    and makes it the avatar or logo. An older upload still waiting is dropped.
    """
    inspect_image(upload, max_bytes=settings.IMAGE_UPLOAD_MAX_BYTES)
    upload.seek(0)
    pending = default_storage.save(
        f"uploads/{folder}/{uuid.uuid4().hex}", ContentFile(upload.read())
    )
    with transaction.atomic():
        row = model.objects.select_for_update().get(pk=pk)
        replaced = getattr(row, field)
        model.objects.filter(pk=pk).update(**{field: pending})
        delay_after_commit(task, pk)
    if replaced:
        default_storage.delete(replaced)


def upload_avatar(*, actor: User, upload: Any) -> None:
    from accounts.tasks import process_avatar_task

    replace_pending_image(
        User,
        actor.pk,
        field="avatar_pending",
        folder="avatars",
        upload=upload,
        task=process_avatar_task,
    )


def upload_logo(*, actor: User, upload: Any) -> Organization:
    from accounts.tasks import process_logo_task

    organization = check_organization_admin(actor)
    replace_pending_image(
        Organization,
        organization.pk,
        field="logo_pending",
        folder="logos",
        upload=upload,
        task=process_logo_task,
    )
    return Organization.objects.get(pk=organization.pk)


# Organizations and members


@transaction.atomic
def update_organization(*, actor: User, fields: dict[str, Any]) -> Organization:
    unknown = set(fields) - ORGANIZATION_FIELDS
    if unknown:
        raise ValueError(f"Not organization fields: {sorted(unknown)}")
    organization = Organization.objects.select_for_update().get(
        pk=check_organization_admin(actor).pk
    )
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.full_clean(exclude=["logo", "slug", "email_domain"], validate_unique=False)
    organization.save(update_fields=list(fields))
    return organization


def get_member_for_admin(actor: User, member_id: int) -> User:
    organization = check_organization_admin(actor)
    member = User.objects.select_for_update().filter(pk=member_id, organization=organization)
    found = member.first()
    if found is None:
        raise NotFoundError
    return found


@transaction.atomic
def change_member(
    *, actor: User, member_id: int, role: str | None = None, is_active: bool | None = None
) -> User:
    """Change a member's role or deactivate/reactivate them; one active admin always remains."""
    member = get_member_for_admin(actor, member_id)
    # Lock every admin row so two admins demoting each other cannot both succeed.
    admins = list(
        User.objects.select_for_update()
        .filter(organization=member.organization_id, role=User.Role.ADMIN, is_active=True)
        .values_list("pk", flat=True)
    )
    new_role = role if role is not None else member.role
    new_active = is_active if is_active is not None else member.is_active
    stays_admin = new_role == User.Role.ADMIN and new_active
    if member.pk in admins and not stays_admin and len(admins) == 1:
        raise LastAdminError
    deactivated = member.is_active and not new_active
    member.role, member.is_active = new_role, new_active
    member.save(update_fields=["role", "is_active"])
    if deactivated:
        end_all_sessions(member)
    return member


# Invitations


def send_invitation_email(invitation: Invitation, raw_token: str) -> None:
    organization = invitation.organization
    inviter = invitation.invited_by
    days = settings.INVITATION_LIFETIME.days
    queue_email(
        to=invitation.email,
        template="message",
        context={
            "subject": _("Join %(organization)s on P2P Sandbox")
            % {"organization": organization.name},
            "heading": _("You are invited to P2P Sandbox"),
            "paragraphs": [
                _("%(inviter)s invites you to join %(organization)s on P2P Sandbox.")
                % {
                    "inviter": inviter.get_full_name() if inviter else organization.name,
                    "organization": organization.name,
                },
                _("The invitation is valid for %(days)d days.") % {"days": days},
            ],
            "action_url": site_url(f"/accounts/invitations/{raw_token}/"),
            "action_label": _("Accept the invitation"),
            "reason": _("An admin of %(organization)s invited this address.")
            % {"organization": organization.name},
        },
    )


@transaction.atomic
def invite_member(*, actor: User, email: str, role: str = User.Role.MEMBER) -> Invitation:
    organization = check_organization_admin(actor)
    email = normalize_email(email)
    if email_domain(email) != organization.email_domain:
        raise EmailDomainMismatchError
    if User.objects.filter(email__iexact=email).exists():
        raise AlreadyMemberError
    raw_token = secrets.token_urlsafe(32)
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization,
                email=email,
                role=role,
                invited_by=actor,
                token_hash=token_hash(raw_token),
                sent_at=now,
                expires_at=now + settings.INVITATION_LIFETIME,
            )
    except IntegrityError as error:
        raise InvitationExistsError from error
    send_invitation_email(invitation, raw_token)
    return invitation


def get_open_invitation_for_admin(actor: User, invitation_id: int) -> Invitation:
    organization = check_organization_admin(actor)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            pk=invitation_id,
            organization=organization,
            accepted_at__isnull=True,
            cancelled_at__isnull=True,
        )
        .select_related("organization")
        .first()
    )
    if invitation is None:
        raise NotFoundError
    return invitation


@transaction.atomic
def resend_invitation(*, actor: User, invitation_id: int) -> Invitation:
    """Send a fresh link (the old one stops working) valid for another full period."""
    invitation = get_open_invitation_for_admin(actor, invitation_id)
    check_resend_cooldown(invitation.sent_at, InvitationResendTooSoonError)
    raw_token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation.token_hash = token_hash(raw_token)
    invitation.sent_at = now
    invitation.expires_at = now + settings.INVITATION_LIFETIME
    invitation.invited_by = actor
    invitation.save(update_fields=["token_hash", "sent_at", "expires_at", "invited_by"])
    send_invitation_email(invitation, raw_token)
    return invitation


@transaction.atomic
def cancel_invitation(*, actor: User, invitation_id: int) -> None:
    invitation = get_open_invitation_for_admin(actor, invitation_id)
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at"])


def get_invitation_by_token(raw_token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(token_hash=token_hash(raw_token), accepted_at__isnull=True)
        .filter(cancelled_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None:
        raise InvalidTokenError
    return invitation


@transaction.atomic
def accept_invitation(
    *, token: str, password: str, first_name: str = "", last_name: str = ""
) -> User:
    """Create the invited member's account, verified (the link proved the address)."""
    invitation = get_invitation_by_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise InvalidTokenError
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise AlreadyMemberError
    user = User(
        email=invitation.email,
        first_name=first_name,
        last_name=last_name,
        organization_id=invitation.organization_id,
        role=invitation.role,
        email_verified_at=timezone.now(),
    )
    validate_password(password, user)
    user.set_password(password)
    user.save()
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return user


# API tokens


def create_api_token(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the token itself, which is not stored and shown only now."""
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=actor, name=name, prefix=raw[:12], token_hash=token_hash(raw)
    )
    return token, raw


def revoke_api_token(*, actor: User, token_id: int) -> None:
    revoked = ApiToken.objects.filter(pk=token_id, user=actor, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise NotFoundError
