from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "analytics.reports"
    label = "reports"

    def ready(self) -> None:
        from analytics.reports.kinds import register_report_kinds

        register_report_kinds()
