from http import HTTPStatus

from p2p_sandbox.errors import AppError, ConflictError, PermissionDeniedError, RateLimitedError


class PersonalEmailDomainError(AppError):
    code = "personal_email_domain"
    message = "Sign up with your work email address, not a personal one."


class OrganizationExistsError(ConflictError):
    code = "organization_exists"
    message = (
        "An organization with this email domain is already on P2P Sandbox. "
        "Ask its admin for an invitation."
    )


class EmailTakenError(ConflictError):
    code = "email_taken"
    message = "An account with this email address already exists. Sign in instead."


class InvalidPasswordError(AppError):
    code = "invalid_password"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "This password is not allowed."


class InvalidCodeError(AppError):
    code = "invalid_code"
    message = "This code is not correct."


class CodeExpiredError(AppError):
    code = "code_expired"
    message = "This code has expired. Ask for a new one."


class CodeAttemptsExceededError(AppError):
    code = "code_attempts_exceeded"
    message = "Too many wrong codes. Ask for a new one."


class AlreadyVerifiedError(ConflictError):
    code = "already_verified"
    message = "This email address is already verified."


class ResendTooSoonError(RateLimitedError):
    code = "resend_too_soon"
    message = "A code was sent less than a minute ago. Wait a moment before asking again."


class InvalidCredentialsError(AppError):
    code = "invalid_credentials"
    status = HTTPStatus.UNAUTHORIZED
    message = "The email address or password is not correct."


class AccountLockedError(RateLimitedError):
    code = "account_locked"
    message = "Too many failed sign-in attempts. Try again later."


class EmailNotVerifiedError(PermissionDeniedError):
    code = "email_not_verified"
    message = "Verify your email address first: enter the code we sent you."


class InvalidTokenError(AppError):
    code = "invalid_token"
    message = "This link is not valid or has expired."


class NotOrganizationAdminError(PermissionDeniedError):
    code = "not_organization_admin"
    message = "Only your organization's admins can do this."


class LastAdminError(ConflictError):
    code = "last_admin"
    message = "An organization must keep at least one active admin."


class EmailDomainMismatchError(AppError):
    code = "email_domain_mismatch"
    message = "Invite people with an email address in your organization's domain."


class AlreadyMemberError(ConflictError):
    code = "already_member"
    message = "This person already has an account on P2P Sandbox."


class InvitationExistsError(ConflictError):
    code = "invitation_exists"
    message = "This person already has an open invitation. Resend it instead."


class WrongPasswordError(AppError):
    code = "wrong_password"
    message = "The current password is not correct."


class InvitationResendTooSoonError(ResendTooSoonError):
    message = "This invitation was sent less than a minute ago."
