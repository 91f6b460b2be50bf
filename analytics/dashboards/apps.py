from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "analytics.dashboards"
    label = "dashboards"
