from django.urls import path

from messaging.consumers import PersonalStreamConsumer

websocket_urlpatterns = [
    path("ws/messaging/", PersonalStreamConsumer.as_asgi()),
]
