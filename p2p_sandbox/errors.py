"""The one base class for the errors the platform raises on purpose.

The API renders an AppError as {"detail": message, "code": code} with its status; pages show it
as a form error or message; consumers send {"type": "error", "code": code}.
"""

from http import HTTPStatus


class AppError(Exception):
    code = "error"
    status = HTTPStatus.BAD_REQUEST
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = HTTPStatus(status) if status is not None else HTTPStatus(self.status)
        super().__init__(self.message)

    @property
    def extra(self) -> dict[str, object]:
        """Machine-readable details the API adds to {"detail", "code"}."""
        return {}


class NotFoundError(AppError):
    code = "not_found"
    status = HTTPStatus.NOT_FOUND
    message = "Not found."


class PermissionDeniedError(AppError):
    code = "permission_denied"
    status = HTTPStatus.FORBIDDEN
    message = "You do not have permission to do this."


class ConflictError(AppError):
    code = "conflict"
    status = HTTPStatus.CONFLICT
    message = "This conflicts with the current state."


class RateLimitedError(AppError):
    code = "rate_limited"
    status = HTTPStatus.TOO_MANY_REQUESTS
    message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
