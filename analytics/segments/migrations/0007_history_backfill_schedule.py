"""The size history's back-fill, in django-celery-beat's tables (editable in the admin).

Every 5 minutes the task computes the missing past days of the dynamic segments' size
history, for at most SEGMENT_HISTORY_BUDGET_SECONDS per run (analytics/segments/history.py).
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

BACKFILL_TASK = "analytics.segments.tasks.segments_history_backfill"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="segments: back-fill size history",
        defaults={
            "task": BACKFILL_TASK,
            "interval": five_minutes,
            "enabled": True,
            "description": "Compute the sizes of the last 90 days that no refresh recorded, as of each day's end, "
            "within SEGMENT_HISTORY_BUDGET_SECONDS per run.",
        },
    )


def remove_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=BACKFILL_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0006_size_backfilled"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
