"""The WebSocket origin check: the page that opens a socket must be this site, port included.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host name with
``ALLOWED_HOSTS``, so a page served by any other port of an allowed host (another local
service, a dev server) could open a socket with the user's cookies. :class:`SameOriginValidator`
also requires the Origin's host and port to be those the client connected to (the ``Host``
header): an explicit port must be equal; a ``Host`` without a port means the Origin's
scheme's default port (80 for http, 443 for https). A socket without an Origin, with a
scheme other than http(s), or whose host is not allowed is refused (close code 403 in the
handshake, as Channels does).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin1")
    return None


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """Whether ``origin`` (an Origin header) is the site the ``Host`` header names, port included."""
    if not origin or not host_header:
        return False
    try:
        parsed = urlsplit(origin)
        origin_port = parsed.port
    except ValueError:
        return False
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.hostname:
        return False
    origin_port = origin_port or _DEFAULT_PORTS[parsed.scheme]
    host, port = split_domain_port(host_header)
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    expected_port = int(port) if port else _DEFAULT_PORTS[parsed.scheme]
    origin_host = parsed.hostname.lower()
    if ":" in origin_host:  # IPv6: the Host header keeps the brackets
        origin_host = f"[{origin_host}]"
    return origin_host == host and origin_port == expected_port


class SameOriginValidator:
    """ASGI middleware for WebSockets: refuses a handshake whose Origin is not this site."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not same_origin(_header(scope, b"origin"), _header(scope, b"host")):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
