from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "analytics.segments"
    label = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        # The query layer cannot import segments (it is below); it calls this resolver for
        # {"type": "segment"} filters.
        from analytics.query.membership import register_segment_resolver, register_segment_set_resolver
        from analytics.segments.selectors import resolve_segment
        from analytics.segments.sets import loaded_set

        register_segment_resolver(resolve_segment)
        # A materialised segment's loaded set (analytics/segments/sets.py) instead of its subquery.
        register_segment_set_resolver(resolve_segment, loaded_set)
