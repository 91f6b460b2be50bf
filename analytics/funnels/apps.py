from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "analytics.funnels"
    label = "funnels"
