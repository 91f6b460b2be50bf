"""WebSocket routes. Each app's Channels consumers live in its `consumers.py`."""

from django.urls import path

from analytics.platform.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/projects/<int:project_id>/live/", LiveConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]
