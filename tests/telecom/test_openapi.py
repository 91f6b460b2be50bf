"""The telecom endpoints in /api/schema/: the network-actions POST and the read API."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

from tests.telecom.conftest import stored_actions


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_network_actions_post_is_documented_with_the_write_key_and_its_examples_are_accepted(
    schema, old_project, post, store
):
    operation = schema["paths"]["/api/v1/network-actions"]["post"]
    assert operation["tags"] == ["ingestion"]
    assert {"writeKey"} <= {name for requirement in operation["security"] for name in requirement}
    assert {"202", "400", "401", "413", "429", "503"} <= set(operation["responses"])
    examples = [
        copy.deepcopy(item["value"])
        for item in operation["requestBody"]["content"]["application/json"]["examples"].values()
    ]
    assert len(examples) == 2
    for body in examples:
        response = post(body, key=old_project.write_key, path="/api/v1/network-actions")
        assert response.status_code == 202, response.content
        assert response.json()["rejected"] == []
    assert len(stored_actions(store, old_project.id)) == 2  # the example twice is one action


def test_the_read_api_is_documented_with_the_read_key(schema):
    for path in ("/api/v1/users/{user_id}/detail", "/api/v1/aggregates"):
        operation = schema["paths"][path]["get"]
        assert operation["tags"] == ["telecom"]
        assert [requirement for requirement in operation["security"]] == [{"ReadKey": []}]
        assert "200" in operation["responses"]
    names = {parameter["name"] for parameter in schema["paths"]["/api/v1/aggregates"]["get"]["parameters"]}
    assert names == {"period", "from", "to"}
    assert "post" in schema["paths"]["/api/v1/projects/{project_id}/read-keys"]
    assert schema["components"]["securitySchemes"]["ReadKey"]["scheme"] == "bearer"
