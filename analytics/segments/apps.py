from typing import Any

from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "analytics.segments"
    label = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        # The query layer cannot import segments (it is below); it calls this resolver for
        # {"type": "segment"} filters: a loaded set's name or the members' subquery.
        from analytics.query.membership import register_segment_resolver
        from analytics.segments.selectors import resolve_segment

        register_segment_resolver(resolve_segment)

        # A project's deletion cascades to its segments without segment_delete: their
        # ClickHouse membership is retired all the same.
        from django.db.models.signals import post_delete

        from analytics.segments.models import Segment

        post_delete.connect(_retire_deleted, sender=Segment, dispatch_uid="segments.retire_deleted")


def _retire_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    from analytics.segments.services import segment_deleted_elsewhere

    segment_deleted_elsewhere(segment=instance)
