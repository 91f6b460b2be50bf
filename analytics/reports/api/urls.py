from django.urls import path

from analytics.reports.api.trends import TrendsView

urlpatterns = [
    path("projects/<int:project_id>/insights/trends", TrendsView.as_view(), name="insights-trends"),
]
