"""The partition merge task's description: it no longer keeps FINAL cheap (no read uses
FINAL on events since ClickHouse migration 0004); it is part-count maintenance.

Only a row still carrying the text of 0001 is changed: a description edited in the admin
stays as the operator wrote it.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

OPTIMIZE_TASK = "analytics.warehouse.tasks.events_partitions_optimize"
OLD = "OPTIMIZE ... FINAL of past months with several parts, so FINAL stays cheap."
NEW = "OPTIMIZE ... FINAL of past months with several parts: one part per closed month."


def _replace(apps: Apps, before: str, after: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=OPTIMIZE_TASK, description=before).update(description=after)


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _replace(apps, OLD, NEW)


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _replace(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("warehouse", "0001_beat_schedule")]

    operations = [migrations.RunPython(forwards, backwards)]
