"""The Celery application.

Scale mode: a Redis broker, separate `celery worker` and `celery beat` processes, the
schedule stored in the database (django-celery-beat) and editable in the admin.
Embedded mode: tasks run eagerly in the calling process and `manage.py serve` drives
the same database schedule itself.
"""

import os
import sys

from celery import Celery
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    settings.INSTALLED_APPS  # noqa: B018 - validate the environment before the worker starts
except ImproperlyConfigured as error:
    sys.stderr.write(f"configuration error: {error}\n")
    raise SystemExit(2) from None

app = Celery("analytics")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
