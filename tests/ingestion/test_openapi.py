"""The ingestion endpoints in /api/schema/: operations, bodies, answers, auth, examples."""

from __future__ import annotations

import base64
import copy
from typing import Any

import jsonschema
import pytest
from django.test import Client
from django.urls import reverse

from analytics.ingestion.asgi import _handlers
from analytics.ingestion.segment import SEGMENT_TYPES
from tests.ingestion.conftest import stored

SEGMENT_PATHS = ["/v1/batch", *[f"/v1/{kind}" for kind in SEGMENT_TYPES]]
NATIVE = "/api/v1/events"
NETWORK = "/api/v1/network-actions"  # documented in analytics/ingestion/api/network_openapi.py


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """Generated once for the module; generating it needs no database."""
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def resolved(schema: dict[str, Any], node: Any) -> Any:
    """``node`` with every ``$ref`` inlined (the schemas are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/components/schemas/")
            return resolved(schema, schema["components"]["schemas"][name])
        return {key: resolved(schema, value) for key, value in node.items() if key != "discriminator"}
    if isinstance(node, list):
        return [resolved(schema, item) for item in node]
    return node


def request_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    body = schema["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]
    return body["content"]["application/json"]


def examples(schema: dict[str, Any], path: str) -> list[Any]:
    documented = request_schema(schema, path)["examples"]
    assert documented, path
    return [copy.deepcopy(example["value"]) for example in documented.values()]


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_every_ingestion_route_is_documented_and_only_those(schema):
    routed = {
        reverse("ingest-events"),
        reverse("ingest-network-actions"),
        reverse("segment-batch"),
        *[reverse(f"segment-{k}") for k in SEGMENT_TYPES],
    }
    assert routed == {NATIVE, NETWORK, *SEGMENT_PATHS} == set(_handlers())  # the ASGI fast path serves the same routes
    for path in routed:
        assert list(schema["paths"][path]) == ["post"], path
        assert schema["paths"][path]["post"]["tags"] == ["ingestion"]
    # The write-key schemes are marked on these operations only.
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {name for requirement in operation.get("security", []) for name in requirement}
            if path not in routed:
                assert not names & {"writeKey", "segmentBasic"}, (path, method)
    # The other operations keep their ids (the fixed SCHEMA_PATH_PREFIX).
    assert schema["paths"]["/api/v1/projects"]["get"]["operationId"] == "v1_projects_list"
    assert schema["paths"]["/api/v1/projects"]["get"]["tags"] == ["v1"]


def test_security_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["writeKey"] == {**schemes["writeKey"], "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["segmentBasic"] == {**schemes["segmentBasic"], "type": "http", "scheme": "basic"}
    assert schema["paths"][NATIVE]["post"]["security"] == [{"writeKey": []}]
    for path in SEGMENT_PATHS:
        assert schema["paths"][path]["post"]["security"] == [{"segmentBasic": []}, {"writeKey": []}], path


def test_native_request_body_has_every_field(schema):
    body = resolved(schema, request_schema(schema, NATIVE)["schema"])
    single, batch, array = body["oneOf"]
    event = array["items"]
    fields = {"event", "distinct_id", "user_id", "timestamp", "event_id", "source_id", "properties"}
    assert fields <= set(event["properties"])
    assert event["required"] == ["event"]
    assert fields | {"sent_at", "api_key"} <= set(single["properties"])
    assert {"batch", "sent_at", "api_key"} <= set(batch["properties"])
    assert batch["properties"]["batch"]["items"] == event
    assert (batch["properties"]["batch"]["minItems"], batch["properties"]["batch"]["maxItems"]) == (1, 1000)
    known_properties = set(event["properties"]["properties"]["properties"])
    assert {"$set", "$set_once", "$anon_distinct_id", "$session_id"} <= known_properties


def test_segment_request_bodies(schema):
    expected = {
        "track": {"event"},
        "identify": set(),
        "page": set(),
        "screen": set(),
        "group": {"groupId"},
        "alias": {"userId", "previousId"},
    }
    for kind, required in expected.items():
        body = resolved(schema, request_schema(schema, f"/v1/{kind}")["schema"])
        assert {"userId", "anonymousId", "messageId", "timestamp", "context", "writeKey"} <= set(body["properties"])
        assert set(body.get("required", [])) == required, kind
    batch = request_schema(schema, "/v1/batch")["schema"]
    messages = schema["components"]["schemas"][batch["$ref"].rsplit("/", 1)[1]]["properties"]["batch"]["items"]
    message = schema["components"]["schemas"][messages["$ref"].rsplit("/", 1)[1]]
    assert message["discriminator"]["propertyName"] == "type"
    assert set(message["discriminator"]["mapping"]) == set(SEGMENT_TYPES)


def test_responses_errors_and_headers(schema):
    for path in [NATIVE, *SEGMENT_PATHS]:
        operation = schema["paths"][path]["post"]
        success, too_large = ("202", {"413"}) if path == NATIVE else ("200", set())  # Segment answers 400
        assert set(operation["responses"]) == {success, "400", "401", "415", "429", "503"} | too_large, path
        accepted = resolved(schema, operation["responses"][success]["content"]["application/json"]["schema"])
        assert {"accepted", "rejected"} <= set(accepted["properties"])
        assert set(accepted["properties"]["rejected"]["items"]["properties"]) == {"index", "error"}
        for status in {"400", "401", "415", "429", "503"} | too_large:
            answer = operation["responses"][status]
            error = resolved(schema, answer["content"]["application/json"]["schema"])["properties"]["error"]
            assert {"code", "message"} <= set(error["properties"])
            assert set(error["required"]) == {"code", "message"}
            assert ("Retry-After" in answer.get("headers", {})) == (status in ("429", "503")), (path, status)
        encoding = next(p for p in operation["parameters"] if p["name"] == "Content-Encoding")
        assert encoding["in"] == "header"
        assert "gzip" in encoding["schema"]["enum"]


def test_documented_examples_match_their_schemas(schema):
    for path in [NATIVE, *SEGMENT_PATHS]:
        body = resolved(schema, request_schema(schema, path)["schema"])
        for example in examples(schema, path):
            jsonschema.validate(example, body)
        for answer in schema["paths"][path]["post"]["responses"].values():
            content = answer["content"]["application/json"]
            for example in content.get("examples", {}).values():
                jsonschema.validate(example["value"], resolved(schema, content["schema"]))


def count(body: Any) -> int:
    return len(body) if isinstance(body, list) else len(body.get("batch", [body]))


@pytest.mark.parametrize("gzip_body", [False, True])
def test_native_examples_are_accepted(schema, project, post, store, gzip_body):
    documented = examples(schema, NATIVE)
    for body in documented:
        response = post(body, key=project.write_key, gzip_body=gzip_body)
        assert response.status_code == 202, (body, response.content)
        assert response.json() == {"accepted": count(body), "rejected": []}
    rows = stored(store, project.id)
    assert len(rows) == sum(count(body) for body in documented)
    # timestamp + sent_at: skew-corrected to 5 s before receipt, so the example never ages out.
    signed_up = next(row for row in rows if row["event"] == "signed_up")
    assert signed_up["received_ms"] - signed_up["ts_ms"] == 5000


def test_segment_examples_are_accepted(schema, project, post, store):
    for path in SEGMENT_PATHS:
        for body in examples(schema, path):
            response = post(body, path=path, headers=basic(project.write_key))
            assert response.status_code == 200, (path, response.content)
            assert response.json() == {"success": True, "accepted": count(body), "rejected": []}
    assert len(stored(store, project.id)) == len(SEGMENT_TYPES) + 2
