from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "analytics.funnels"
    label = "funnels"

    def ready(self) -> None:
        from analytics.funnels.kinds import register  # the app registry is ready only now

        register()
