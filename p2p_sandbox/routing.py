from django.urls import path

from forums.routing import websocket_urlpatterns as forums_patterns
from messaging.routing import websocket_urlpatterns as messaging_patterns
from p2p_sandbox.consumers import HealthConsumer

websocket_urlpatterns = [
    path("ws/health/", HealthConsumer.as_asgi()),
    *messaging_patterns,
    *forums_patterns,
]
