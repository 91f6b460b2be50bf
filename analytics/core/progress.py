"""Progress bars for long management commands (rich), on a terminal and through the control socket.

``progress_bar(stream, "label", total)`` draws a live bar with counts, elapsed and
remaining time when ``stream`` is a terminal (or stands for one: the control socket's
streams report the client's terminal), and otherwise prints one final line per bar, so
logs and captured output stay readable. ``total=None`` shows a running count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_WIDTH = 100


class ProgressTask:
    """One bar: move it on with :meth:`update` or :meth:`advance`."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def update(self, completed: float, total: float | None = None, description: str | None = None) -> None:
        changes: dict[str, Any] = {"completed": completed}
        if total is not None:
            changes["total"] = total
        if description is not None:
            changes["description"] = description
        self._progress.update(self._task, **changes)

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)


def _raw_stream(stream: Any) -> Any:
    # Django's OutputWrapper appends a newline to every write; rich writes its own line ends.
    return getattr(stream, "_out", stream)


@contextmanager
def progress_bar(stream: Any, description: str, total: float | None = None) -> Iterator[ProgressTask]:
    """A bar written to ``stream`` for the duration of the block."""
    out = _raw_stream(stream)
    terminal = bool(getattr(out, "isatty", lambda: False)())
    console = Console(file=out, force_terminal=terminal, width=None if terminal else PLAIN_WIDTH, soft_wrap=False)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, auto_refresh=terminal) as progress:
        yield ProgressTask(progress, progress.add_task(description, total=total))
