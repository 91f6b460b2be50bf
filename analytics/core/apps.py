from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "analytics.core"
    label = "core"

    def ready(self) -> None:
        from analytics.core.logging import configure_logging

        configure_logging()
