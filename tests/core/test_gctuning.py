"""Web processes run with the garbage-collector settings of analytics/core/gctuning.py.

Checked in a fresh interpreter: importing the ASGI module must not retune the collector of
whatever imports it (the test run itself does), only the server's factory does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

from analytics.core.gctuning import GC_THRESHOLDS

PROBE = """
import gc, json
import config.asgi
imported = gc.get_threshold()
config.asgi.web_application()
print(json.dumps({"imported": imported, "served": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_the_server_factory_tunes_the_collector_and_the_import_does_not():
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    probe = json.loads(completed.stdout.strip().splitlines()[-1])

    assert tuple(probe["imported"]) != GC_THRESHOLDS
    assert tuple(probe["served"]) == GC_THRESHOLDS
    assert probe["frozen"] > 0  # the start-up objects are out of the collector's reach
