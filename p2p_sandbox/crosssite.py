"""Refusing requests a browser sends on another site's behalf.

Pages are covered by Django's CSRF middleware. JSON API writes made without a session (sign-in,
sign-up, password reset) have no CSRF token to check, yet a forged one still acts in the
victim's browser: it can sign the browser in to the attacker's account (login CSRF) or spend
the failed sign-ins of the victim's device. Browsers say where a request comes from (`Origin`,
`Sec-Fetch-Site`), and a page on another site can only send such a body without a preflight as
text/plain, a form or multipart; scripts (curl, token users) send neither header.
"""

from http import HTTPStatus
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain
from django.utils.translation import gettext_lazy as _

from p2p_sandbox.errors import AppError, PermissionDeniedError


class CrossSiteRequestError(PermissionDeniedError):
    code = "cross_site_request"
    message = _("Requests from other sites are not accepted here.")


class JsonRequiredError(AppError):
    code = "unsupported_media_type"
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    message = _("Send the request body as JSON, with Content-Type: application/json.")


def own_origin(request: HttpRequest) -> str | None:
    """The request's own origin, scheme://host[:port], or None for a host not allowed."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{request.scheme}://{host}"


def is_allowed_origin(origin: str, *, own: str | None) -> bool:
    """Whether `origin` (as a browser sends it) is `own` or in CSRF_TRUSTED_ORIGINS, compared
    whole: scheme, host and port. A trusted `https://*.example.com` allows its subdomains, as
    Django's CSRF check does."""
    if own is not None and origin == own:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if origin == trusted:
            return True
        if "*" in trusted:
            pattern = urlsplit(trusted)
            if parsed.scheme == pattern.scheme and is_same_domain(
                parsed.netloc, pattern.netloc.lstrip("*")
            ):
                return True
    return False


def check_same_origin(request: HttpRequest) -> None:
    """Raise CrossSiteRequestError when a browser says the request comes from another site or
    another origin that is not trusted. A request without those headers passes."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    origin = request.headers.get("Origin")
    if fetch_site == "cross-site":
        raise CrossSiteRequestError
    if origin is not None and not is_allowed_origin(origin, own=own_origin(request)):
        raise CrossSiteRequestError
    if fetch_site == "same-site" and origin is None:  # another origin that does not say which
        raise CrossSiteRequestError


def check_json_request(request: HttpRequest) -> None:
    """check_same_origin, then require a JSON body: a page elsewhere can send text/plain, a form
    or multipart without a preflight, never application/json."""
    check_same_origin(request)
    if request.content_type != "application/json":
        raise JsonRequiredError
