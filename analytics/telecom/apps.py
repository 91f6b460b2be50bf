from django.apps import AppConfig


class TelecomConfig(AppConfig):
    """The telecom providers' read API: project read keys, user detail and aggregates over HTTP and gRPC."""

    name = "analytics.telecom"
    label = "telecom"
    verbose_name = "Telecom providers"
