"""The tenant guard refuses unscoped SQL before it reaches ClickHouse; identifiers are strict."""

from __future__ import annotations

import pytest

from analytics.warehouse.errors import InvalidIdentifier, UnscopedQueryError
from analytics.warehouse.guard import Query, check_scoped, quote_identifier, validate_identifier
from analytics.warehouse.store import EventStore
from tests.warehouse.helpers import new_project_id

SCOPED = "SELECT count() FROM events WHERE project_id = {project_id:UInt64}"


def test_an_unscoped_query_is_refused_by_the_store(store: EventStore) -> None:
    with pytest.raises(UnscopedQueryError):
        store.query(Query(name="bad", sql="SELECT count() FROM events", params={"project_id": 1}))


def test_a_scoped_query_without_the_project_parameter_is_refused(store: EventStore) -> None:
    with pytest.raises(UnscopedQueryError, match="without a project_id"):
        store.query(Query(name="bad", sql=SCOPED, params={}))


def test_a_scoped_query_runs(store: EventStore) -> None:
    assert store.query(Query(name="ok", sql=SCOPED, params={"project_id": new_project_id()})).scalar() == 0


@pytest.mark.parametrize(
    "sql",
    [
        # two tenant-table references, one predicate
        "SELECT count() FROM events e JOIN persons p ON e.person_id = p.person_id "
        "WHERE e.project_id = {project_id:UInt64}",
        "SELECT count() FROM events WHERE project_id = {project_id:UInt64} AND distinct_id IN "
        "(SELECT distinct_id FROM person_distinct_ids)",
        "SELECT count() FROM events, persons WHERE events.project_id = {project_id:UInt64}",
        "SELECT count() FROM default.`events_local` WHERE 1",
        'SELECT count() FROM "events" WHERE 1',
        "ALTER TABLE events DELETE WHERE 1",
        # the predicate is only in a comment or a string
        "SELECT count() FROM events -- WHERE project_id = {project_id:UInt64}",
        "SELECT count() FROM events /* project_id = {project_id:UInt64} */",
        "SELECT 'project_id = {project_id:UInt64}' FROM events",
    ],
)
def test_unscoped_shapes_are_refused(sql: str) -> None:
    with pytest.raises(UnscopedQueryError):
        check_scoped(Query(name="bad", sql=sql, params={"project_id": 1}))


def test_every_reference_with_its_own_predicate_passes() -> None:
    check_scoped(
        Query(
            name="ok",
            sql="SELECT count() FROM events e JOIN persons p ON e.person_id = p.person_id "
            "WHERE e.project_id = {project_id:UInt64} AND p.project_id = {project_id:UInt64}",
            params={"project_id": 1},
        )
    )


def test_a_non_integer_project_id_is_refused() -> None:
    with pytest.raises(UnscopedQueryError, match="non-integer"):
        check_scoped(Query(name="bad", sql=SCOPED, params={"project_id": "1 OR 1=1"}))


def test_queries_on_other_tables_need_no_project() -> None:
    check_scoped(Query(name="ok", sql="SELECT count() FROM events_raw_import"))
    check_scoped(Query(name="ok", sql="SELECT name FROM system.tables WHERE name = 'events'"))


@pytest.mark.parametrize(
    "name",
    ["a`; DROP TABLE events; --", "x') OR 1=1 --", "prop name", "", "1abc", "a" * 201, "name\x00", "ŝ", None],
)
def test_an_identifier_with_sql_in_it_is_refused(name: object) -> None:
    with pytest.raises(InvalidIdentifier):
        validate_identifier(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["plan", "$browser", "utm_source", "order.total", "a-b", "_x9"])
def test_property_style_identifiers_are_accepted_and_quoted(name: str) -> None:
    assert quote_identifier(name) == f"`{name}`"


def test_a_segment_set_is_read_only_by_its_own_project() -> None:
    own = "SELECT count() FROM events WHERE project_id = {project_id:UInt64} AND person_id IN segment_set_7_3_2"
    check_scoped(Query(name="ok", sql=own, params={"project_id": 7}))
    with pytest.raises(UnscopedQueryError, match="another project's segment set"):
        check_scoped(Query(name="bad", sql=own, params={"project_id": 8}))
    # A set read with no tenant table still needs the project parameter.
    with pytest.raises(UnscopedQueryError, match="without a project_id"):
        check_scoped(Query(name="bad", sql="EXISTS TABLE segment_set_7_3_2"))
    check_scoped(Query(name="ok", sql="EXISTS TABLE segment_set_7_3_2", params={"project_id": 7}))
