"""Typed, validated reading of environment variables.

Settings call these helpers instead of ``os.environ`` so that every value is checked
when the process starts. A missing or malformed value raises
:class:`SettingError`, whose message is one line naming the variable and what it
expects; ``manage.py`` prints that line and exits with status 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_MISSING = object()


class SettingError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""

    def __init__(self, name: str, expected: str, got: str | None = None) -> None:
        self.name = name
        detail = f"{name}: expected {expected}"
        if got is not None:
            detail += f", got {got!r}"
        super().__init__(detail)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_str(name: str, default: str | object | None = _MISSING, *, expected: str = "a value") -> str:
    value = _raw(name)
    if value is None:
        if default is _MISSING or default is None:
            raise SettingError(name, f"{expected} (it is required)")
        return str(default)
    return value


def env_optional(name: str) -> str | None:
    return _raw(name)


def env_choice(name: str, choices: Sequence[str], default: str) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value not in choices:
        raise SettingError(name, "one of " + "|".join(choices), value)
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingError(name, "a boolean (true/false, 1/0, yes/no)", value)


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise SettingError(name, "a whole number", value) from None
    if minimum is not None and number < minimum:
        raise SettingError(name, f"a whole number >= {minimum}", value)
    if maximum is not None and number > maximum:
        raise SettingError(name, f"a whole number <= {maximum}", value)
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingError(name, "a number", value) from None
    if minimum is not None and number < minimum:
        raise SettingError(name, f"a number >= {minimum}", value)
    return number


def env_list(name: str, default: Sequence[str] = ()) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str | object | None = _MISSING, *, schemes: Sequence[str]) -> str:
    """A URL whose scheme is one of ``schemes`` (``chdb``, ``postgres``, ...)."""
    value = _raw(name)
    if value is None:
        if default is _MISSING or default is None:
            raise SettingError(name, "a URL with scheme " + "|".join(schemes) + " (it is required)")
        value = str(default)
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        raise SettingError(name, "a URL with scheme " + "|".join(schemes) + "://...", value)
    return value


def env_parsed(name: str, default: T, parse: Callable[[str], T], *, expected: str) -> T:
    value = _raw(name)
    if value is None:
        return default
    try:
        return parse(value)
    except (ValueError, TypeError):
        raise SettingError(name, expected, value) from None
