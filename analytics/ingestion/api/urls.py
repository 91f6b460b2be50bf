from typing import Any

from django.urls import path

from analytics.ingestion.api import readback, schemas
from analytics.ingestion.api.ingest import (
    SEGMENT_CALL_VIEWS,
    events_view,
    network_actions_view,
    segment_batch_view,
)

# The event POST routes, declared once: Django's URL patterns below and the ASGI fast path
# (analytics/ingestion/asgi.py), which serves these paths without the middleware stack.
EVENT_ROUTES: dict[str, tuple[str, Any]] = {
    "api/v1/events": ("ingest-events", events_view),
    "api/v1/network-actions": ("ingest-network-actions", network_actions_view),
    "v1/batch": ("segment-batch", segment_batch_view),
    **{f"v1/{kind}": (f"segment-{kind}", view) for kind, view in SEGMENT_CALL_VIEWS.items()},
}

urlpatterns = [
    *[path(route, view, name=name) for route, (name, view) in EVENT_ROUTES.items()],
    # events/count|by-type|by-user|timeseries: analytics.reports.api.urls (they run on the query engine).
    path(
        "api/v1/projects/<int:project_id>/persons/<str:distinct_id>",
        readback.PersonView.as_view(),
        name="person-detail",
    ),
    path(
        "api/v1/projects/<int:project_id>/event-schemas",
        schemas.EventSchemaListView.as_view(),
        name="event-schema-list",
    ),
    path(
        "api/v1/projects/<int:project_id>/event-schemas/install-telecom",
        schemas.TelecomSchemaInstallView.as_view(),
        name="event-schema-install-telecom",
    ),
    path(
        "api/v1/projects/<int:project_id>/event-schemas/<str:event_name>",
        schemas.EventSchemaDetailView.as_view(),
        name="event-schema-detail",
    ),
]
