"""The catalog's jobs part on SQLite and PostgreSQL: queueing (and joining a queued twin),
attempts, final states, listing, recovery claims, clean-up, and the upgrade to schema 9."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, NewJob, sqlite_url
from stockyard.catalog.schema import SCHEMA_VERSION
from stockyard.types.errors import NotFound


def _new(key: str | None = "k1", kind: str = "reindex", **extra: object) -> NewJob:
    return NewJob(
        kind=kind,
        arguments='{"channel":"main"}',
        max_attempts=3,
        runner="inprocess",
        pending_key=key,
        **extra,  # type: ignore[arg-type]
    )


def test_queued_twin_is_joined_until_it_starts(catalog: Catalog) -> None:
    first, created = catalog.add_job(_new())
    assert created and first.state == "queued" and first.attempts == 0
    twin, created = catalog.add_job(_new())
    assert not created and twin.id == first.id
    catalog.start_job(first.id, "host:1")
    # Running: the same work asked again is a new job (it may need to see a later change).
    second, created = catalog.add_job(_new())
    assert created and second.id != first.id
    unkeyed, created = catalog.add_job(_new(key=None))
    again, created_again = catalog.add_job(_new(key=None))
    assert created and created_again and unkeyed.id != again.id


def test_attempts_move_through_the_states(catalog: Catalog) -> None:
    job, _ = catalog.add_job(_new())
    running = catalog.start_job(job.id, "host:7")
    assert running is not None
    assert (running.state, running.attempts, running.worker) == ("running", 1, "host:7")
    assert running.started_at is not None and running.finished_at is None
    retrying = catalog.finish_attempt(job.id, "retrying", error="LockTimeout: busy", retry_at=5)
    assert (retrying.state, retrying.error, retrying.retry_at) == (
        "retrying",
        "LockTimeout: busy",
        5,
    )
    assert retrying.finished_at is None
    again = catalog.start_job(job.id, "host:8")
    assert again is not None and again.attempts == 2 and again.retry_at is None
    done = catalog.finish_attempt(job.id, "succeeded", result='{"ok":true}')
    assert done.finished and done.result == '{"ok":true}' and done.error is None
    assert done.finished_at is not None
    # A late duplicate delivery finds it finished: nothing to start.
    assert catalog.start_job(job.id, "host:9") is None
    assert catalog.job(job.id).attempts == 2


def test_a_running_job_can_be_started_again(catalog: Catalog) -> None:
    """A message delivered again after its worker died finds the job running."""
    job, _ = catalog.add_job(_new())
    catalog.start_job(job.id, "host:1")
    again = catalog.start_job(job.id, "host:2")
    assert again is not None and again.attempts == 2 and again.worker == "host:2"


def test_long_errors_are_cut(catalog: Catalog) -> None:
    job, _ = catalog.add_job(_new())
    failed = catalog.finish_attempt(job.id, "failed", error="x" * 10_000)
    assert failed.error is not None and len(failed.error) == 4000


def test_listing_filters_pages_and_counts(catalog: Catalog) -> None:
    ids = [
        catalog.add_job(_new(key=f"k{i}", kind="gc" if i % 2 else "scan"))[0].id for i in range(5)
    ]
    catalog.finish_attempt(ids[0], "failed", error="boom")
    total, page = catalog.list_jobs(limit=2)
    assert total == 5 and [j.id for j in page] == ids[::-1][:2]
    total, page = catalog.list_jobs(limit=2, offset=4)
    assert total == 5 and [j.id for j in page] == [ids[0]]
    total, page = catalog.list_jobs(kind="gc")
    assert total == 2 and {j.kind for j in page} == {"gc"}
    total, page = catalog.list_jobs(state="failed")
    assert total == 1 and page[0].error == "boom"
    counts = catalog.job_counts()
    assert counts["queued"] == 4 and counts["failed"] == 1 and counts["running"] == 0


def test_unknown_job(catalog: Catalog) -> None:
    assert catalog.find_job(12345) is None
    with pytest.raises(NotFound):
        catalog.job(12345)
    with pytest.raises(NotFound):
        catalog.requeue_job(12345, runner="celery")


def test_requeue_starts_over(catalog: Catalog) -> None:
    job, _ = catalog.add_job(_new())
    catalog.start_job(job.id, "host:1")
    catalog.finish_attempt(job.id, "failed", error="boom")
    again = catalog.requeue_job(job.id, runner="celery", worker=None)
    assert (again.state, again.attempts, again.error, again.finished_at) == (
        "queued",
        0,
        None,
        None,
    )
    assert again.runner == "celery"


def test_claims_and_unfinished(catalog: Catalog) -> None:
    queued, _ = catalog.add_job(_new(key="a", worker="host:1"))
    done, _ = catalog.add_job(_new(key="b", worker="host:1"))
    catalog.finish_attempt(done.id, "succeeded", result="{}")
    assert [j.id for j in catalog.unfinished_jobs("inprocess")] == [queued.id]
    assert catalog.unfinished_jobs("celery") == []
    assert catalog.claim_job(queued.id, "host:1", "host:2")
    assert not catalog.claim_job(queued.id, "host:1", "host:3")  # taken already
    assert catalog.job(queued.id).worker == "host:2"
    assert not catalog.claim_job(done.id, "host:1", "host:2")  # finished jobs stay


def test_old_finished_jobs_are_deleted(catalog: Catalog) -> None:
    old, _ = catalog.add_job(_new(key="a"))
    catalog.finish_attempt(old.id, "succeeded", result="{}")
    waiting, _ = catalog.add_job(_new(key="b"))
    finished_at = catalog.job(old.id).finished_at
    assert finished_at is not None
    assert catalog.delete_finished_jobs(finished_at) == 0  # strictly before
    assert catalog.delete_finished_jobs(finished_at + 1) == 1
    assert catalog.find_job(old.id) is None and catalog.find_job(waiting.id) is not None


def test_schema_8_catalog_gets_the_jobs_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Catalog.open(sqlite_url(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE jobs")
    conn.execute("UPDATE catalog_info SET value='8' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    catalog = Catalog.open(sqlite_url(path))
    try:
        job, created = catalog.add_job(_new())
        assert created and catalog.job(job.id).kind == "reindex"
    finally:
        catalog.close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM catalog_info WHERE key='schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION >= 9
