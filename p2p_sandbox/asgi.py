"""ASGI entry point: HTTP to Django, WebSocket through origin and session checks.

Serve with:  daphne p2p_sandbox.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")

# Django must be set up before anything imports models (consumers, auth middleware).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from p2p_sandbox import routing  # noqa: E402
from p2p_sandbox.body_limits import BodySizeLimit  # noqa: E402
from p2p_sandbox.origins import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(routing.websocket_urlpatterns))),
    }
)
