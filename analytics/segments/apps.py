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
