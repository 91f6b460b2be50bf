"""Watermarks and rollups.

The rollup table is created by hand so that on PostgreSQL it is partitioned by month
of ``bucket`` (declarative partitioning); elsewhere (SQLite in embedded mode) it is a
plain table made from the model. The model state is the same for both.
"""

import django.db.models.deletion
from django.db import migrations, models

GRANULARITY_CHOICES = [("1m", "1m"), ("5m", "5m"), ("1h", "1h"), ("1d", "1d"), ("1mo", "1mo")]

POSTGRESQL_ROLLUP_TABLE = """
CREATE TABLE aggregation_rollup (
    project_id bigint NOT NULL REFERENCES accounts_project (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    granularity varchar(3) NOT NULL,
    bucket timestamp with time zone NOT NULL,
    event text NOT NULL,
    count bigint NOT NULL,
    unique_users bigint NOT NULL,
    unique_persons bigint NOT NULL,
    measures jsonb NOT NULL,
    computed_at timestamp with time zone NOT NULL,
    PRIMARY KEY (project_id, granularity, bucket, event)
) PARTITION BY RANGE (bucket)
"""


def create_rollup_table(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_ROLLUP_TABLE)
    else:
        schema_editor.create_model(apps.get_model("aggregation", "Rollup"))


def drop_rollup_table(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS aggregation_rollup CASCADE")
    else:
        schema_editor.delete_model(apps.get_model("aggregation", "Rollup"))


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Rollup",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "project_id",
                                "granularity",
                                "bucket",
                                "event",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("granularity", models.CharField(choices=GRANULARITY_CHOICES, max_length=3)),
                        ("bucket", models.DateTimeField()),
                        ("event", models.TextField()),
                        ("count", models.BigIntegerField()),
                        ("unique_users", models.BigIntegerField()),
                        ("unique_persons", models.BigIntegerField()),
                        ("measures", models.JSONField(default=dict)),
                        ("computed_at", models.DateTimeField()),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.project"
                            ),
                        ),
                    ],
                ),
            ],
        ),
        migrations.RunPython(create_rollup_table, drop_rollup_table),
        migrations.CreateModel(
            name="Watermark",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("granularity", models.CharField(choices=GRANULARITY_CHOICES, max_length=3)),
                ("event_time_mark", models.DateTimeField(blank=True, null=True)),
                ("inserted_mark", models.DateTimeField(blank=True, null=True)),
                ("last_run_at", models.DateTimeField(blank=True, null=True)),
                ("last_run_seconds", models.FloatField(blank=True, null=True)),
                ("last_run_events", models.BigIntegerField(default=0)),
                ("last_run_late_events", models.BigIntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="aggregation_watermarks",
                        to="accounts.project",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("project", "granularity"), name="unique_watermark_stream")
                ],
            },
        ),
    ]
