"""The event store's periodic maintenance, stored in django-celery-beat's tables.

Operators edit them in the admin; `celery beat` (scale mode) and the in-process driver
of `manage.py serve` (embedded mode) both read these rows.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

RETENTION_TASK = "analytics.warehouse.tasks.events_retention_enforce"
OPTIMIZE_TASK = "analytics.warehouse.tasks.events_partitions_optimize"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    six_hours, _ = IntervalSchedule.objects.get_or_create(every=6, period="hours")
    PeriodicTask.objects.get_or_create(
        name="event store: retention",
        defaults={
            "task": RETENTION_TASK,
            "interval": hourly,
            "enabled": True,
            "description": "Delete events kept past a project's (shrunk) retention.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name="event store: merge closed partitions",
        defaults={
            "task": OPTIMIZE_TASK,
            "interval": six_hours,
            "enabled": True,
            "description": "OPTIMIZE ... FINAL of past months with several parts, so FINAL stays cheap.",
        },
    )


def remove_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[RETENTION_TASK, OPTIMIZE_TASK]).delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
