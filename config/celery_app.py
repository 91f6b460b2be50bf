"""The Celery application.

Scale mode: a Redis broker, separate `celery worker` and `celery beat` processes, the
schedule stored in the database (django-celery-beat) and editable in the admin.
Embedded mode: tasks run eagerly in the calling process and `manage.py serve` drives
the same database schedule itself.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("analytics")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
