"""The retention task moved from the event store's app to the platform app (it reads the
projects' settings, which the store does not know): point the beat schedule's rows at it."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

OLD = "analytics.warehouse.tasks.events_retention_enforce"
NEW = "analytics.platform.tasks.events_retention_enforce"


def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=OLD).update(task=NEW)


def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=NEW).update(task=OLD)


class Migration(migrations.Migration):
    dependencies = [("warehouse", "0001_beat_schedule")]

    operations = [migrations.RunPython(forward, backward)]
