from django.urls import path

from analytics.segments.api import views

# ``<int:id>`` is the segment (the shared route tests fill that converter in).
_BASE = "projects/<int:project_id>/segments"
_ONE = f"{_BASE}/<int:id>"

urlpatterns = [
    path(f"{_BASE}/", views.SegmentListView.as_view(), name="segments"),
    path(f"{_BASE}/templates", views.SegmentTemplatesView.as_view(), name="segment-templates"),
    path(f"{_ONE}/", views.SegmentDetailView.as_view(), name="segment"),
    path(f"{_ONE}/members", views.SegmentMembersView.as_view(), name="segment-members"),
    path(f"{_ONE}/members.csv", views.SegmentMembersCsvView.as_view(), name="segment-members-csv"),
    path(f"{_ONE}/size", views.SegmentSizeView.as_view(), name="segment-size"),
    path(f"{_ONE}/sizes", views.SegmentSizeHistoryView.as_view(), name="segment-sizes"),
    path(f"{_ONE}/refresh", views.SegmentRefreshView.as_view(), name="segment-refresh"),
    path(f"{_ONE}/imports", views.SegmentImportListView.as_view(), name="segment-imports"),
    path(
        "projects/<int:project_id>/segment-imports/<int:id>",
        views.SegmentImportDetailView.as_view(),
        name="segment-import",
    ),
]
