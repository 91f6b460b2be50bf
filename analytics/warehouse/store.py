"""The event store: the one interface every other module uses to reach ClickHouse.

It adds to a transport what every call needs: the tenant guard, retries with backoff
for transient errors only (tenacity), a circuit breaker so that a dead ClickHouse fails
fast (pybreaker), and metrics. Get the process-wide instance with :func:`get_store`.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pybreaker
from django.conf import settings
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from analytics.core.control import ServerRefused, is_server_process, store_held_by_server
from analytics.core.logging import get_logger
from analytics.warehouse import metrics
from analytics.warehouse.data_version import bump_segment_versions
from analytics.warehouse.errors import (
    SegmentSetMissing,
    StoreCircuitOpen,
    StoreError,
    StoreQueryError,
    StoreUnavailable,
)
from analytics.warehouse.guard import SEGMENT_SET_PREFIX, Query, check_scoped
from analytics.warehouse.once import KEY_SQL, StoredEvents
from analytics.warehouse.schema import events_to_arrow
from analytics.warehouse.transports import QueryResult, Transport, transport_from_url
from analytics.warehouse.transports.common import error_code

log = get_logger(__name__)
T = TypeVar("T")

EVENTS_TABLE = "events"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked_table(name: str) -> str:
    # Table names end up in SQL (ClickHouse has no parameters for them).
    if not _TABLE_NAME.match(name):
        raise StoreQueryError(f"invalid events table name {name!r}")
    return name


def _alive(reference: weakref.ref[EventStore]) -> EventStore:
    store = reference()
    if store is None:
        raise StoreUnavailable("the event store was closed")
    return store


def split_by_month(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """The batch cut by calendar month (UTC) of event time: ``[("202611", rows), ...]``."""
    if table.num_rows == 0:
        return []
    months = table.column("timestamp").cast(pa.int64()).to_numpy().astype("datetime64[ms]").astype("datetime64[M]")
    distinct = np.unique(months)
    if len(distinct) == 1:
        return [(str(distinct[0]).replace("-", ""), table)]
    return [(str(month).replace("-", ""), table.filter(pa.array(months == month))) for month in distinct]


# ``person_id IN <set>`` of a set that is gone: UNKNOWN_IDENTIFIER with the analyzer
# (ClickHouse 24.3+, chDB), UNKNOWN_TABLE without it. The name must be the missing
# identifier itself, not merely in the quoted query ("In scope SELECT ... segment_set_...").
_UNKNOWN_IDENTIFIER, _UNKNOWN_TABLE = 47, 60
_MISSING_SET = re.compile(
    r"(?:identifier|table)\s+[`'\"]?(?:\w+\.)?(" + SEGMENT_SET_PREFIX + r"\d+_\d+_\d+)\b", re.IGNORECASE
)


def missing_segment_set(error: BaseException) -> str | None:
    """The segment set a failed query named and ClickHouse did not find, if that is the failure."""
    if error_code(error) not in (_UNKNOWN_IDENTIFIER, _UNKNOWN_TABLE):
        return None
    match = _MISSING_SET.search(str(error))
    return match.group(1) if match else None


class ConcurrentCircuitBreaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker, minus its lock around the guarded call.

    ``pybreaker.CircuitBreaker.call`` holds the breaker's lock while the call runs, so every
    store call of a process waited for the one before it: a rollup query of several seconds
    held up every insert (in embedded mode, every event POST) and every API read behind
    it. State changes still take the lock (pybreaker's ``open``/``half_open``/``close``);
    without it around the call, a half-open breaker may let a few concurrent trial calls
    through instead of exactly one, which is harmless here.
    """

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.state.call(func, *args, **kwargs)


class EventStore:
    """Guard + retries + circuit breaker + metrics around one transport.

    ``cluster`` (``CLICKHOUSE_CLUSTER``) means the plain table names are Distributed
    tables over ``<name>_local`` replicated tables; inserts then go through the
    Distributed table synchronously (see :meth:`insert_settings`).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        retries: int = 3,
        breaker_fail_max: int = 5,
        breaker_reset_timeout: float = 10.0,
        cluster: str | None = None,
    ) -> None:
        self.transport = transport
        self.retries = retries
        self.cluster = cluster or None
        # Only StoreUnavailable trips a breaker: a bad statement says nothing about health.
        # Reads and writes have a breaker each: a few heavy queries timing out (a rollup,
        # a report) must not fail every insert, which in embedded mode is every event POST.
        self.breaker = self._breaker(f"clickhouse-{transport.name}", breaker_fail_max, breaker_reset_timeout)
        self.insert_breaker = self._breaker(
            f"clickhouse-{transport.name}-inserts", breaker_fail_max, breaker_reset_timeout
        )
        self._event_insert_settings: dict[str, Any] | None = None
        self._once_lock = threading.Lock()
        self._stored_events: StoredEvents | None = None

    @staticmethod
    def _breaker(name: str, fail_max: int, reset_timeout: float) -> ConcurrentCircuitBreaker:
        return ConcurrentCircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[lambda error: not isinstance(error, StoreUnavailable)],
            name=name,
        )

    # ------------------------------------------------------------------ plumbing
    def _run(
        self,
        operation: str,
        function: Callable[[], T],
        *,
        retry_transient: bool = True,
        breaker: ConcurrentCircuitBreaker | None = None,
    ) -> T:
        """Call ``function`` through a circuit breaker (the query breaker unless another is
        given), counting failures by ``operation`` and retrying transient ones."""
        breaker = breaker or self.breaker

        def guarded() -> T:
            try:
                return breaker.call(function)
            except pybreaker.CircuitBreakerError as error:
                metrics.STORE_ERRORS.labels(kind="circuit_open", operation=operation).inc()
                raise StoreCircuitOpen(f"event store circuit is open after repeated failures: {error}") from error
            except StoreError as error:
                metrics.STORE_ERRORS.labels(kind=type(error).__name__, operation=operation).inc()
                raise

        if not retry_transient or self.retries == 0:
            return guarded()

        def before_sleep(state: Any) -> None:
            metrics.STORE_RETRIES.labels(operation=operation).inc()
            log.warning(
                "store.retry",
                operation=operation,
                attempt=state.attempt_number,
                error=str(state.outcome.exception())[:300],
            )

        # An open circuit is not retried: failing fast is its whole point.
        # Retrying is called directly, not as a decorator: tenacity's decorated wrapper refers
        # to itself (a reference cycle) and keeps the wrapped function, whose closure holds
        # the insert's Arrow batch. Freed only by a full collection, which the tuned
        # collector (analytics/core/gctuning.py) runs rarely, such cycles kept hundreds of
        # MB of inserted batches alive in the consumer (tests/warehouse/test_reliability.py).
        retrying = Retrying(
            retry=retry_if_exception_type(StoreUnavailable) & retry_if_not_exception_type(StoreCircuitOpen),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(guarded)

    # ------------------------------------------------------------------ reads
    def query(self, query: Query) -> QueryResult:
        """Run a project-scoped SELECT; refused before it reaches ClickHouse if unscoped. A
        segment set it names that does not exist is SegmentSetMissing (a 503, see there)."""
        check_scoped(query)
        started = time.perf_counter()
        try:
            return self._run(
                f"query:{query.name}",
                lambda: self.transport.query(query.sql, query.params, query.settings),
            )
        except StoreQueryError as error:
            missing = missing_segment_set(error)
            if missing is None:
                raise
            log.warning("store.segment_set_missing", query=query.name, set=missing)
            if query.params.get("project_id") is not None:  # the tenant guard demands it with a set
                bump_segment_versions([int(query.params["project_id"])])
            raise SegmentSetMissing(missing) from error
        finally:
            metrics.STORE_QUERY_SECONDS.labels(query=query.name, transport=self.transport.name).observe(
                time.perf_counter() - started
            )

    def query_unscoped_admin(self, name: str, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """For operator tooling on system tables only (migrations, health). Never tenant data."""
        query = Query(name=name, sql=sql, params=params or {})
        check_scoped(query)
        return self._run(f"admin:{name}", lambda: self.transport.query(sql, query.params, {}))

    def execute(self, query: Query) -> None:
        """Run a project-scoped statement without a result (e.g. ``ALTER TABLE ... DELETE``).

        Guarded and parameterised like :meth:`query`; not retried (a mutation is not
        known to be idempotent in general).
        """
        check_scoped(query)
        self._run(
            f"execute:{query.name}",
            lambda: self.transport.query(query.sql, query.params, query.settings),
            retry_transient=False,
        )

    def command(self, sql: str, settings: Mapping[str, Any] | None = None, *, retry_transient: bool = False) -> None:
        """Run DDL or maintenance. Not retried unless the statement is idempotent."""
        self._run("command", lambda: self.transport.command(sql, settings), retry_transient=retry_transient)

    def ping(self) -> None:
        self._run("ping", lambda: self.transport.query("SELECT 1", {}, {}), retry_transient=False)

    # ------------------------------------------------------------------ writes
    def insert_events(
        self, rows: Sequence[Mapping[str, Any]] | pa.Table, *, dedup_token: str, into: str = EVENTS_TABLE
    ) -> int:
        """Insert a batch of events, each once. Returns the rows inserted.

        Copies of events already stored (same project, source and event id) and repeats
        inside the batch are dropped first (``warehouse/once.py``). ``dedup_token`` identifies
        the batch (for Kafka: topic, partition and offset range): ClickHouse drops a second
        insert with the same token, so retrying a batch after an ambiguous failure never
        stores it twice. Each month of event time is inserted with a token of its own, so a
        retry that finds one month already stored still stores the other. ``into`` names a
        table with the events schema other than ``events`` (the insert benchmark's copy).
        """
        if not dedup_token:
            raise StoreQueryError("insert_events needs a dedup_token")
        table = rows if isinstance(rows, pa.Table) else events_to_arrow(rows)
        if table.num_rows == 0:
            return 0
        started = time.perf_counter()
        once = self.stored_events
        with once.lock:
            table, keys = once.keep_new(into, table)
            for month, part in split_by_month(table):
                self._insert_event_part(into, part, f"{dedup_token}/{month}")
            once.remember(into, keys)
        transport = self.transport.name
        metrics.STORE_INSERT_SECONDS.labels(transport=transport).observe(time.perf_counter() - started)
        metrics.STORE_ROWS_INSERTED.labels(transport=transport).inc(table.num_rows)
        metrics.STORE_BYTES_INSERTED.labels(transport=transport).inc(table.nbytes)
        return table.num_rows

    def _insert_event_part(self, into: str, part: pa.Table, token: str) -> None:
        # Retrying is safe: the token makes a repeated insert of this part a no-op. The
        # settings lookup runs inside the call, so a server that is down counts on the
        # insert breaker and is retried like the insert itself.
        self._run(
            "insert",
            lambda: self.transport.insert_arrow(
                into, part, {**self.insert_settings(token), **self.event_insert_settings()}
            ),
            breaker=self.insert_breaker,
        )

    @property
    def stored_events(self) -> StoredEvents:
        """This process's knowledge of which events are stored (``warehouse/once.py``)."""
        with self._once_lock:
            if self._stored_events is None:
                # Through a weak reference: bound methods would make store and filter a
                # reference cycle, which outlives close_store() under the tuned collector and
                # lets chDB's session be destroyed after chDB itself at exit (a crash).
                store = weakref.ref(self)

                def read_keys(table: str, since: str | None) -> tuple[np.ndarray, str]:
                    return _alive(store)._stored_event_keys(table, since)

                def lookup(table: str, project_id: int, event_ids: list[str]) -> set[tuple[str, str]]:
                    return _alive(store)._stored_identities(table, project_id, event_ids)

                self._stored_events = StoredEvents(read_keys, lookup)
            return self._stored_events

    def _stored_event_keys(self, table: str, since: str | None) -> tuple[np.ndarray, str]:
        """Keys of the rows of an events table (inserted at or after ``since``), and the server's clock.

        Reads every project on purpose: the result is anonymous 64-bit hashes that never
        leave this module, which is why it bypasses the tenant guard.
        """
        _checked_table(table)
        where = (
            ""
            if since is None
            else "WHERE inserted_at >= {since:DateTime64(3, 'UTC')} - INTERVAL {overlap:UInt32} SECOND"
        )
        # The insert breaker, not the query one: this read is part of every insert, and
        # heavy reports timing out must not stop ingestion.
        now = self._run(
            "once:clock",
            lambda: self.transport.query("SELECT toString(now64(3, 'UTC'))", {}, {}),
            breaker=self.insert_breaker,
        ).scalar()
        params: dict[str, Any] = (
            {} if since is None else {"since": since, "overlap": StoredEvents.REFRESH_OVERLAP_SECONDS}
        )
        result = self._run(
            "once:keys",
            lambda: self.transport.query(f"SELECT {KEY_SQL} AS key FROM {table} {where}", params, {}),
            breaker=self.insert_breaker,
        )
        column = result.table.column(0) if result.table.num_columns else pa.array([], type=pa.uint64())
        return np.array(column.to_numpy(), dtype=np.uint64, copy=True), str(now)

    def _stored_identities(self, table: str, project_id: int, event_ids: list[str]) -> set[tuple[str, str]]:
        """The stored ``(source_id, event_id)`` pairs of one project among ``event_ids``."""
        _checked_table(table)
        query = Query(
            name="once.lookup",
            sql=f"SELECT source_id, toString(event_id) FROM {table} "
            "WHERE project_id = {project_id:UInt64} AND event_id IN {event_ids:Array(UUID)}",
            params={"project_id": project_id, "event_ids": sorted(set(event_ids))},
        )
        check_scoped(query)
        result = self._run(
            "once:lookup",
            lambda: self.transport.query(query.sql, query.params, query.settings),
            breaker=self.insert_breaker,
        )
        return {(str(source), str(event)) for source, event in result.rows()}

    def insert_arrow(self, table_name: str, data: pa.Table, *, dedup_token: str | None = None) -> None:
        """Insert into another table of ours (persons, person_distinct_ids)."""
        settings = self.insert_settings(dedup_token)
        self._run(
            f"insert:{table_name}",
            lambda: self.transport.insert_arrow(table_name, data, settings),
            retry_transient=bool(dedup_token),
            breaker=self.insert_breaker,
        )

    def insert_settings(self, dedup_token: str | None) -> dict[str, Any]:
        """Settings of an insert: the dedup token, and in cluster mode a synchronous
        Distributed insert, so the token reaches the shards with the same sub-blocks on a
        retry (the sharding key is deterministic) and a failure is reported to the caller
        instead of being parked in the Distributed table's local queue."""
        settings: dict[str, Any] = {}
        if dedup_token:
            settings.update(insert_deduplication_token=dedup_token, insert_deduplicate=1)
        if self.cluster:
            settings["insert_distributed_sync"] = 1
        return settings

    def event_insert_settings(self) -> dict[str, Any]:
        """Settings for inserts into the events table, found once per store.

        ``optimize_on_insert=0``: on a Replacing or Collapsing table ClickHouse would merge
        every inserted block, collapsing rows that share a sort key inside it; the events
        table is a plain MergeTree (since migration 0004) where the setting changes nothing,
        and it is kept so an insert never pays that merge (docs/event-store.md).
        ``deduplicate_blocks_in_dependent_materialized_views=1``: a block the events table
        drops as a retried copy (same insert token) is dropped by the views' tables too;
        ``network_actions`` (migration 0011) would otherwise count a retried block twice.
        It is the default on current servers and said here for the older ones.
        A server that predates these settings (18.16 in the tests) gets none.
        """
        if self._event_insert_settings is None:
            try:
                known = self.transport.supports_setting("optimize_on_insert")
            except StoreQueryError as error:
                # The server answered but would not tell (no rights on system.settings, say):
                # insert without the setting rather than fail every insert on the lookup.
                log.warning("store.setting_lookup_failed", setting="optimize_on_insert", error=str(error)[:300])
                known = False
            self._event_insert_settings = (
                {"optimize_on_insert": 0, "deduplicate_blocks_in_dependent_materialized_views": 1} if known else {}
            )
        return self._event_insert_settings

    def close(self) -> None:
        self.transport.close()


_store: EventStore | None = None
_store_lock = threading.Lock()


def _refuse_if_held_by_server(url: str) -> None:
    """One line instead of chDB's "Error initializing EmbeddedServer" when `serve` holds the data.

    chDB admits one process per data directory; the running server answers on the control
    socket of DATA_DIR (analytics/core/control.py), so only a chDB directory inside DATA_DIR
    is checked.
    """
    if not url.startswith("chdb://") or is_server_process():
        return
    path = Path(urlparse(url).netloc + urlparse(url).path).resolve()
    if not path.is_relative_to(Path(settings.DATA_DIR).resolve()):
        return
    refusal = store_held_by_server()
    if refusal:
        raise ServerRefused(refusal)


def get_store() -> EventStore:
    """The process-wide store for ``settings.CLICKHOUSE_URL`` (created on first use)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _refuse_if_held_by_server(settings.CLICKHOUSE_URL)
                transport = transport_from_url(
                    settings.CLICKHOUSE_URL,
                    query_timeout=settings.CLICKHOUSE_QUERY_TIMEOUT,
                    connect_timeout=settings.CLICKHOUSE_CONNECT_TIMEOUT,
                )
                _store = EventStore(transport, retries=settings.CLICKHOUSE_RETRIES, cluster=settings.CLICKHOUSE_CLUSTER)
    return _store


def close_store() -> None:
    global _store
    with _store_lock:
        if _store is not None:
            _store.close()
        _store = None


def reset_store_on_setting_change(setting: str, **_: Any) -> None:
    if setting.startswith("CLICKHOUSE_"):
        close_store()
