"""The WebSocket Origin check: the whole origin (scheme, host and port), as Django's CSRF check
treats pages.

A handshake is allowed when its Origin is the request's own origin (its Host, which must be in
ALLOWED_HOSTS, with https when the socket is `wss` or a trusted proxy says so through
SECURE_PROXY_SSL_HEADER) or one of CSRF_TRUSTED_ORIGINS (`https://*.example.com` allowing the
subdomains). Browsers always send Origin on a WebSocket handshake, so one without it is refused.
"""

import io
from typing import Any

from channels.security.websocket import WebsocketDenier
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest

from p2p_sandbox.crosssite import is_allowed_origin

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key == name]
    return values[0].decode("latin1") if len(values) == 1 else None


def own_origin(scope: Scope) -> str | None:
    """`scheme://host[:port]` of the page that may open this socket, or None for a Host that is
    not allowed."""
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    request = ASGIRequest({**scope, "method": "GET", "scheme": scheme}, io.BytesIO())
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'https' if request.is_secure() else 'http'}://{host}"


def origin_allowed(scope: Scope) -> bool:
    origin = header(scope, b"origin")
    if not origin:
        return False
    return is_allowed_origin(origin, own=own_origin(scope))


class OriginValidator:
    """ASGI middleware for the websocket side: refuses (HTTP 403) a handshake from another
    origin before the application sees it."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("OriginValidator only guards WebSocket connections.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
