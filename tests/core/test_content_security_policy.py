"""Content-Security-Policy: the header is strict, and every page of ours works under it in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import UserFactory

# Collects every violation the browser reports (it also blocks the offending resource).
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.mark.django_db
def test_pages_carry_a_strict_policy_with_a_fresh_nonce() -> None:
    client = Client()
    first = client.get("/login/")
    second = client.get("/login/")
    policy = first["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    nonce = directives["style-src"].split("'nonce-")[1].rstrip("'")
    assert f'nonce="{nonce}"'.encode() in first.content
    assert second["Content-Security-Policy"] != policy  # a new nonce for every response


def _violations(page: Any) -> list[str]:
    return page.evaluate("window.__cspViolations")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_login_admin_and_api_docs_work_under_the_policy(live_server: Any, browser_page: Any) -> None:
    UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    browser_page.add_init_script(COLLECT_VIOLATIONS)

    browser_page.goto(f"{live_server.url}/login/")
    assert browser_page.eval_on_selector(".login-form", "form => getComputedStyle(form).display") == "grid"
    assert _violations(browser_page) == []

    browser_page.goto(f"{live_server.url}/api/docs/")
    browser_page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Analytics API" in browser_page.inner_text(".swagger-ui .info .title")
    assert _violations(browser_page) == []

    browser_page.goto(f"{live_server.url}/admin/login/")
    browser_page.fill("#id_username", "root@example.com")
    browser_page.fill("#id_password", "correct-horse-battery-staple")
    browser_page.click("input[type=submit]")
    browser_page.wait_for_url(f"{live_server.url}/admin/")
    assert _violations(browser_page) == []
    browser_page.goto(f"{live_server.url}/admin/accounts/project/add/")
    browser_page.wait_for_selector("#project_form")
    assert _violations(browser_page) == []
