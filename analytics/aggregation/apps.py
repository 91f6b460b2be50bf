from django.apps import AppConfig


class AggregationConfig(AppConfig):
    name = "analytics.aggregation"
    label = "aggregation"
