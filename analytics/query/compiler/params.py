"""Generated parameter names: every user value reaches SQL as ``{name:Type}``, never as text."""

from __future__ import annotations

import re
from typing import Any

_TYPE = re.compile(r"^[A-Za-z0-9_(), ']+$")


class Params:
    """Collects values under generated names (``v0``, ``v1``, ...) next to fixed ones."""

    def __init__(self, **fixed: Any) -> None:
        self.values: dict[str, Any] = dict(fixed)
        self._next = 0

    def add(self, value: Any, type_: str) -> str:
        """Store ``value`` and return its placeholder ``{vN:Type}`` (``type_`` is ours, never user text)."""
        assert _TYPE.match(type_), type_
        name = f"v{self._next}"
        self._next += 1
        self.values[name] = value
        return "{" + name + ":" + type_ + "}"
