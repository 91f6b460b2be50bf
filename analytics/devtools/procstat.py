"""What Linux's /proc says about a live process: its memory and CPU time so far.

Used by the tools that watch the pipeline's processes from outside (``manage.py e2e``,
the benchmark suite). Every reader returns None (or 0.0 for CPU) once the process is gone.
"""

from __future__ import annotations

import os
from pathlib import Path


def status_mb(pid: int, field: str) -> float | None:
    """A memory line of ``/proc/PID/status`` (``VmRSS``: resident now, ``VmHWM``: peak) in MB."""
    prefix = f"{field}:"
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(prefix):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of a live process now, in MB."""
    return status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float | None:
    """High-water resident memory of a live process, in MB."""
    return status_mb(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
