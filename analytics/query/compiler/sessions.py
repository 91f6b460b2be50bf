"""Sessions, cut at query time in ClickHouse from the events of one range.

Sessions are never stored: every query cuts them again from the events of its range
``[start, end)`` with the project's current rules (:class:`SessionRules`), so a changed
timeout applies to the past too. The rules, exactly:

1. An event with a client-sent ``$session_id`` (the ``session_id`` column, non-empty)
   belongs to the session ``"c:" + session_id``: the client's id wins; neither the
   timeout nor midnight splits it.
2. The other events of a person (``person_id``) form a chain ordered by ``(timestamp,
   event_id)``; events with a ``$session_id`` are not part of it and do not interrupt it.
   An event of the chain starts a new session when it is the person's first in the range,
   or when more than the timeout has passed since the previous event of the chain (a gap
   of exactly the timeout continues the session), or, with ``split_at_midnight``, when
   its local date in the project's time zone differs from the previous event's (a session
   never spans a local midnight; across a daylight-saving change "midnight" is the local
   one). Its key is ``"p:" + person_id + ":" + <epoch milliseconds of its first event>``,
   stable for as long as the range does not cut the session.
3. Only the events of the range are seen: a session is cut at the range's edges.

Per session (:func:`sessions_sql`): ``session_key``, ``session_id`` (the client's id, or
``''``), ``person_id``/``distinct_id``/``referrer``/``country``/``browser``/``os``/
``device_type`` of the entry event (the first by ``(timestamp, event_id)``),
``utm_source``/``utm_medium``/``utm_campaign`` (the entry event's value of the UTM key as
filters read it: the property when set and not empty, else the URL-decoded parameter of
its URL; ``''`` when neither), ``session_start`` and ``session_end`` (the first and last
event's timestamps; ``start_ms``/``end_ms`` in epoch milliseconds), ``duration_seconds`` (their
difference, millisecond precision), ``event_count``, ``pageviews`` (``$pageview`` events),
``is_bounce`` (exactly one pageview and a duration under 10 seconds), ``entry_url`` and
``exit_url`` (the URL of the first and last event that has one, ``''`` if none).

A person is the ``person_id`` an event was stored with (the trends engine's
``unique_users`` counts the same ids); a later merge of two persons does not join their
earlier sessions.

The pieces: :func:`session_events_sql` (a ``session_key`` per event, for other compilers),
:func:`sessions_sql` (one row per session), :func:`session_page_query` and
:func:`session_details_query` (the list endpoint: a lean cut picks a page, then the page's
sessions are read in full). The two SQL builders add their values to the caller's
:class:`Params`, which must already hold ``project_id``, ``start`` and ``end`` (the range),
and return SQL without surrounding parentheses, ready for ``FROM (<sql>)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from analytics.query.compiler.filters import property_views
from analytics.query.compiler.params import Params
from analytics.warehouse.guard import Query
from analytics.warehouse.schema import COMPUTED_EVENT_COLUMNS, EVENT_COLUMNS

PAGEVIEW = "$pageview"
BOUNCE_SECONDS = 10
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
SCOPE = (
    "project_id = {project_id:UInt64}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
)
# The columns the windows need; callers may ask for more.
_WINDOW_COLUMNS = ("event_id", "person_id", "session_id", "timestamp")
_WINDOW = (
    "WINDOW w AS (PARTITION BY person_id ORDER BY timestamp, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
)
_ALIAS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class SessionRules:
    """How a project's sessions are cut (the project settings of the same names)."""

    time_zone: str
    timeout_minutes: int = 30
    split_at_midnight: bool = True

    @classmethod
    def for_project(cls, project: Any) -> SessionRules:
        return cls(
            time_zone=project.timezone,
            timeout_minutes=project.session_timeout_minutes,
            split_at_midnight=project.session_split_at_midnight,
        )


def _check_alias(alias: str) -> str:
    assert alias, alias
    assert set(alias) <= _ALIAS_CHARS, alias
    assert not alias[0].isdigit(), alias
    return alias


def session_events_sql(
    params: Params,
    rules: SessionRules,
    *,
    columns: Sequence[str] = ("event", "distinct_id"),
    computed: Mapping[str, str] | None = None,
    where: str | None = None,
) -> str:
    """One row per event of the range with its ``session_key`` (String).

    ``columns`` are ``events`` columns passed through (names of ``EVENT_COLUMNS`` or
    ``COMPUTED_EVENT_COLUMNS``);
    ``computed`` maps our own aliases to SQL expressions over the event's columns (their
    values already in ``params``); ``where`` narrows the events *before* the cut (use it
    only to select whole persons, e.g. one person's events, or the sessions change). The
    rows also carry ``event_id``, ``person_id``, ``session_id`` and ``timestamp``.
    """
    assert {"project_id", "start", "end"} <= params.values.keys()
    names = list(dict.fromkeys([*_WINDOW_COLUMNS, *columns]))
    for name in names:
        assert name in EVENT_COLUMNS or name in COMPUTED_EVENT_COLUMNS, name
    extra = {_check_alias(alias): expression for alias, expression in (computed or {}).items()}
    passed = ", ".join([*names, *extra])
    scanned = ", ".join([*names, *(f"{expression} AS {alias}" for alias, expression in extra.items())])
    timeout_ms = params.add(rules.timeout_minutes * 60_000, "Int64")
    split = params.add(1 if rules.split_at_midnight else 0, "UInt8")
    tz = params.add(rules.time_zone, "String")
    condition = f"{SCOPE} AND ({where})" if where else SCOPE
    # Rule 1 needs no window: events with a client session id are keyed as they are read;
    # only the chains (no client id) go through the windows, so their sorts hold those alone.
    client = (
        f"SELECT {scanned}, concat('c:', session_id) AS session_key FROM events WHERE {condition} AND session_id != ''"
    )
    marked = (
        f"SELECT {scanned}, toUnixTimestamp64Milli(timestamp) AS ms,"
        f" row_number() OVER w = 1"
        f" OR ms - lagInFrame(ms, 1) OVER w > {timeout_ms}"
        f" OR ({split} = 1 AND toDate(timestamp, {tz}) != lagInFrame(toDate(timestamp, {tz}), 1) OVER w)"
        f" AS is_start FROM events WHERE {condition} AND session_id = '' {_WINDOW}"
    )
    started = f"SELECT {passed}, maxIf(ms, is_start) OVER w AS start_ms FROM ({marked}) {_WINDOW}"
    key = "concat('p:', toString(person_id), ':', toString(start_ms))"
    return f"{client} UNION ALL SELECT {passed}, {key} AS session_key FROM ({started})"


_ENTRY_COLUMNS = ("person_id", "distinct_id", "referrer", "country", "browser", "os", "device_type")
ENTRY_ATTRIBUTES = (*_ENTRY_COLUMNS, *UTM_KEYS)


def sessions_sql(
    params: Params,
    rules: SessionRules,
    *,
    where: str | None = None,
    counts: Mapping[str, str] | None = None,
    attributes: Sequence[str] | None = None,
) -> str:
    """One row per session of the range (the columns of the module docstring).

    ``counts`` adds per-session counts: ``alias -> boolean expression over an event``
    (its values already in ``params``). ``attributes`` keeps only the named entry
    attributes of :data:`ENTRY_ATTRIBUTES` (``person_id`` always; default: all), which
    spares reading the other columns. ``where`` is as for :func:`session_events_sql`.
    The rows also carry ``start_ms`` and ``end_ms`` (epoch milliseconds).
    """
    wanted = set(ENTRY_ATTRIBUTES if attributes is None else attributes) | {"person_id"}
    assert wanted <= set(ENTRY_ATTRIBUTES), wanted
    utm_keys = [name for name in UTM_KEYS if name in wanted]
    entry_columns = [name for name in _ENTRY_COLUMNS if name in wanted]
    counted = {f"count_{_check_alias(alias)}": expression for alias, expression in (counts or {}).items()}
    # The UTM keys as filters read them (compiler/filters.py: the property, else the URL's
    # parameter), per event before the cut: cheaper than carrying ``properties`` through it.
    utm_values = {f"utm_value_{name}": f"ifNull({property_views(name, params).text}, '')" for name in utm_keys}
    scanned = ["event", "url", *entry_columns]
    events = session_events_sql(params, rules, columns=scanned, computed={**counted, **utm_values}, where=where)
    pageview = params.add(PAGEVIEW, "String")
    bounce = params.add(BOUNCE_SECONDS, "UInt32")
    order = "(timestamp, event_id)"
    aggregates = [
        "any(session_id) AS s_session_id",
        *(f"argMin({name}, {order}) AS s_{name}" for name in entry_columns),
        "toUnixTimestamp64Milli(min(timestamp)) AS s_start_ms",
        "toUnixTimestamp64Milli(max(timestamp)) AS s_end_ms",
        "count() AS s_event_count",
        f"countIf(event = {pageview}) AS s_pageviews",
        f"argMinIf(url, {order}, url != '') AS s_entry_url",
        f"argMaxIf(url, {order}, url != '') AS s_exit_url",
        *(f"countIf({name}) AS s_{name}" for name in counted),
    ]
    aggregates += [f"argMin(utm_value_{name}, {order}) AS s_{name}" for name in utm_keys]
    duration = "(s_end_ms - s_start_ms) / 1000"
    outer = [
        "session_key",
        "s_session_id AS session_id",
        *(f"s_{name} AS {name}" for name in [*entry_columns, *utm_keys]),
        "fromUnixTimestamp64Milli(s_start_ms, 'UTC') AS session_start",
        "fromUnixTimestamp64Milli(s_end_ms, 'UTC') AS session_end",
        "s_start_ms AS start_ms",
        "s_end_ms AS end_ms",
        f"{duration} AS duration_seconds",
        "s_event_count AS event_count",
        "s_pageviews AS pageviews",
        f"s_pageviews = 1 AND {duration} < {bounce} AS is_bounce",
        "s_entry_url AS entry_url",
        "s_exit_url AS exit_url",
        *(f"s_count_{alias} AS {alias}" for alias in (counts or {})),
    ]
    grouped = f"SELECT session_key, {', '.join(aggregates)} FROM ({events}) GROUP BY session_key"
    return f"SELECT {', '.join(outer)} FROM ({grouped})"


def session_page_query(
    *,
    project_id: int,
    rules: SessionRules,
    start: datetime,
    end: datetime,
    distinct_id: str | None,
    limit: int,
    before: tuple[int, str] | None,
) -> Query:
    """The keys of one page of sessions, newest first (``start_ms``, then ``session_key``, descending).

    Step one of a page: it cuts the sessions reading only what the cut needs; step two
    (:func:`session_details_query`) reads the rest for the page's sessions alone.
    ``distinct_id`` keeps the sessions of the persons whose events in the range carry it;
    ``before`` (start in epoch milliseconds, key) is the keyset cursor: rows after it.
    """
    params = Params(project_id=project_id, start=start, end=end)
    where = None
    if distinct_id is not None:
        where = (
            f"person_id IN (SELECT person_id FROM events WHERE {SCOPE}"
            f" AND distinct_id = {params.add(distinct_id, 'String')})"
        )
    sql = f"SELECT session_key, person_id, session_id, start_ms FROM ({sessions_sql(params, rules, where=where, attributes=())})"
    if before is not None:
        sql += f" WHERE (start_ms, session_key) < ({params.add(before[0], 'Int64')}, {params.add(before[1], 'String')})"
    sql += f" ORDER BY start_ms DESC, session_key DESC LIMIT {params.add(limit, 'UInt32')}"
    return Query(name="sessions.page", sql=sql, params=params.values, settings=_settings())


def session_details_query(
    *,
    project_id: int,
    rules: SessionRules,
    start: datetime,
    end: datetime,
    session_keys: Sequence[str],
    person_ids: Sequence[str],
    session_ids: Sequence[str],
) -> Query:
    """Every column of the sessions ``session_keys``, cut from the events of their persons and
    client session ids only (whole chains, so each session comes out as in the full cut)."""
    params = Params(project_id=project_id, start=start, end=end)
    where = (
        f"person_id IN {params.add(list(person_ids), 'Array(UUID)')}"
        f" OR session_id IN {params.add([sid for sid in session_ids if sid], 'Array(String)')}"
    )
    sql = (
        f"SELECT * FROM ({sessions_sql(params, rules, where=where)})"
        f" WHERE session_key IN {params.add(list(session_keys), 'Array(String)')}"
        " ORDER BY start_ms DESC, session_key DESC"
    )
    return Query(name="sessions.details", sql=sql, params=params.values, settings=_settings())


def _settings() -> dict[str, int]:
    return {"max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}
