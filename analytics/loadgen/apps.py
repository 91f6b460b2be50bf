from django.apps import AppConfig


class LoadgenConfig(AppConfig):
    """``manage.py loadgen``: operators verify a deployment with realistic traffic."""

    name = "analytics.loadgen"
    label = "loadgen"
    verbose_name = "Load generator"
