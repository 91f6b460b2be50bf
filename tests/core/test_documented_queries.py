"""The query strings README.md and docs/ show are ones the API accepts."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from rest_framework.test import APIClient

from analytics.aggregation.granularity import GRANULARITY_CHOICES
from analytics.ingestion.queries.events import INTERVALS
from tests.factories import member_with_project

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ACCEPTED = {
    "granularity": {value for value, _ in GRANULARITY_CHOICES},
    "period": {"day", "month"},
    "interval": set(INTERVALS),
}


def documented_values() -> list[tuple[str, str, str]]:
    """(document, parameter, value) for every ``parameter=value`` or ``parameter=a|b|c`` shown."""
    found = []
    for document in DOCUMENTS:
        for parameter, values in re.findall(
            r"[?&](granularity|period|interval)=([A-Za-z0-9_|]+)", document.read_text()
        ):
            found.extend((document.name, parameter, value) for value in values.split("|"))
    return found


def test_every_documented_value_is_one_the_api_accepts() -> None:
    values = documented_values()
    assert ("README.md", "granularity", "1h") in values
    wrong = [(name, parameter, value) for name, parameter, value in values if value not in ACCEPTED[parameter]]
    assert wrong == []


@pytest.mark.django_db
def test_the_readme_aggregate_examples_answer_200(store: object) -> None:
    user, project = member_with_project()
    client = APIClient()
    client.force_authenticate(user)
    examples = re.findall(r'"\$B(/api/v1/projects/2/aggregates[^"]*)"', (ROOT / "README.md").read_text())
    assert examples
    for example in examples:
        parts = urlsplit(example.replace("/projects/2/", f"/projects/{project.id}/"))
        response = client.get(parts.path, dict(parse_qsl(parts.query)))
        assert response.status_code == 200, (example, response.content)
