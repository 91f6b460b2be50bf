from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    name = "analytics.warehouse"
    label = "warehouse"
    verbose_name = "Event store"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from analytics.warehouse.store import reset_store_on_setting_change

        setting_changed.connect(reset_store_on_setting_change)
