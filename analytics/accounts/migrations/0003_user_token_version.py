"""Users carry a token version: log-out and password changes revoke their JWTs at once.

Tokens issued before this migration have no version claim and count as version 0, the
default here, so nobody is logged out by the upgrade.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_alter_project_aggregation_lateness_seconds"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="token_version",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
