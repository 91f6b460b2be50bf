"""The audit log's daily retention task, in django-celery-beat's tables (editable in the admin)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

PRUNE_TASK = "analytics.audit.tasks.audit_log_prune"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = IntervalSchedule.objects.get_or_create(every=1, period="days")
    PeriodicTask.objects.get_or_create(
        name="audit log: retention",
        defaults={
            "task": PRUNE_TASK,
            "interval": daily,
            "enabled": True,
            "description": "Delete audit log entries older than AUDIT_RETENTION_DAYS.",
        },
    )


def remove_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=PRUNE_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
