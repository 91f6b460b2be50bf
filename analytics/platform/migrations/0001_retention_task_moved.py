"""The retention task moved from the event store's app to the platform app (it reads the
projects' settings, which the store does not know): point the beat schedule's rows at it."""

from django.db import migrations

OLD = "analytics.warehouse.tasks.events_retention_enforce"
NEW = "analytics.platform.tasks.events_retention_enforce"


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=OLD).update(task=NEW)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=NEW).update(task=OLD)


class Migration(migrations.Migration):
    dependencies = [("warehouse", "0001_beat_schedule")]

    operations = [migrations.RunPython(forward, backward)]
