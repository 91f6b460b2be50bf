"""Runs one stage in a fresh process: ``python -m analytics.devtools.bench.child NAME RESULT_JSON``.

Each stage gets its own process so that it owns its chDB directory (chDB admits one
process per data directory) and so that its peak memory is its own. The parent
(:mod:`analytics.devtools.bench.runner`) sets DATA_DIR and CLICKHOUSE_URL to a scratch directory.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    name, result_path = argv[1], Path(argv[2])
    # A subprocess entry point: the settings module is chosen before Django is imported.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415

    django.setup()
    from analytics.devtools.bench.registry import StageContext, Unavailable, bench_scale, load_stages  # noqa: PLC0415

    stages = load_stages()
    workdir = Path(os.environ["BENCH_WORKDIR"])
    previous_path = workdir / "previous.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else {}
    ctx = StageContext(name=name, scale=bench_scale(), workdir=workdir, previous=previous)
    started = time.monotonic()
    result: dict[str, object] = {"stage": name, "title": stages[name].title}
    try:
        metrics = stages[name].run(ctx)
        result.update(status="ok", metrics=[metric.as_dict() for metric in metrics])
    except Unavailable as error:
        result.update(status="unavailable", reason=str(error), metrics=[])
    except Exception as error:  # reported in the table, never hidden
        traceback.print_exc()
        result.update(status="error", reason=f"{type(error).__name__}: {error}"[:500], metrics=[])
    result["seconds"] = round(time.monotonic() - started, 2)
    result["bench_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result_path.write_text(json.dumps(result))
    # chDB's background threads can hold the interpreter at exit; the result is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
