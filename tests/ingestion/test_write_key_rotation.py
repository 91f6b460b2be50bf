"""A rotated write key is refused at once by every process, and the hot path stays cheap.

"Another process" is the ingestion selectors' process-local cache, which the rotating code
never touches: it learns of the rotation only through the shared cache (Redis here).
"""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from analytics.accounts.keys import WRITE_KEY_GENERATION_CACHE_KEY
from analytics.accounts.services import project_rotate_write_key, project_update, write_keys_changed
from analytics.ingestion import selectors
from analytics.ingestion.selectors import aproject_for_key, forget_local, project_for_key
from tests.ingestion.conftest import event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_local_cache() -> None:
    selectors._projects.clear()
    selectors._generation[:] = [0, 0.0]


def test_the_old_key_is_refused_by_another_process_as_soon_as_the_rotation_returns(project, post) -> None:
    old_key = project.write_key
    # The other process has the old key cached, as it would after serving events with it.
    assert project_for_key(old_key).id == project.id
    assert async_to_sync(aproject_for_key)(old_key).id == project.id
    assert post(event("before"), key=old_key).status_code == 202

    project_rotate_write_key(project=project)

    assert project_for_key(old_key) is None
    assert async_to_sync(aproject_for_key)(old_key) is None
    assert post(event("after"), key=old_key).status_code == 401
    assert post(event("after"), key=project.write_key).status_code == 202


def test_a_settings_change_reaches_other_processes_within_the_check_interval(project) -> None:
    assert project_for_key(project.write_key).keep_full_ip is False
    project_update(project=project, user=project.organisation.memberships.get().user, keep_full_ip=True)
    time.sleep(selectors.WRITE_KEY_GENERATION_CHECK_SECONDS + 0.05)
    assert project_for_key(project.write_key).keep_full_ip is True


def test_the_hot_path_is_a_dict_lookup_with_a_cache_read_at_most_every_check_interval(project, monkeypatch) -> None:
    reads = []
    real = selectors.write_key_generation
    monkeypatch.setattr(selectors, "write_key_generation", lambda: reads.append(1) or real())
    forget_local(write_key=project.write_key)
    project_for_key(project.write_key)
    lookups = 20_000
    started = time.perf_counter()
    for _ in range(lookups):
        project_for_key(project.write_key)
    per_lookup = (time.perf_counter() - started) / lookups
    elapsed = time.perf_counter() - started
    assert len(reads) <= 2 + elapsed / selectors.WRITE_KEY_GENERATION_CHECK_SECONDS
    # A dict lookup and a clock read: microseconds, far below one Redis round trip.
    assert per_lookup < 20e-6, per_lookup


def test_a_lost_counter_does_not_come_back_with_a_value_a_process_has_seen(project) -> None:
    old_key = project.write_key
    write_keys_changed()
    assert project_for_key(old_key).id == project.id  # seen under the current generation
    cache.delete(WRITE_KEY_GENERATION_CACHE_KEY)  # evicted, or Redis restarted
    project_rotate_write_key(project=project)
    assert project_for_key(old_key) is None
