from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "analytics.segments"
    label = "segments"
