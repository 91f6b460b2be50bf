from django.urls import path

from analytics.cohorts.api.views import RetentionCellSegmentView, RetentionCsvView, RetentionUsersView, RetentionView

urlpatterns = [
    path("projects/<int:project_id>/cohorts/retention", RetentionView.as_view(), name="cohorts-retention"),
    path("projects/<int:project_id>/cohorts/retention/csv", RetentionCsvView.as_view(), name="cohorts-retention-csv"),
    path(
        "projects/<int:project_id>/cohorts/retention/users",
        RetentionUsersView.as_view(),
        name="cohorts-retention-users",
    ),
    path(
        "projects/<int:project_id>/cohorts/retention/segment",
        RetentionCellSegmentView.as_view(),
        name="cohorts-retention-segment",
    ),
]
