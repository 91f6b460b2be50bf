"""Retention cohorts: users grouped by when they first (or each time) did something, and whether they came back."""

from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "analytics.cohorts"
    label = "cohorts"

    def ready(self) -> None:
        from analytics.cohorts.kinds import RETENTION_KIND
        from analytics.query.kinds import register_kind

        register_kind(RETENTION_KIND)
