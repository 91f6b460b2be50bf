"""JSON log lines: request id (honoured or generated), user id, never secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from rest_framework.test import APIClient

from analytics.core.logging import get_logger
from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


class _capture:
    """Collect, parsed, every line the configured JSON formatter writes inside the block."""

    def __init__(self, sink: list[dict]) -> None:
        self.sink = sink
        self.stream = io.StringIO()

    def __enter__(self) -> None:
        root = logging.getLogger()
        formatter = next(
            handler.formatter
            for handler in root.handlers
            if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
        )
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.previous_level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.INFO)

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.previous_level)
        self.sink.extend(json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip())


def _requests(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["event"] == "http.request"]


def test_json_lines_have_request_id_user_id_and_status() -> None:
    user, _ = member_with_project()
    stream_lines: list[dict] = []
    with _capture(stream_lines):
        client = APIClient()
        client.force_authenticate(user=user)
        response = client.get("/api/v1/projects", HTTP_X_REQUEST_ID="trace-42")
        generated = APIClient().get("/api/v1/projects")
    lines = _requests(stream_lines)
    assert lines[0]["request_id"] == "trace-42" == response["X-Request-ID"]
    assert lines[0]["user_id"] == user.id
    assert lines[0]["status"] == 200
    assert lines[0]["path"] == "/api/v1/projects"
    assert lines[0]["level"] == "info"
    assert "timestamp" in lines[0]
    assert lines[1]["request_id"] == generated["X-Request-ID"]
    assert len(lines[1]["request_id"]) == 32
    assert "user_id" not in lines[1]


def test_lines_logged_inside_a_request_share_its_request_id() -> None:
    stream_lines: list[dict] = []
    with _capture(stream_lines):
        APIClient().post(
            "/api/v1/auth/token", {"email": "x@example.com", "password": "y"}, format="json", HTTP_X_REQUEST_ID="req-7"
        )
    assert stream_lines
    assert {line.get("request_id") for line in stream_lines} == {"req-7"}


def test_secrets_never_reach_the_log() -> None:
    UserFactory(email="sec@example.com")
    stream_lines: list[dict] = []
    with _capture(stream_lines):
        client = APIClient()
        tokens = client.post(
            "/api/v1/auth/token", {"email": "sec@example.com", "password": PASSWORD}, format="json"
        ).json()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        raw_key = client.post("/api/v1/api-keys", {"label": "x"}, format="json").json()["key"]
        APIClient().get(f"/api/v1/projects?api_key={raw_key}", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        log = get_logger("tests.secrets")
        log.info("auth.debug", password=PASSWORD, api_key=raw_key, write_key="wk_abc", note=f"key {raw_key}")
        logging.getLogger("tests.secrets").warning(
            "failed to reach redis://:s3cret-pass@cache:6379/0 with %s", tokens["refresh"]
        )
    text = "\n".join(json.dumps(line) for line in stream_lines)
    assert stream_lines
    for secret in (PASSWORD, raw_key, tokens["access"], tokens["refresh"], "s3cret-pass"):
        assert secret not in text
    debug = next(line for line in stream_lines if line["event"] == "auth.debug")
    assert debug["password"] == debug["api_key"] == debug["write_key"] == "[redacted]"
    assert "pak_[redacted]" in debug["note"]


def test_project_scoped_requests_log_the_project_id() -> None:
    user, project = member_with_project()
    stream_lines: list[dict] = []
    with _capture(stream_lines):
        client = APIClient()
        client.force_authenticate(user=user)
        client.get(f"/api/v1/projects/{project.id}", HTTP_X_REQUEST_ID="proj-1")
    line = _requests(stream_lines)[0]
    assert (line["request_id"], line["project_id"], line["user_id"]) == ("proj-1", project.id, user.id)
