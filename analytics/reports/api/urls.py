from django.urls import path

from analytics.reports.api import readback
from analytics.reports.api.presets import PRESET_VIEWS
from analytics.reports.api.saved_reports import (
    ReportTemplatesView,
    SavedReportDetailView,
    SavedReportListView,
    SavedReportResultsView,
)
from analytics.reports.api.sessions import SessionListView
from analytics.reports.api.trends import TrendsView
from analytics.reports.api.web import BreakdownView, SummaryView, TimeseriesView

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
    path("projects/<int:project_id>/sessions", SessionListView.as_view(), name="sessions"),
    path("projects/<int:project_id>/web/summary", SummaryView.as_view(), name="web-summary"),
    path("projects/<int:project_id>/web/breakdown", BreakdownView.as_view(), name="web-breakdown"),
    path("projects/<int:project_id>/web/timeseries", TimeseriesView.as_view(), name="web-timeseries"),
    *(
        path(f"projects/<int:project_id>/insights/{segment}", view.as_view(), name=f"insights-{segment}")
        for segment, view in PRESET_VIEWS.items()
    ),
    path("projects/<int:project_id>/reports/", SavedReportListView.as_view(), name="saved-reports"),
    path("projects/<int:project_id>/reports/templates", ReportTemplatesView.as_view(), name="report-templates"),
    path("projects/<int:project_id>/reports/<int:report_id>", SavedReportDetailView.as_view(), name="saved-report"),
    path(
        "projects/<int:project_id>/reports/<int:report_id>/results",
        SavedReportResultsView.as_view(),
        name="saved-report-results",
    ),
]
