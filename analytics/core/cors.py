"""CORS for the ingestion paths: any origin may send events (the tracker runs on any site).

django-cors-headers applies one origin policy; the ``check_request_enabled`` signal lets
us open just the ingestion paths to every origin while the read/management API keeps the
``CORS_ALLOWED_ORIGINS`` allow-list. Credentials are never allowed cross-origin, so an open
origin cannot act as a logged-in user.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest


@cache
def _ingest_paths(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def allow_any_origin_for_ingestion(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """Signal receiver: True when the request targets an ingestion endpoint."""
    return bool(_ingest_paths(settings.INGEST_CORS_PATH_REGEX).match(request.path_info))
