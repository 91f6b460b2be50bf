from django.apps import AppConfig


class AggregationConfig(AppConfig):
    name = "analytics.aggregation"
    label = "aggregation"

    def ready(self) -> None:
        from analytics.aggregation.beat import BEAT_SERVICE
        from analytics.core.background import register

        # Started only by `manage.py serve` in embedded mode; scale mode runs `celery beat`.
        register(BEAT_SERVICE)
