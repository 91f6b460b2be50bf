"""Key formats. Write keys are public; personal API keys are secrets kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets

WRITE_KEY_PREFIX = "wk_"
PERSONAL_KEY_PREFIX = "pak_"


def new_write_key() -> str:
    """A public project write key (``wk_`` + 192 random bits); it can only send events."""
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(24)


def new_personal_key() -> str:
    """A secret personal API key (``pak_`` + 256 random bits); only its hash is stored."""
    return PERSONAL_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw_key: str) -> str:
    """The stored form of a key (SHA-256 hex)."""
    # Keys carry 192-256 random bits, so a fast hash is enough (there is no dictionary to attack).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def display_prefix(raw_key: str) -> str:
    """The first characters of a key, kept so people can tell their keys apart."""
    return raw_key[: len(PERSONAL_KEY_PREFIX) + 6]


WRITE_KEY_CACHE_PREFIX = "project-by-write-key:"
# A counter in the shared cache bumped by every write-key change (rotation, project settings);
# the shared entries above are keyed by it and processes drop their local entries when it moves.
WRITE_KEY_GENERATION_CACHE_KEY = "write-key-generation"
# How often a process re-reads the counter at most; a rotation returns only after this long, so
# by then every process has seen it (analytics/ingestion/selectors.py).
WRITE_KEY_GENERATION_CHECK_SECONDS = 0.25
