from django.urls import path

from analytics.aggregation.api.views import AggregatesView, GlobalAggregatesView, UserDetailView

urlpatterns = [
    path("projects/<int:project_id>/aggregates", AggregatesView.as_view(), name="aggregates"),
    path("projects/<int:project_id>/aggregates/global", GlobalAggregatesView.as_view(), name="aggregates-global"),
    path("projects/<int:project_id>/users/<path:distinct_id>/detail", UserDetailView.as_view(), name="user-detail"),
]
