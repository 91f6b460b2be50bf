"""Settings module for pytest: the test profile of the normal settings."""

import os

os.environ.setdefault("ANALYTICS_PROFILE", "test")

from config.settings import *  # noqa: F403
