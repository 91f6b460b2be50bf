from django.urls import path

from analytics.privacy.api import views

urlpatterns = [
    path(
        "projects/<int:project_id>/persons/<path:distinct_id>/delete",
        views.PersonDeleteView.as_view(),
        name="person-delete",
    ),
    path(
        "projects/<int:project_id>/persons/<path:distinct_id>/export",
        views.PersonExportView.as_view(),
        name="person-export",
    ),
    path("projects/<int:project_id>/deletions/", views.DeletionListView.as_view(), name="deletions"),
    path("projects/<int:project_id>/deletions/<str:deletion_id>", views.DeletionDetailView.as_view(), name="deletion"),
    path("projects/<int:project_id>/suppressions/", views.SuppressionListView.as_view(), name="suppressions"),
    path(
        "projects/<int:project_id>/suppressions/<int:entry_id>",
        views.SuppressionDetailView.as_view(),
        name="suppression",
    ),
    path("projects/<int:project_id>/privacy", views.PrivacySettingsView.as_view(), name="privacy-settings"),
]
