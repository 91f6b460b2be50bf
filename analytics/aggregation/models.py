"""Watermarks and rollups of the aggregation.

A stream is one (project, granularity). Its :class:`Watermark` records how far it is
done; :class:`Rollup` rows hold the aggregated figures per bucket and event name. Both
change only together, in one database transaction (see services.aggregation_run).

On PostgreSQL the rollup table is partitioned by month of ``bucket`` (declarative
partitioning, created by migration 0001; partitions by analytics.aggregation.partitions),
which is why its primary key includes ``bucket``.
"""

from __future__ import annotations

from django.db import models

from analytics.accounts.models import Project
from analytics.aggregation.granularity import GRANULARITY_CHOICES


class Watermark(models.Model):
    """How far one stream is aggregated.

    ``event_time_mark``: buckets starting before it are final (computed from raw events
    after the project's allowed lateness). ``inserted_mark``: every event inserted into
    the store up to this instant (ClickHouse's clock) has been seen; an event inserted
    later whose timestamp is before ``event_time_mark`` is late and makes its bucket dirty.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="aggregation_watermarks")
    granularity = models.CharField(max_length=3, choices=GRANULARITY_CHOICES)
    event_time_mark = models.DateTimeField(null=True, blank=True)
    inserted_mark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(null=True, blank=True)
    last_run_events = models.BigIntegerField(default=0)
    last_run_late_events = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "granularity"], name="unique_watermark_stream")]

    def __str__(self) -> str:
        return f"project {self.project_id} {self.granularity} @ {self.event_time_mark}"


class Rollup(models.Model):
    """Figures of one bucket for one event name.

    ``measures``: {measure: {"count", "sum", "min", "max", "avg", "p25", "p50", "p75",
    "p90", "p99"}} for each configured measure present in the bucket.
    """

    pk = models.CompositePrimaryKey("project_id", "granularity", "bucket", "event")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    granularity = models.CharField(max_length=3, choices=GRANULARITY_CHOICES)
    bucket = models.DateTimeField()
    event = models.TextField()
    count = models.BigIntegerField()
    unique_users = models.BigIntegerField()
    unique_persons = models.BigIntegerField()
    measures = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket} {self.event}: {self.count}"
