"""Database connection hygiene for code that runs outside Django's request cycle.

Django closes broken or expired connections in its ``request_started`` and
``request_finished`` handlers (``close_old_connections``). The ingestion fast path
(``analytics.ingestion.asgi``) and long-running loops never send those signals, so without
this a connection the database dropped (a PostgreSQL restart, an idle timeout) would fail
every query of that thread until the process restarts.
"""

from __future__ import annotations

from django.db import connections


def close_stale_connections() -> None:
    """Close this thread's connections that are unusable (health check) or past CONN_MAX_AGE;
    the next query opens a fresh one.

    This is ``django.db.close_old_connections`` except that a connection inside an atomic
    block is left alone: a transaction is using it (the test suite runs every test inside
    one), and closing it would break that transaction instead of repairing anything.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
