"""The segments' refresh, stored in django-celery-beat's tables (operators edit it in the admin).

Every 5 minutes the task refreshes the segments whose own interval has passed.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

REFRESH_TASK = "analytics.segments.tasks.segments_refresh"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="segments: refresh",
        defaults={
            "task": REFRESH_TASK,
            "interval": five_minutes,
            "enabled": True,
            "description": "Recompute segment sizes; materialise segments above SEGMENT_MATERIALISE_THRESHOLD.",
        },
    )


def remove_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=REFRESH_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
