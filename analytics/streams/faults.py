"""Named points in the stream pipeline where a test may inject a fault.

The product only declares the points and calls them; what happens there is installed by
the development tools (``analytics/devtools/faults.py``), which production settings do
not install. With nothing installed a point costs one dictionary lookup.

Points:
- ``before_insert``: a batch is about to be written to the store.
- ``after_insert``: a batch is stored and its offsets are not yet committed.
- ``fetched``: one fetch's messages, grouped by partition (the handler may change them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FaultHandler = Callable[..., None]

_HANDLERS: dict[str, FaultHandler] = {}
POINTS = frozenset({"before_insert", "after_insert", "fetched"})


def fault_point(name: str, *args: Any) -> None:
    """Run the handler installed at ``name``, if any."""
    handler = _HANDLERS.get(name)
    if handler is not None:
        handler(*args)


def install(name: str, handler: FaultHandler) -> None:
    """Install ``handler`` at the point ``name`` (development tools and tests only)."""
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(sorted(POINTS))}")
    _HANDLERS[name] = handler


def uninstall(name: str) -> None:
    _HANDLERS.pop(name, None)
