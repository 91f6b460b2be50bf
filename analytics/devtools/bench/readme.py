"""Put a full run's table into README.md and keep the run as history under docs/benchmarks/.

README's "Performance" section carries the table between two markers; ``manage.py bench
--publish`` (after a full run) or ``manage.py bench --publish --table-from FILE`` replaces
it, so the figures a reader sees always come from one run of a named commit. Each
published run is also written to ``docs/benchmarks/<date>-full-run.md``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from analytics.devtools.bench.runner import format_table

BEGIN = "<!-- bench:begin (written by `manage.py bench --publish`; do not edit by hand) -->"
END = "<!-- bench:end -->"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def summary_line(report: dict[str, Any]) -> str:
    machine = report["machine"]
    summary = report["summary"]
    errors = len(summary.get("errors") or [])
    if summary.get("failed") or errors:
        verdict = f"{summary.get('failed', 0)} target(s) missed, {errors} stage(s) failed to run"
    else:
        verdict = "every target passed"
    return (
        f"Run of {report['started_at'][:16]} UTC on commit `{report.get('commit', 'unknown')}`: "
        f"{machine['nproc']} cores ({machine['cpu']}), {machine['ram_gb']} GB RAM, load average "
        f"{machine['load_avg_1m']} at the start, scale {report['scale']}, {report['seconds']} s; {verdict}."
    )


def render_block(report: dict[str, Any]) -> str:
    return f"{BEGIN}\n{summary_line(report)}\n\n{format_table(report)}\n{END}"


def publish(report: dict[str, Any], root: Path) -> list[Path]:
    """Write the run into README.md (between the markers) and docs/benchmarks/; the paths written."""
    readme = root / "README.md"
    text = readme.read_text()
    if not _BLOCK.search(text):
        raise ValueError(f"README.md has no bench block ({BEGIN} ... {END})")
    readme.write_text(_BLOCK.sub(lambda _match: render_block(report), text, count=1))
    history = root / "docs" / "benchmarks" / f"{report['started_at'][:10]}-full-run.md"
    history.parent.mkdir(parents=True, exist_ok=True)
    entry = f"## {report['started_at'][:16]} UTC\n\n{summary_line(report)}\n\n{format_table(report)}\n"
    if history.exists():
        history.write_text(history.read_text().rstrip() + "\n\n" + entry)
    else:
        history.write_text(
            f"# Full benchmark runs of {report['started_at'][:10]}\n\nHistory: not updated later.\n\n" + entry
        )
    return [readme, history]
