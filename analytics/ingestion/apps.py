from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "analytics.ingestion"
    label = "ingestion"
