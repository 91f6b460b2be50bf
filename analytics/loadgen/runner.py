"""Runs a load: starts the workers, shows a progress bar, collects the ledger."""

from __future__ import annotations

import io
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from analytics.core.progress import progress_bar
from analytics.loadgen.sender import SendPlan, read_ledger, start_workers, totals


class ProgressStream(Protocol):
    """Where the progress bar goes: a text stream, or a management command's OutputWrapper."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


@dataclass
class SendSummary:
    sent: int
    failed: int
    requests: int
    retries: int
    seconds: float
    ledger: np.ndarray

    @property
    def events_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def success_rate(self) -> float:
        attempted = self.sent + self.failed
        return self.sent / attempted if attempted else 0.0


def run_load(plan: SendPlan, *, progress: ProgressStream | None = sys.stderr, interval: float = 1.0) -> SendSummary:
    """Send according to ``plan``; returns once every worker has finished.

    ``progress``: where the bar goes (accepted events out of ``plan.events``, or a running
    count for a timed run, with the rate, failures and retries); None for none.
    """
    started = time.monotonic()
    processes, counters = start_workers(plan)
    with progress_bar(progress if progress is not None else io.StringIO(), "loadgen", total=plan.events) as bar:
        last_line = 0.0
        last_sent = 0
        while any(process.is_alive() for process in processes):
            time.sleep(0.2)
            now = time.monotonic()
            if now - last_line >= interval:
                sent, failed, requests, retries = totals(counters, plan.workers)
                rate = (sent - last_sent) / (now - last_line) if last_line else sent / max(now - started, 1e-9)
                bar.update(sent, description=f"loadgen {rate:,.0f} events/s, {failed} failed, {retries} retried")
                last_line, last_sent = now, sent
        for process in processes:
            process.join()
        seconds = time.monotonic() - started
        sent, failed, requests, retries = totals(counters, plan.workers)
        bar.update(sent, description=f"loadgen {failed} failed, {retries} retried")
    failed_workers = [process.exitcode for process in processes if process.exitcode != 0]
    if failed_workers:
        raise RuntimeError(f"{len(failed_workers)} loadgen worker(s) failed (exit codes {failed_workers})")
    sent, failed, requests, retries = totals(counters, plan.workers)
    ledger = read_ledger(plan.ledger_dir)
    return SendSummary(
        sent=int(ledger.size), failed=failed, requests=requests, retries=retries, seconds=seconds, ledger=ledger
    )


def default_ledger_dir() -> str:
    return tempfile.mkdtemp(prefix="loadgen-ledger-")
