"""An ASGI server (uvicorn, in a thread of the test process) for the browser tests.

Django's ``live_server`` speaks WSGI only; the pages need WebSockets. The server shares
this process's chDB store and in-memory channel layer, so what a test stores is what the
page shows, and the live messages travel the same path as in embedded mode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from django.db import connections

from analytics.devtools.ports import free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

# Collects every violation the browser reports (it also blocks the offending resource).
COLLECT_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""

# How many pixels of a chart's canvas are drawn (not transparent): a blank canvas has none.
DRAWN_PIXELS = """
(selector) => {
  const canvas = document.querySelector(selector + " canvas");
  if (!canvas) return 0;
  const context = canvas.getContext("2d");
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) drawn++; }
  return drawn;
}
"""


@contextmanager
def asgi_server() -> Iterator[str]:
    """Serve config.asgi.application on a free port; yields its base URL."""
    from config.asgi import application  # noqa: PLC0415 - Django must be set up first

    loops: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not loops:
            loops.append(asyncio.get_running_loop())
        await application(scope, receive, send)

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-asgi-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test ASGI server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if loops:
            # The views' database connection lives in the server's sync thread; close it there,
            # or the test database cannot be dropped at the end of the run.
            closing = asyncio.run_coroutine_threadsafe(sync_to_async(connections.close_all)(), loops[0])
            closing.result(timeout=10)
        server.should_exit = True
        thread.join(timeout=10)


def log_in(page: Any, base_url: str, email: str, password: str = "correct-horse-battery-staple") -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
