from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "analytics.reports"
    label = "reports"
