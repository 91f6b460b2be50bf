from django.urls import path

from analytics.telecom.api import views

# Included under "api/v1/". The provider paths are not under projects/ (the read key names
# the project); the names differ from the aggregation app's "aggregates" and "user-detail".
urlpatterns = [
    path("projects/<int:project_id>/read-keys", views.ReadKeyListCreateView.as_view(), name="telecom-read-key-list"),
    path(
        "projects/<int:project_id>/read-keys/<int:key_id>/revoke",
        views.ReadKeyRevokeView.as_view(),
        name="telecom-read-key-revoke",
    ),
    path("users/<path:user_id>/detail", views.ProviderUserDetailView.as_view(), name="telecom-user-detail"),
    path("aggregates", views.ProviderAggregatesView.as_view(), name="telecom-aggregates"),
]
