from django.urls import path

from analytics.audit.api.views import AuditLogExportView

urlpatterns = [
    path(
        "organisations/<int:organisation_id>/audit-log",
        AuditLogExportView.as_view(),
        name="organisation-audit-log",
    ),
]
