"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os
import sys

from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    django_asgi_app = get_asgi_application()
except ImproperlyConfigured as error:  # under an external ASGI server: the same one line as manage.py
    sys.stderr.write(f"configuration error: {error}\n")
    raise SystemExit(2) from None

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter

from analytics.core.gctuning import tune_gc
from analytics.ingestion.api.urls import EVENT_ROUTES
from analytics.ingestion.asgi import IngestionFastPath
from analytics.platform.origin import SameOriginValidator
from analytics.platform.server import RequestLimits
from config.websocket_urls import websocket_urlpatterns

application = ProtocolTypeRouter(
    {
        # Event POSTs skip the middleware stack (its sync_to_async hops cost more than the events).
        # Body size limit and body read timeout of every request: analytics/platform/server.py.
        "http": RequestLimits(
            IngestionFastPath(django_asgi_app), large_body_paths=[f"/{route}" for route in EVENT_ROUTES]
        ),
        # Origin = this site, port included (analytics/platform/origin.py).
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


def web_application() -> ProtocolTypeRouter:
    """The application for a server process (``manage.py serve`` loads it as a uvicorn factory;
    elsewhere: ``uvicorn --factory config.asgi:web_application``). Unlike importing the module
    (which tests and tools do), it also tunes the process's garbage collector for serving:
    see analytics/core/gctuning.py."""
    tune_gc()
    return application
