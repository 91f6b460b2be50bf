"""Settings entry point: base, then the mode, then the profile.

``ANALYTICS_MODE`` (embedded|scale) picks the components, ``ANALYTICS_PROFILE``
(dev|test|prod) picks the safety level. Every environment variable is declared once in
``config.variables`` and read through that declaration, which validates it; a bad one
stops start-up with a single line naming it.
"""

import importlib.util

from .base import *
from .base import ANALYTICS_MODE, ANALYTICS_PROFILE, INSTALLED_APPS

if ANALYTICS_MODE == "scale":
    from .scale import *
else:
    from .embedded import *

if ANALYTICS_PROFILE == "prod":
    from .prod import *
elif ANALYTICS_PROFILE == "test":
    from .test import *

# Development tooling (bench, e2e harness, development broker, fault injection) never
# runs in production, and the Docker image does not carry it.
if ANALYTICS_PROFILE in ("dev", "test") and importlib.util.find_spec("analytics.devtools") is not None:
    INSTALLED_APPS = [*INSTALLED_APPS, "analytics.devtools"]
