"""The kinds of saved report, registered by the apps that answer them.

A saved report (``reports``) stores ``{"kind", "query"}``; trends, funnels, retention and
paths live in different apps of one layer, which may not import each other, so each app
registers its kind here from its ``AppConfig.ready`` and the saved-report code finds it by
name. ``validate`` turns the stored JSON into the app's query model (raising DRF's
``ValidationError``, whose fields name the bad node); ``run`` answers it for a project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analytics.core.errors import ApplicationError


@dataclass(frozen=True)
class ReportKind:
    name: str
    # (project, query JSON) -> the app's validated query object
    validate: Callable[[Any, Mapping[str, Any]], Any]
    # (project, validated query, refresh) -> the JSON answer
    run: Callable[[Any, Any, bool], dict[str, Any]]


_KINDS: dict[str, ReportKind] = {}


class UnknownReportKind(ApplicationError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown report kind {name!r}; known: {', '.join(sorted(_KINDS))}",
            extra={"fields": {"kind": [f"unknown kind {name!r}"]}},
        )


def register_kind(kind: ReportKind) -> None:
    """Called once per kind from an ``AppConfig.ready``; registering a name twice is a bug."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise RuntimeError(f"report kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind


def get_kind(name: str) -> ReportKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownReportKind(name) from None


def kind_names() -> list[str]:
    return sorted(_KINDS)
