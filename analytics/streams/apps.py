from django.apps import AppConfig


class StreamsConfig(AppConfig):
    """The stream pipeline: event bus, Kafka producer, consume_events, dead letters, the store sink."""

    name = "analytics.streams"
    label = "streams"
    verbose_name = "Stream pipeline"
