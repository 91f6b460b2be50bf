"""Stages, figures and their baselines: the data model of a benchmark run.

A stage is a function ``run(ctx) -> list[Metric]`` registered under a name with
:func:`stage`. Every :class:`Metric` carries its figure, the baseline measured in the same
run on the same data, the ratio and the target. A stage whose piece of the product does
not exist yet raises :class:`Unavailable`; the table says so instead of inventing a figure.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analytics.devtools.bench import stages
from analytics.devtools.bench.data import DataSpec


class Unavailable(Exception):
    """The product piece this stage measures is missing or cannot run here; the message says why."""


@dataclass
class Metric:
    """One figure next to its baseline.

    ``higher_is_better`` decides the ratio: figure/baseline for rates, baseline/figure for
    costs (seconds, megabytes), so a ratio of 1.0 always means "as good as the baseline".
    ``checks`` are (description, passed) pairs; the metric passes when all of them do.
    """

    name: str
    figure: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    higher_is_better: bool = True
    target: str = ""
    checks: list[tuple[str, bool]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Non-empty when this figure could not be measured here; the reason is shown instead.
    unavailable: str = ""

    @property
    def ratio(self) -> float | None:
        if self.figure is None or self.baseline is None or self.figure == 0 or self.baseline == 0:
            return None
        return self.figure / self.baseline if self.higher_is_better else self.baseline / self.figure

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when the issue sets no target (reported only)."""
        if not self.checks or self.unavailable:
            return None
        return all(ok for _, ok in self.checks)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [{"check": text, "passed": ok} for text, ok in self.checks]
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        data["passed"] = self.passed
        return data


def at_least(value: float | None, minimum: float, text: str) -> tuple[str, bool]:
    return text, value is not None and value >= minimum


def at_most(value: float | None, maximum: float, text: str) -> tuple[str, bool]:
    return text, value is not None and value <= maximum


@dataclass
class StageContext:
    """What a stage gets: the scale, its own scratch directory, and a progress logger."""

    name: str
    scale: float
    workdir: Path
    started: float = field(default_factory=time.monotonic)
    # Results of the stages that ran before this one in the same suite run (name -> result).
    previous: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str, **context: Any) -> None:
        """A progress line on stderr (stdout is kept for the table and the JSON line)."""
        details = " ".join(f"{key}={value}" for key, value in context.items())
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"[{self.name} +{elapsed:.1f}s] {message} {details}".rstrip() + "\n")
        sys.stderr.flush()

    def rows(self, at_scale_one: int, minimum: int = 1000) -> int:
        """A size that follows BENCH_SCALE, never below ``minimum``."""
        return max(minimum, round(at_scale_one * self.scale))

    def spec(self, events_at_scale_one: int, **overrides: Any) -> DataSpec:
        """A generator spec with ``events_at_scale_one * scale`` events and users in the 10:1 ratio."""
        events = self.rows(events_at_scale_one)
        users = max(1, events // 10)
        return DataSpec(events=events, users=users, **overrides)


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: Callable[[StageContext], list[Metric]]
    order: int


STAGES: dict[str, Stage] = {}


def stage(name: str, title: str, order: int) -> Callable[[Callable[[StageContext], list[Metric]]], Callable[..., Any]]:
    """Register a stage function under ``name`` (what ``--only`` takes)."""

    def register(function: Callable[[StageContext], list[Metric]]) -> Callable[[StageContext], list[Metric]]:
        STAGES[name] = Stage(name=name, title=title, run=function, order=order)
        return function

    return register


def load_stages() -> dict[str, Stage]:
    """Import every stage module so that each registers itself; returns them in suite order."""
    for info in pkgutil.iter_modules(stages.__path__):
        importlib.import_module(f"{stages.__name__}.{info.name}")
    return dict(sorted(STAGES.items(), key=lambda item: item[1].order))


def bench_scale() -> float:
    """BENCH_SCALE from the environment (float > 0, default 1.0), with a one-line error otherwise."""
    raw = os.environ.get("BENCH_SCALE", "1.0")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"configuration error: BENCH_SCALE must be a positive number, got {raw!r}") from None
    if not value > 0:
        raise SystemExit(f"configuration error: BENCH_SCALE must be a positive number, got {raw!r}")
    return value
