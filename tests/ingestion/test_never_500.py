"""A spread of odd inputs: each gets a 2xx or a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import base64

import pytest

ODD_BODIES = [
    b"",
    b" ",
    b"null",
    b"true",
    b"0",
    b"[]",
    b"[null]",
    b"{}",
    b'{"batch": null}',
    b'{"batch": [null, 1, "x", []]}',
    b'{"batch": {}}',
    b'{"event": null, "distinct_id": null}',
    b'{"event": [], "distinct_id": {}}',
    b'{"event": "x", "distinct_id": "a", "timestamp": 1e300}',
    b'{"event": "x", "distinct_id": "a", "timestamp": -1}',
    b'{"event": "x", "distinct_id": "a", "timestamp": "9999-12-31T23:59:59Z"}',
    b'{"event": "x", "distinct_id": "a", "timestamp": "2026-11-24"}',
    b'{"event": "x", "distinct_id": "a", "timestamp": "2026-13-45T99:00:00Z"}',
    b'{"event": "x", "distinct_id": "a", "sent_at": "garbage", "timestamp": 1763900000000}',
    b'{"batch": [{"event": "x", "distinct_id": "a"}], "sent_at": 1e20}',
    b'{"batch": [{"event": "x", "distinct_id": "a", "timestamp": 1763900000000}], "sent_at": 0}',
    b'{"event": "x", "distinct_id": "a", "event_id": ""}',
    b'{"event": "x", "distinct_id": "a", "event_id": 123}',
    b'{"event": "x", "distinct_id": "a", "event_id": "' + b"f" * 500 + b'"}',
    b'{"event": "x", "distinct_id": "a", "properties": {"revenue": "NaN", "$current_url": 5, "$session_id": []}}',
    b'{"event": "x", "distinct_id": "a", "properties": {"revenue": 1e308, "$ip": "not-an-ip", "$user_agent": 7}}',
    b'{"event": "x", "distinct_id": "a", "properties": {"big": 123456789012345678901234567890}}',
    b'{"event": "x", "distinct_id": "a", "source_id": ["s"]}',
    b'{"event": "\\u202e\\u0007", "distinct_id": "a"}',
    b"\xff\xfe\x00garbage",
    b'{"event": "x", "distinct_id": "a"}{"event": "y"}',
    b"[" * 100_000,
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
def test_native_endpoint_never_answers_500(project, post, body):
    response = post(body, key=project.write_key)

    assert response.status_code < 500
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "path", ["/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch"]
)
@pytest.mark.parametrize(
    "body",
    [
        *ODD_BODIES[:20],
        b'{"userId": true, "event": "x"}',
        b'{"userId": "u", "event": "x", "context": "string", "traits": []}',
        b'{"anonymousId": "a", "event": "x", "messageId": {}, "sentAt": "nope"}',
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "context": {"library": 5, "page": []}}]}',
        b'{"userId": "u", "previousId": null}',
        b'{"userId": "u", "groupId": ""}',
    ],
)
def test_segment_endpoints_never_answer_500(project, post, path, body):
    auth = {"Authorization": "Basic " + base64.b64encode(f"{project.write_key}:".encode()).decode()}

    response = post(body, path=path, headers=auth)

    assert response.status_code < 500


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()},
        {"Authorization": "Bearer x"},
        {"Content-Encoding": "gzip, gzip"},
        {"X-Forwarded-For": "::::, 999.1.1.1, ,"},
    ],
)
def test_odd_headers_never_answer_500(project, post, headers):
    response = post({"userId": "u", "event": "x"}, path="/v1/track", headers=headers)

    assert response.status_code < 500
