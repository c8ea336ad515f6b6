"""The one NinjaAPI, mounted at /api/v1/.

Every error leaves the API as {"detail": <message>, "code": <code>} with a fitting status;
validation errors add "errors": [{"field", "message", "location"}].
"""

import logging
import math
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from accounts import api as accounts_api
from forums import api as forums_api
from messaging import api as messaging_api
from p2p_sandbox import ratelimit
from p2p_sandbox.errors import AppError, RateLimitedError
from p2p_sandbox.openapi import DocumentedErrorsAPI
from usecases import api as usecases_api

logger = logging.getLogger(__name__)

# Swagger UI styles its widgets inline; the docs page alone allows that.
docs_csp = csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})


STATUS_CODES = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.UNAUTHORIZED: "not_authenticated",
    HTTPStatus.FORBIDDEN: "permission_denied",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.CONFLICT: "conflict",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "too_large",
    HTTPStatus.UNPROCESSABLE_ENTITY: "validation_error",
    HTTPStatus.TOO_MANY_REQUESTS: "rate_limited",
}


def error_response(
    request: HttpRequest, *, status: int, detail: str, code: str, **extra: object
) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status)


def error_code_for_status(status: int) -> str:
    return STATUS_CODES.get(HTTPStatus(status), "error" if status < 500 else "server_error")


def handle_app_error(request: HttpRequest, exc: AppError) -> HttpResponse:
    response = error_response(
        request, status=exc.status, detail=exc.message, code=exc.code, **exc.extra
    )
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def handle_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        # loc is ("body", "payload", "field", ...) or ("query", "field"); keep the field path.
        field_parts = location[2:] if location[:1] == ["body"] else location[1:]
        errors.append(
            {
                "field": ".".join(field_parts) or None,
                "message": error.get("msg", "Invalid value."),
                "location": location[0] if location else None,
            }
        )
    first = errors[0] if errors else None
    if first and first["field"]:
        detail = f"{first['field']}: {first['message']}"
    else:
        detail = "The request body is not valid."
    return error_response(
        request, status=422, detail=detail, code="validation_error", errors=errors
    )


def handle_django_validation_error(
    request: HttpRequest, exc: DjangoValidationError
) -> HttpResponse:
    """A model's own validation (full_clean in a service): 422, one entry per field."""
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": None if field == NON_FIELD_ERRORS else field, "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": None, "message": message} for message in exc.messages]
    first = errors[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return error_response(
        request, status=422, detail=detail, code="validation_error", errors=errors
    )


def handle_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return handle_app_error(request, ratelimit.limited_error(math.ceil(exc.wait or 1)))


def handle_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request,
        status=401,
        detail="Authentication credentials were not provided or are not valid.",
        code="not_authenticated",
    )


def handle_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(
        request,
        status=exc.status_code,
        detail=exc.message,
        code=error_code_for_status(exc.status_code),
    )


def handle_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404, detail="Not found.", code="not_found")


def handle_unreadable_body(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """A body Django refuses to parse: over the size or part limits of the settings
    (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FILES, ..._FIELDS), or malformed."""
    if isinstance(exc, RequestDataTooBig):
        detail, status = "The request body is too large.", 413
    elif isinstance(exc, TooManyFilesSent):
        detail, status = "Too many files in one request.", 413
    elif isinstance(exc, TooManyFieldsSent):
        detail, status = "Too many fields in one request.", 400
    else:
        detail, status = "The request could not be read.", 400
    return error_response(request, status=status, detail=detail, code=error_code_for_status(status))


def handle_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(
        request, status=500, detail="Something went wrong on our side.", code="server_error"
    )


def add_error_handlers(target: NinjaAPI) -> None:
    target.add_exception_handler(AppError, handle_app_error)
    target.add_exception_handler(ValidationError, handle_validation_error)
    target.add_exception_handler(DjangoValidationError, handle_django_validation_error)
    target.add_exception_handler(Throttled, handle_throttled)
    target.add_exception_handler(AuthenticationError, handle_authentication_error)
    target.add_exception_handler(HttpError, handle_http_error)
    target.add_exception_handler(Http404, handle_not_found)
    target.add_exception_handler(SuspiciousOperation, handle_unreadable_body)
    target.add_exception_handler(Exception, handle_unexpected_error)


api = DocumentedErrorsAPI(
    title="P2P Sandbox API",
    version="1",
    description="The JSON API of P2P Sandbox. Errors are {detail, code} with a fitting status.",
    urls_namespace="api",
    docs_url="/docs" if settings.API_DOCS else None,
    docs_decorator=docs_csp,
    # Writes and searches, per person (per address when anonymous): see p2p_sandbox/ratelimit.py.
    throttle=[ratelimit.ApiThrottle()],
)
add_error_handlers(api)
api.add_router("/auth", accounts_api.auth_router)
api.add_router("/users", accounts_api.users_router)
api.add_router("/organizations", accounts_api.organizations_router)
api.add_router("/messages", messaging_api.messages_router)
api.add_router("/notifications", messaging_api.notifications_router)
api.add_router("/forums", forums_api.router)
api.add_router("/use-cases", usecases_api.router)
