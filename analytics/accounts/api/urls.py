from django.urls import path

from analytics.accounts.api.api_keys import ApiKeyListCreateView, ApiKeyRevokeView
from analytics.accounts.api.projects import ProjectDetailView, ProjectListCreateView, ProjectRotateWriteKeyView

urlpatterns = [
    path("projects", ProjectListCreateView.as_view(), name="project-list"),
    path("projects/<int:project_id>", ProjectDetailView.as_view(), name="project-detail"),
    path(
        "projects/<int:project_id>/rotate-write-key",
        ProjectRotateWriteKeyView.as_view(),
        name="project-rotate-write-key",
    ),
    path("api-keys", ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:key_id>/revoke", ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
