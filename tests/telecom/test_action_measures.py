"""``action_measures`` (migration 0009) holds exactly what ``JSONExtract`` of the properties
gives at read time, for every shape of properties a network action can be stored with
(validated provider messages, or the native endpoint's free properties under an action
type), and NULLs for other events."""

from __future__ import annotations

import orjson

from analytics.warehouse.guard import Query
from tests.warehouse.helpers import event_row, new_project_id

MEASURES = "Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), bytes_down Nullable(Int64))"

PROPERTIES = [
    {"started_at": "x", "duration_sec": 127, "bytes_up": 0, "bytes_down": 0, "meta": {"cell": "A1"}},
    {"started_at": "x", "duration_sec": 12.25, "bytes_up": 100, "bytes_down": 2000},
    {"started_at": "x", "meta": {"duration_sec": 999, "bytes_up": 5, "bytes_down": 7}},
    {"meta": {"nested": {"duration_sec": 3}}, "duration_sec": 0.5},
    {"duration_sec": "42", "bytes_up": "7", "bytes_down": "x"},
    {"duration_sec": None, "bytes_up": True, "bytes_down": 1.5},
    {"duration_sec": [1, 2], "bytes_up": {"a": 1}, "bytes_down": 2**62},
    {"d\u00fcration_sec": 1, "duration_sec\u00e9": 2, "bytes_up ": 3},
    {},
]


def test_stored_measures_equal_the_read_time_extraction(store) -> None:
    project_id = new_project_id()
    rows = [
        event_row(project_id, event=kind, properties=orjson.dumps(properties).decode())
        for kind in ("CALL_OUT", "DATA", "SMS_SENT", "pageview")
        for properties in PROPERTIES
    ]
    # Text the native endpoint could store as sent: spaces and escaped key names.
    raw = ['{ "duration_sec" : 5 , "bytes_up":1}', '{"\\u0064uration_sec": 6, "bytes_\\u0075p": 2}', "not json"]
    rows += [event_row(project_id, event="DATA", properties=text) for text in raw]
    assert store.insert_events(rows, dedup_token=f"measures-{project_id}") == len(rows)

    sql = (
        "SELECT event, properties, toString(action_measures) AS stored, "
        f"toString(if(event IN ('CALL_OUT', 'DATA', 'SMS_SENT'), JSONExtract(properties, '{MEASURES}'), "
        f"CAST((NULL, NULL, NULL), '{MEASURES}'))) AS extracted, "
        "tupleElement(action_measures, 'duration_sec') AS duration_sec "
        "FROM events WHERE project_id = {project_id:UInt64}"
    )
    stored = store.query(Query(name="test.measures", sql=sql, params={"project_id": project_id})).dicts()
    assert len(stored) == len(rows)
    for row in stored:
        assert row["stored"] == row["extracted"], row
    durations = {(row["event"], row["properties"]): row["duration_sec"] for row in stored}
    # A few spelled out: top level only, the same keys escaped, nothing for other events.
    assert durations[("DATA", orjson.dumps(PROPERTIES[1]).decode())] == 12.25
    assert durations[("CALL_OUT", orjson.dumps(PROPERTIES[2]).decode())] is None
    assert durations[("SMS_SENT", orjson.dumps(PROPERTIES[3]).decode())] == 0.5
    assert durations[("pageview", orjson.dumps(PROPERTIES[0]).decode())] is None
    assert durations[("DATA", raw[0])] == 5
    assert durations[("DATA", raw[1])] == 6
