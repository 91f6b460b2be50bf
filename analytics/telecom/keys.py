"""Read-key format: ``rk_`` + 256 random bits; only the SHA-256 is stored (accounts.keys.hash_key)."""

from __future__ import annotations

import secrets

READ_KEY_PREFIX = "rk_"


def new_read_key() -> str:
    return READ_KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(raw_key: str) -> str:
    return raw_key[: len(READ_KEY_PREFIX) + 6]
