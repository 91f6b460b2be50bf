"""Salted SHA-256 of ids and property values: the only form in which privacy records keep them."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def salted_sha256(salt: str, text: str) -> str:
    """``sha256(salt + text)`` as hex; the same salt and text always give the same digest."""
    return hashlib.sha256((salt + text).encode("utf-8", "surrogatepass")).hexdigest()


def value_text(value: Any) -> str:
    """The text a property value is hashed as: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def id_hash(salt: str, distinct_id: str) -> str:
    """A distinct id's hash under a salt (a project's for suppression, a request's for deletion).

    Prefixed so an id's hash never equals the hash of a property value with the same text.
    """
    return salted_sha256(salt, "distinct_id\x1f" + distinct_id)
