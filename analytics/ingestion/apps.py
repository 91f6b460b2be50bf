from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "analytics.ingestion"
    label = "ingestion"

    def ready(self) -> None:
        # The providers' network-actions stream: the registry (a lower layer) cannot import it.
        from analytics.ingestion.network_stream import NETWORK_ACTIONS_STREAM
        from analytics.streams.registry import STREAMS

        STREAMS.setdefault(NETWORK_ACTIONS_STREAM.name, NETWORK_ACTIONS_STREAM)
