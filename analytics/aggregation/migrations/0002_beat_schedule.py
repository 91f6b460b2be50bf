"""The aggregation's periodic tasks, stored in django-celery-beat's tables.

Operators edit them in the admin (interval, enabled); `celery beat` (scale mode) and the
in-process driver of `manage.py serve` (embedded mode) both read these rows.
"""

from django.conf import settings
from django.db import migrations

DISPATCH_TASK = "analytics.aggregation.tasks.aggregation_dispatch"
MAINTAIN_TASK = "analytics.aggregation.tasks.rollup_partitions_maintain"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(
        every=getattr(settings, "AGGREGATION_INTERVAL_SECONDS", 15), period="seconds"
    )
    six_hours, _ = IntervalSchedule.objects.get_or_create(every=6, period="hours")
    PeriodicTask.objects.get_or_create(
        name="aggregation: all streams",
        defaults={
            "task": DISPATCH_TASK,
            "interval": every,
            "enabled": True,
            "description": "Aggregate every (project, granularity) stream from its watermark.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name="aggregation: rollup partitions and retention",
        defaults={
            "task": MAINTAIN_TASK,
            "interval": six_hours,
            "enabled": True,
            "description": "Create coming monthly rollup partitions; drop or delete expired rollups.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[DISPATCH_TASK, MAINTAIN_TASK]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aggregation", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
