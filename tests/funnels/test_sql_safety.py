"""Every compiled funnel and paths query is tenant-scoped, and user text only travels as parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.funnels.compiler import (
    compile_actor_ids,
    compile_actors,
    compile_histogram,
    compile_paths,
    compile_steps,
    compile_trend,
)
from analytics.funnels.serializers import FunnelQuerySerializer, PathsQuerySerializer
from analytics.warehouse.guard import check_scoped

EVIL = "x') OR 1=1 --{project_id:UInt64}`"
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def _validated(serializer_class, body):
    serializer = serializer_class(data=body, context={"time_zone": "Europe/Berlin", "now": NOW})
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data["query"]


@pytest.fixture
def funnel():
    return _validated(
        FunnelQuerySerializer,
        {
            "steps": [
                {"event": EVIL, "properties": [{"key": EVIL, "operator": "eq", "value": EVIL}]},
                {"event": [EVIL, "b"]},
                {"event": "c"},
            ],
            "exclusions": [{"event": EVIL, "from_step": 0, "to_step": 2}],
            "breakdown": {"key": EVIL, "attribution": "step", "step": 1},
            "filters": [{"key": EVIL, "operator": "regex", "value": "^a"}],
            "window_seconds": 3600,
            "from": "-7d",
        },
    )


def test_funnel_queries_are_scoped_and_carry_no_user_text(funnel):
    queries = [
        compile_steps(project_id=7, query=funnel),
        compile_actors(
            project_id=7, query=funnel, step=1, status="converted", breakdown_value=EVIL, after=None, limit=10
        ),
        compile_actor_ids(project_id=7, query=funnel, step=2, status="dropped", breakdown_value=None, limit=10),
        compile_histogram(project_id=7, query=funnel, from_step=0, to_step=2, bins=4),
        compile_trend(project_id=7, query=funnel, interval="week", to_step=2),
    ]
    for query in queries:
        check_scoped(query)
        assert "x')" not in query.sql
        assert EVIL in str(query.params.values())
        assert query.params["project_id"] == 7


def test_paths_queries_are_scoped_and_carry_no_user_text():
    query = _validated(
        PathsQuerySerializer,
        {"end": {"event": EVIL, "properties": [{"key": EVIL, "operator": "eq", "value": 1}]}, "path_type": "url"},
    )

    compiled = compile_paths(project_id=7, query=query)

    check_scoped(compiled)
    assert "x')" not in compiled.sql
    assert EVIL in str(compiled.params.values())
