"""The clean-up of retired segment memberships, in django-celery-beat's tables (editable in the admin).

Every 5 minutes the task drops the rows and loaded sets of versions (and deleted segments)
retired more than SEGMENT_SET_GRACE_SECONDS ago.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DROP_TASK = "analytics.segments.tasks.segments_retired_drop"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="segments: drop retired memberships",
        defaults={
            "task": DROP_TASK,
            "interval": five_minutes,
            "enabled": True,
            "description": "Drop the rows and sets of segment versions and deleted segments retired more than "
            "SEGMENT_SET_GRACE_SECONDS ago.",
        },
    )


def remove_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=DROP_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0004_retired_membership"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
