"""Checking event properties against a registered event schema (in the hot path)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_datetime(value: Any) -> bool:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return _is_number(value)


TYPE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda value: isinstance(value, bool),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "datetime": _is_datetime,
}


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    event_name: str
    required: tuple[str, ...]
    types: tuple[tuple[str, str], ...]

    @classmethod
    def from_spec(cls, event_name: str, spec: Mapping[str, Mapping[str, Any]]) -> CompiledSchema:
        required = tuple(name for name, rule in spec.items() if rule.get("required"))
        types = tuple((name, str(rule.get("type", ""))) for name, rule in spec.items() if rule.get("type"))
        return cls(event_name=event_name, required=required, types=types)

    def violation(self, properties: Mapping[str, Any]) -> str | None:
        """A message naming the first broken property, or None if the properties conform."""
        for name in self.required:
            if properties.get(name) is None:
                return f"property {name!r} is required by the schema of {self.event_name!r}"
        for name, type_name in self.types:
            value = properties.get(name)
            if value is not None and not TYPE_CHECKS[type_name](value):
                return f"property {name!r} must be of type {type_name} (schema of {self.event_name!r})"
        return None


def validate_spec(spec: Any) -> dict[str, dict[str, Any]]:
    """Normalise and check a schema definition given through the API or admin."""
    if not isinstance(spec, dict) or not spec:
        raise ValueError("properties must be a non-empty object of {name: {type, required}}")
    if len(spec) > 200:
        raise ValueError("a schema may define at most 200 properties")
    clean: dict[str, dict[str, Any]] = {}
    for name, rule in spec.items():
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise ValueError("property names must be 1 to 200 characters")
        if isinstance(rule, str):
            rule = {"type": rule}
        if not isinstance(rule, dict):
            raise ValueError(f"the rule for {name!r} must be an object with 'type' and 'required'")
        type_name = rule.get("type")
        if type_name not in TYPE_CHECKS:
            raise ValueError(f"the type of {name!r} must be one of {', '.join(TYPE_CHECKS)}")
        required = rule.get("required", False)
        if not isinstance(required, bool):
            raise ValueError(f"'required' of {name!r} must be true or false")
        clean[name] = {"type": type_name, "required": required}
    return clean
