from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "analytics.bench"
    label = "bench"
    verbose_name = "Benchmark suite"
