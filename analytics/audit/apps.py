from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "analytics.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from analytics.audit import capture

        capture.connect_signals()
