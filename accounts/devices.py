"""The sign-in device cookie: a browser that signed in as a user is known for that user.

The cookie is signed (django.core.signing) and holds {"user": <user id>, "device": <random id>}.
It is set on every sign-in, lasts LOGIN_DEVICE_COOKIE_AGE and survives signing out, so failed
sign-ins from elsewhere do not lock its owner out (accounts.services.authenticate_credentials).
A tampered, expired or malformed cookie reads as no cookie.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponseBase

SALT = "accounts.login-device"


@dataclass(frozen=True)
class Device:
    user_id: int
    device_id: str


def read_device_cookie(request: HttpRequest) -> Device | None:
    value = request.COOKIES.get(settings.LOGIN_DEVICE_COOKIE_NAME)
    if not value:
        return None
    try:
        data = signing.loads(
            value, salt=SALT, max_age=settings.LOGIN_DEVICE_COOKIE_AGE.total_seconds()
        )
    except signing.BadSignature:  # SignatureExpired included
        return None
    if not isinstance(data, dict):
        return None
    user_id, device_id = data.get("user"), data.get("device")
    if type(user_id) is not int or not isinstance(device_id, str) or not device_id:
        return None
    return Device(user_id=user_id, device_id=device_id)


def remember_device(response: HttpResponseBase, *, user_id: int, device: Device | None) -> None:
    """Set (or renew) the cookie for `user_id`: the same device id if this browser already was
    known for this user, a new one otherwise."""
    if device is not None and device.user_id == user_id:
        device_id = device.device_id
    else:
        device_id = secrets.token_urlsafe(16)
    response.set_cookie(
        settings.LOGIN_DEVICE_COOKIE_NAME,
        signing.dumps({"user": user_id, "device": device_id}, salt=SALT),
        max_age=int(settings.LOGIN_DEVICE_COOKIE_AGE.total_seconds()),
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
