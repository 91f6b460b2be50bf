from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The composition root: serve, bootstrap, demo data, health probes, the home page.

    The only product app that may import every other one; nothing imports it.
    """

    name = "analytics.platform"
    label = "platform"
    verbose_name = "Platform"
