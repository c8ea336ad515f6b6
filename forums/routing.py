from django.urls import path

from forums.consumers import AllTopicsConsumer, TopicConsumer

websocket_urlpatterns = [
    path("ws/forum/all/", AllTopicsConsumer.as_asgi()),
    path("ws/forum/<int:topic_id>/", TopicConsumer.as_asgi()),
]
