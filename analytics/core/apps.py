from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "analytics.core"
    label = "core"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from analytics.core.cors import allow_any_origin_for_ingestion
        from analytics.core.logging import configure_logging
        from analytics.core.metrics import publish_build_info

        configure_logging()
        publish_build_info()
        check_request_enabled.connect(allow_any_origin_for_ingestion, dispatch_uid="analytics-ingest-cors")
