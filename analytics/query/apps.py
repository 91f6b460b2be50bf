from django.apps import AppConfig


class QueryConfig(AppConfig):
    name = "analytics.query"
    label = "query"
