from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "analytics.cohorts"
    label = "cohorts"
