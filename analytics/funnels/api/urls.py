from django.urls import path

from analytics.funnels.api.views import (
    FunnelActorsView,
    FunnelHistogramView,
    FunnelQueryView,
    FunnelSaveSegmentView,
    FunnelTrendView,
    PathsQueryView,
)

urlpatterns = [
    path("projects/<int:project_id>/funnels/query", FunnelQueryView.as_view(), name="funnels-query"),
    path("projects/<int:project_id>/funnels/actors", FunnelActorsView.as_view(), name="funnels-actors"),
    path("projects/<int:project_id>/funnels/histogram", FunnelHistogramView.as_view(), name="funnels-histogram"),
    path("projects/<int:project_id>/funnels/trend", FunnelTrendView.as_view(), name="funnels-trend"),
    path(
        "projects/<int:project_id>/funnels/save-segment", FunnelSaveSegmentView.as_view(), name="funnels-save-segment"
    ),
    path("projects/<int:project_id>/paths/query", PathsQueryView.as_view(), name="paths-query"),
]
