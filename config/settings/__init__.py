"""Settings entry point: base, then the mode, then the profile.

``ANALYTICS_MODE`` (embedded|scale) picks the components, ``ANALYTICS_PROFILE``
(dev|test|prod) picks the safety level. Every environment variable is declared once in
``config.variables`` and read through that declaration, which validates it; a bad one
stops start-up with a single line naming it.
"""

from .base import *
from .base import ANALYTICS_MODE, ANALYTICS_PROFILE

if ANALYTICS_MODE == "scale":
    from .scale import *
else:
    from .embedded import *

if ANALYTICS_PROFILE == "prod":
    from .prod import *
elif ANALYTICS_PROFILE == "test":
    from .test import *
