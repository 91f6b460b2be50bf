"""New projects wait 15 s (was 60 s) after a bucket ends before aggregating it as final.

Late events are recomputed exactly through dirty buckets, so the lateness only sets how
soon a bucket is first computed (docs/aggregation.md). Existing projects keep their value.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="aggregation_lateness_seconds",
            field=models.PositiveIntegerField(
                default=15, help_text="How long after a bucket ends it is aggregated as final."
            ),
        ),
    ]
