"""Declared, typed, validated environment variables.

Each variable is declared once (in :mod:`config.variables`) with its type, default,
validation, scope and description; settings read it only through that declaration
(``PORT = env.PORT.get()``), and ``manage.py settings_doc`` renders the same declarations
as README.md's table, so the checks and the documentation cannot drift apart.

A missing or malformed value raises :class:`SettingError`, whose message is one line
naming the variable and what it expects; ``manage.py`` prints that line and exits with
status 2. A declaration that makes no sense (an unknown type, a second declaration of a
name, a choice default outside its choices, ...) raises :class:`DeclarationError` at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

KINDS = ("text", "integer", "number", "boolean", "choice", "list", "url", "path", "parsed")
# Where a variable matters: every process, one mode, or one profile.
MODES = ("embedded", "scale")
PROFILES = ("dev", "test", "prod")
SCOPES = ("all", *MODES, *PROFILES)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""

    def __init__(self, name: str, expected: str, got: str | None = None) -> None:
        self.name = name
        detail = f"{name}: expected {expected}"
        if got is not None:
            detail += f", got {got!r}"
        super().__init__(detail)


class DeclarationError(ValueError):
    """A variable's declaration is itself wrong (a programming error, not the operator's)."""


@dataclass(frozen=True)
class Required:
    """The default of a variable that must be set; ``reason`` ends its error message."""

    reason: str = "it is required"


REQUIRED = Required()


@dataclass(frozen=True)
class Variant:
    """What changes for a variable in one mode or profile (``None``: as declared)."""

    default: Any = None
    default_doc: str | None = None
    schemes: tuple[str, ...] | None = None
    expected: str | None = None
    # value -> None when fine, else (what is expected, description of what was got)
    check: Callable[[Any], tuple[str, str] | None] | None = None
    has_default: bool = False


def variant(
    *,
    default: Any = ...,
    default_doc: str | None = None,
    schemes: Sequence[str] | None = None,
    expected: str | None = None,
    check: Callable[[Any], tuple[str, str] | None] | None = None,
) -> Variant:
    return Variant(
        default=None if default is ... else default,
        default_doc=default_doc,
        schemes=tuple(schemes) if schemes is not None else None,
        expected=expected,
        check=check,
        has_default=default is not ...,
    )


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


@dataclass(frozen=True, eq=False)
class Var(Generic[T]):
    """One environment variable: how it is parsed, checked, defaulted and documented."""

    name: str
    kind: str
    doc: str
    scope: tuple[str, ...] = ("all",)
    # A value, REQUIRED / Required(reason), None (optional: unset reads as None) or a
    # zero-argument callable computing it (then default_doc must say it for readers).
    default: Any = REQUIRED
    default_doc: str | None = None
    choices: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    parse: Callable[[str], Any] | None = None
    expected: str | None = None
    check: Callable[[Any], tuple[str, str] | None] | None = None
    # Per mode or profile (a profile's variant wins over a mode's).
    variants: Mapping[str, Variant] = field(default_factory=dict)
    registry: Registry | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise DeclarationError(f"{self.name}: {problem}")

    def _problem(self) -> str | None:  # noqa: C901 - a flat checklist, one rule per line
        if not self.name or not self.name.replace("_", "").isalnum() or self.name.upper() != self.name:
            return "a variable name is UPPER_CASE letters, digits and underscores"
        if self.kind not in KINDS:
            return f"unknown type {self.kind!r} (one of {', '.join(KINDS)})"
        if not self.doc.strip():
            return "a description (doc) is required"
        if not self.scope or set(self.scope) - set(SCOPES):
            return f"scope must be some of {', '.join(SCOPES)}, not {self.scope!r}"
        if set(self.variants) - set(MODES + PROFILES):
            return f"variants are keyed by mode or profile ({', '.join(MODES + PROFILES)})"
        if bool(self.choices) != (self.kind == "choice"):
            return "choices belong to (and are required by) a choice"
        if bool(self.schemes) != (self.kind == "url") or (
            self.kind != "url" and any(v.schemes for v in self.variants.values())
        ):
            return "schemes belong to (and are required by) a url"
        if (self.minimum is not None or self.maximum is not None) and self.kind not in ("integer", "number"):
            return "minimum/maximum belong to an integer or a number"
        if (self.parse is None) != (self.kind != "parsed") or (self.kind == "parsed" and not self.expected):
            return "a parsed variable needs parse and expected (and only it has parse)"
        defaults = [(self.default, self.default_doc, self.schemes)] + [
            (v.default, v.default_doc, v.schemes or self.schemes) for v in self.variants.values() if v.has_default
        ]
        for default, doc, schemes in defaults:
            if callable(default) and not doc:
                return "a computed default needs default_doc (what readers see in the table)"
            if not callable(default) and not isinstance(default, Required) and default is not None:
                try:
                    self._check_default(default, schemes)
                except SettingError as error:
                    return f"default {default!r} is invalid ({error})"
        return None

    def _check_default(self, default: Any, schemes: Sequence[str]) -> None:
        if self.kind == "choice" and default not in self.choices:
            raise SettingError(self.name, "one of " + "|".join(self.choices), str(default))
        if self.kind in ("integer", "number"):
            self._bounded(default, str(default))
        if self.kind == "url":
            self._convert(str(default), schemes, None)

    # --------------------------------------------------------------------------------
    # Reading
    # --------------------------------------------------------------------------------
    def active_variant(self) -> Variant | None:
        if not self.variants or self.registry is None:
            return None
        mode, profile = self.registry.context()
        return (self.variants.get(profile) if profile else None) or (self.variants.get(mode) if mode else None)

    def get(self) -> T:
        """The validated value from the environment, else the (mode's/profile's) default."""
        active = self.active_variant()
        schemes = (active.schemes if active and active.schemes else None) or self.schemes
        expected = (active.expected if active and active.expected else None) or self.expected
        default = active.default if active and active.has_default else self.default
        raw = _raw(self.name)
        value: Any
        if raw is None:
            if callable(default):
                default = default()
            if isinstance(default, Required):
                raise SettingError(self.name, f"{self._expected(schemes, expected)} ({default.reason})")
            if default is None:
                return cast(T, None)
            value = self._convert(str(default), schemes, expected) if self.kind == "url" else default
            if self.kind == "path":
                value = Path(value).resolve()
            if self.kind == "list":
                value = list(value)
        else:
            value = self._convert(raw, schemes, expected)
            if self.kind == "list" and not value and isinstance(default, Required):
                raise SettingError(self.name, f"{self._expected(schemes, expected)} ({default.reason})")
        for check in (self.check, active.check if active else None):
            failure = check(value) if check is not None and value is not None else None
            if failure is not None:
                raise SettingError(self.name, *failure)
        return cast(T, value)

    def _expected(self, schemes: Sequence[str], expected: str | None) -> str:
        """What the variable expects, as the error message says it."""
        if expected:
            return expected
        return {
            "text": "a value",
            "integer": "a whole number",
            "number": "a number",
            "boolean": "a boolean (true/false, 1/0, yes/no)",
            "choice": "one of " + "|".join(self.choices),
            "list": "a comma-separated list",
            "url": "a URL with scheme " + "|".join(schemes),
            "path": "a path",
        }[self.kind]

    def _convert(self, value: str, schemes: Sequence[str], expected: str | None) -> Any:  # noqa: C901 - one branch per kind
        kind = self.kind
        if kind in ("text", "path"):
            return Path(value).resolve() if kind == "path" else value
        if kind == "choice":
            if value not in self.choices:
                raise SettingError(self.name, self._expected(schemes, None), value)
            return value
        if kind == "boolean":
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise SettingError(self.name, self._expected(schemes, None), value)
        if kind == "integer" or kind == "number":
            try:
                number: float = int(value.replace("_", "")) if kind == "integer" else float(value)
            except ValueError:
                raise SettingError(self.name, self._expected(schemes, None), value) from None
            return self._bounded(number, value)
        if kind == "list":
            return [item.strip() for item in value.split(",") if item.strip()]
        if kind == "url":
            if urlparse(value).scheme not in schemes:
                raise SettingError(self.name, "a URL with scheme " + "|".join(schemes) + "://...", value)
            return value
        assert self.parse is not None
        assert expected is not None
        try:
            return self.parse(value)
        except (ValueError, TypeError):
            raise SettingError(self.name, expected, value) from None

    def _bounded(self, number: float, raw: str) -> float:
        noun = self._expected((), None)
        if self.minimum is not None and number < self.minimum:
            raise SettingError(self.name, f"{noun} >= {self.minimum}", raw)
        if self.maximum is not None and number > self.maximum:
            raise SettingError(self.name, f"{noun} <= {self.maximum}", raw)
        return number


class Registry:
    """The declared variables, in declaration order (the README table's order).

    ``mode`` and ``profile`` name the variables whose values pick a variable's variant.
    """

    def __init__(self, *, mode: str | None = None, profile: str | None = None) -> None:
        self._variables: dict[str, Var[Any]] = {}
        self._mode = mode
        self._profile = profile

    def __iter__(self) -> Iterator[Var[Any]]:
        return iter(self._variables.values())

    def __contains__(self, name: object) -> bool:
        return name in self._variables

    def __getitem__(self, name: str) -> Var[Any]:
        return self._variables[name]

    def context(self) -> tuple[str | None, str | None]:
        """The current mode and profile (read through their own declarations)."""
        mode = self._variables[self._mode].get() if self._mode in self._variables else None
        profile = self._variables[self._profile].get() if self._profile in self._variables else None
        return mode, profile

    def declare(self, kind: str, name: str, **options: Any) -> Var[Any]:
        if name in self._variables:
            raise DeclarationError(f"{name}: declared twice")
        for key in ("choices", "schemes", "scope"):
            if key in options:
                options[key] = (options[key],) if isinstance(options[key], str) else tuple(options[key])
        variable: Var[Any] = Var(name=name, kind=kind, registry=self, **options)
        if variable.variants and (self._mode is None or self._profile is None or name in (self._mode, self._profile)):
            raise DeclarationError(
                f"{name}: variants need a registry that knows the mode and profile (and not on them)"
            )
        self._variables[name] = variable
        return variable

    # One constructor per type; each returns the declaration, typed by its value.
    def text(self, name: str, **options: Any) -> Var[str]:
        return self.declare("text", name, **options)

    def optional_text(self, name: str, **options: Any) -> Var[str | None]:
        return self.declare("text", name, default=None, **options)

    def integer(self, name: str, **options: Any) -> Var[int]:
        return self.declare("integer", name, **options)

    def number(self, name: str, **options: Any) -> Var[float]:
        return self.declare("number", name, **options)

    def boolean(self, name: str, **options: Any) -> Var[bool]:
        return self.declare("boolean", name, **options)

    def choice(self, name: str, **options: Any) -> Var[str]:
        return self.declare("choice", name, **options)

    def comma_list(self, name: str, **options: Any) -> Var[list[str]]:
        options.setdefault("default", ())
        return self.declare("list", name, **options)

    def url(self, name: str, **options: Any) -> Var[str]:
        return self.declare("url", name, **options)

    def path(self, name: str, **options: Any) -> Var[Path]:
        return self.declare("path", name, **options)

    def parsed(self, name: str, **options: Any) -> Var[Any]:
        return self.declare("parsed", name, **options)
