"""A project's rules for rows before they are published, provided by an app above ingestion.

Ingestion may not import the apps above it, so the ``privacy`` app (suppressed ids,
properties to drop or hash) registers a :class:`PolicyProvider` from its
``AppConfig.ready``. Intake asks it once per request (:func:`apolicy_for`, in
``intake.request_context``) and :func:`analytics.ingestion.validation.collect` hands the
request's valid rows to the policy, if there is one, before they reach the bus.

The provider keeps its own process-local cache: ``cached`` answers from memory only
(never I/O, it runs on the event loop) or returns :data:`MISS`; ``load`` may read the
database and the shared cache (run in a thread). A project without rules has no policy
(``None``), so its requests pay one dict lookup and nothing per event.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from asgiref.sync import sync_to_async


class RowPolicy(Protocol):
    def apply(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows to publish: rows may be dropped, and their properties changed in place."""
        ...


class Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = Miss()


class PolicyProvider(Protocol):
    def cached(self, project_id: int) -> RowPolicy | Miss | None:
        """From memory only: the project's policy, None (no rules) or MISS (ask ``load``)."""
        ...

    def load(self, project_id: int) -> RowPolicy | None:
        """The project's policy, read where it is stored (sync; may touch the database)."""
        ...


_provider: PolicyProvider | None = None


def register_policy_provider(provider: PolicyProvider | None) -> None:
    """Install the process-wide provider (privacy's ``AppConfig.ready``; None removes it)."""
    global _provider  # one process-wide hook, set once at app start
    _provider = provider


def policy_for(project_id: int) -> RowPolicy | None:
    """The project's row policy (sync callers: commands, the demo loader)."""
    provider = _provider
    if provider is None:
        return None
    found = provider.cached(project_id)
    return provider.load(project_id) if isinstance(found, Miss) else found


async def apolicy_for(project_id: int) -> RowPolicy | None:
    """The same for async views: a cached answer never leaves the event loop."""
    provider = _provider
    if provider is None:
        return None
    found = provider.cached(project_id)
    if isinstance(found, Miss):
        return await sync_to_async(provider.load)(project_id)
    return found
