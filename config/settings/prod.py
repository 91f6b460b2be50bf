"""Production profile: safe defaults that a deployment must not forget."""

from __future__ import annotations

from config import variables as env

from .base import TRUSTED_PROXY_COUNT

DEBUG = False
# ALLOWED_HOSTS (base.py) has no default in prod: config/variables.py requires it.
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS.get()

# Off only for a plain-HTTP trial deployment (docker/compose.yaml without TLS in front).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.SECURE_COOKIES.get()
SECURE_SSL_REDIRECT = env.SECURE_SSL_REDIRECT.get()
SECURE_HSTS_SECONDS = env.SECURE_HSTS_SECONDS.get()
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# X-Forwarded-Proto is believed only behind trusted proxies; a direct client could forge it.
if TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and /readyz are probed over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
