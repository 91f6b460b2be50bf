from django.urls import path

from analytics.reports.api import readback
from analytics.reports.api.trends import TrendsView

urlpatterns = [
    path("projects/<int:project_id>/insights/trends", TrendsView.as_view(), name="insights-trends"),
    path("projects/<int:project_id>/events/count", readback.EventCountView.as_view(), name="events-count"),
    path("projects/<int:project_id>/events/by-type", readback.EventsByTypeView.as_view(), name="events-by-type"),
    path("projects/<int:project_id>/events/by-user", readback.EventsByUserView.as_view(), name="events-by-user"),
    path(
        "projects/<int:project_id>/events/timeseries",
        readback.EventTimeseriesView.as_view(),
        name="events-timeseries",
    ),
]
