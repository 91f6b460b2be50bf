"""URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics.accounts.throttling import login_rate_limited
from analytics.platform import health

urlpatterns = [
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    path("metrics", health.metrics, name="prometheus-django-metrics"),
    # The admin's own login view, with the same per-address limit as every other log-in.
    path("admin/login/", login_rate_limited(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/auth/", include("analytics.accounts.api.auth_urls")),
    path("api/v1/", include("analytics.accounts.api.urls")),
    path("", include("analytics.ingestion.api.urls")),
    path("api/v1/", include("analytics.aggregation.api.urls")),
    path("api/v1/", include("analytics.reports.api.urls")),
    path("api/v1/", include("analytics.segments.api.urls")),
    path("api/v1/", include("analytics.funnels.api.urls")),
    path("api/v1/", include("analytics.cohorts.api.urls")),
    path("api/v1/", include("analytics.privacy.api.urls")),
    path("api/v1/", include("analytics.telecom.api.urls")),
    path("", include("analytics.dashboards.urls")),
    path("", include("analytics.platform.urls")),
]

handler404 = "analytics.platform.views.not_found"
handler500 = "analytics.platform.views.server_error"
