"""The session and web SQL: user text only as parameters, every events read scoped, keys agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import (
    SessionRules,
    session_details_query,
    session_events_sql,
    session_page_query,
    sessions_sql,
)
from analytics.query.compiler.web import (
    SESSION_DIMENSIONS,
    page_breakdown_query,
    session_breakdowns_query,
    summary_query,
    timeseries_query,
)
from analytics.query.sessions import list_sessions
from analytics.query.web import parse_filters, web_breakdown
from analytics.warehouse.guard import Query, check_scoped
from tests.query.sessions_reference import generate_web
from tests.warehouse.helpers import new_project_id

EVIL = "x') OR 1=1 --{project_id:UInt64}`"
START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=2)
RULES = SessionRules(time_zone="Europe/Berlin")


def _queries(filters: Any) -> list[Query]:
    common = {"project_id": 7, "start": START, "end": END}
    queries = [
        session_page_query(**common, rules=RULES, distinct_id=EVIL, limit=10, before=(1, f"p:{EVIL}")),
        session_details_query(
            **common,
            rules=RULES,
            session_keys=[EVIL],
            person_ids=["00000000-0000-4000-8000-000000000001"],
            session_ids=[EVIL],
        ),
        summary_query(**common, rules=RULES, filters=filters),
        timeseries_query(**common, rules=RULES, interval="hour", filters=filters),
    ]
    queries += [
        page_breakdown_query(**common, filters=filters, limit=5),
        session_breakdowns_query(**common, rules=RULES, dimensions=list(SESSION_DIMENSIONS), filters=filters, limit=5),
    ]
    return queries


def test_user_text_reaches_sql_only_as_parameters_and_every_read_is_scoped():
    filters = parse_filters([{"key": EVIL, "operator": "eq", "value": EVIL}])

    for query in _queries(filters):
        check_scoped(query)  # raises when an events read lacks project_id = {project_id:UInt64}
        assert EVIL not in query.sql, query.name
        assert "x')" not in query.sql, query.name
        assert query.sql.count("FROM events") == query.sql.count("project_id = {project_id:UInt64}"), query.name


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[Any, Any]:
    project_id = new_project_id()
    rows = generate_web(project_id, start=START, persons=6, events_per_person=40, seed=5)
    clickhouse_store.insert_events(rows, dedup_token=f"sessions-safety-{project_id}")
    project = SimpleNamespace(
        id=project_id, timezone="Europe/Berlin", session_timeout_minutes=30, session_split_at_midnight=True
    )
    return project, clickhouse_store


def test_injection_attempts_are_data(loaded):
    project, _ = loaded

    page = list_sessions(project=project, date_from=START, date_to=END, distinct_id=EVIL)
    rows = web_breakdown(
        project=project,
        date_from=START,
        date_to=END,
        dimension="page",
        filters=[{"key": EVIL, "operator": "neq", "value": EVIL}],  # matches every pageview
    )

    assert page == {"results": [], "next_cursor": None}
    assert sum(row["pageviews"] for row in rows) > 0


def test_the_per_event_key_and_the_per_session_rows_agree(loaded):
    """session_events_sql (for other compilers) gives the keys sessions_sql groups by."""
    project, store = loaded
    params = Params(project_id=project.id, start=START, end=END)
    events = session_events_sql(params, RULES, columns=("event",))
    sessions = sessions_sql(params, RULES, attributes=())
    sql = (
        f"SELECT (SELECT groupArraySorted(100000)(session_key) FROM ({events})) AS from_events,"
        f" (SELECT groupArraySorted(100000)(session_key) FROM ({sessions})) AS from_sessions,"
        f" (SELECT count() FROM ({events})) AS events, (SELECT sum(event_count) FROM ({sessions})) AS counted"
    )

    (row,) = store.query(Query(name="test.sessions.agree", sql=sql, params=params.values)).dicts()

    assert sorted(set(row["from_events"])) == list(row["from_sessions"])
    assert int(row["events"]) == int(row["counted"]) == 240
