"""README.md's table of environment variables, rendered from their declarations.

The settings read every variable through its declaration in ``config.variables`` (type,
default, validation, scope, description), so this table is that registry printed in
declaration order. ``manage.py settings_doc`` prints it; a test keeps README.md in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from config.env import Required, Var
from config.variables import registry


@dataclass(frozen=True)
class EnvVariable:
    """One row of the table."""

    name: str
    kind: str
    default: str
    scope: str
    description: str


def _code(items: Iterable[str], suffix: str = "") -> str:
    return ", ".join(f"`{item}{suffix}`" for item in items)


def _kind(variable: Var[Any]) -> str:
    if variable.kind == "choice":
        return " | ".join(f"`{choice}`" for choice in variable.choices)
    if variable.kind in ("integer", "number"):
        bounds = [
            f"{sign} {value}" for sign, value in (("≥", variable.minimum), ("≤", variable.maximum)) if value is not None
        ]
        return variable.kind + (f" ({', '.join(bounds)})" if bounds else "")
    if variable.kind == "url":
        narrowed: dict[tuple[str, ...], list[str]] = {}  # schemes -> the modes/profiles narrowing to them
        for key, changed in variable.variants.items():
            if changed.schemes:
                narrowed.setdefault(changed.schemes, []).append(key)
        parts = [_code(variable.schemes, "://")]
        parts += [f"{', '.join(keys)}: {_code(schemes, '://')}" for schemes, keys in narrowed.items()]
        return f"URL ({'; '.join(parts)})"
    if variable.kind == "parsed":
        return str(variable.expected)
    if variable.kind == "text" and variable.default is None:
        return "text (optional)"
    return {"list": "comma-separated list"}.get(variable.kind, variable.kind)


def _default_text(default: Any, readable: str | None) -> str:
    if readable:
        return readable
    if isinstance(default, Required):
        return "required"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, int):
        return f"`{default:,}`" if default >= 10_000 else f"`{default}`"
    if isinstance(default, list | tuple):
        return f"`{','.join(map(str, default))}`" if default else "empty"
    return f"`{default}`"


def _default(variable: Var[Any]) -> str:
    """The default, then how a mode or profile changes it (``required in prod, else ...``)."""
    text = _default_text(variable.default, variable.default_doc)
    changed = [
        f"{_default_text(v.default, v.default_doc)} in {key}" for key, v in variable.variants.items() if v.has_default
    ]
    return f"{', '.join(changed)}, else {text}" if changed else text


def environment_variables() -> list[EnvVariable]:
    """Every declared variable, in declaration order."""
    return [
        EnvVariable(variable.name, _kind(variable), _default(variable), ", ".join(variable.scope), variable.doc)
        for variable in registry
    ]


def markdown_table(variables: list[EnvVariable] | None = None) -> str:
    """The README table of environment variables."""
    rows = ["| Variable | Type | Default | Used in | What it does |", "|---|---|---|---|---|"]
    for variable in environment_variables() if variables is None else variables:
        cells = (f"`{variable.name}`", variable.kind, variable.default, variable.scope, variable.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)
