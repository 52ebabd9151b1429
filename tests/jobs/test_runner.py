"""The in-process runner with the real job functions on a real deployment (SQLite and
PostgreSQL): success, retries of transient failures, permanent failures, joining queued
twins, retry by an operator, and running again what a dead process left."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stockyard.catalog import Catalog, NewJob
from stockyard.config import Settings
from stockyard.jobs import InProcessRunner, InvalidJob
from stockyard.jobs.runner import INPROCESS
from stockyard.server.channels import create_channel, layout_for
from stockyard.types.errors import Conflict, NotFound
from stockyard.types.policy import ProxyPolicy
from tests.server.artifacts import make_artifact


def _repodata(settings: Settings, channel: str = "main") -> dict:
    path = layout_for(settings).channel_dir(channel) / "noarch" / "repodata.json"
    return json.loads(path.read_bytes())


def test_reindex_publishes_files_put_in_by_hand(
    settings: Settings, runner: InProcessRunner
) -> None:
    make_artifact(layout_for(settings).channel_dir("main") / "noarch", "handmade", "1.0")
    submitted = runner.submit("reindex", {"channel": "main"})
    assert submitted.job.state == "queued" and not submitted.joined
    job = runner.wait(submitted.job.id, timeout=60)
    assert job.state == "succeeded", job.error
    assert job.attempts == 1 and job.runner == INPROCESS and job.worker
    assert json.loads(job.result or "")["artifacts"] == 1
    assert "handmade-1.0-0.conda" in _repodata(settings)["packages.conda"]


def test_transient_failure_is_retried_then_fails_then_retry_succeeds(
    settings: Settings, runner: InProcessRunner
) -> None:
    workspace = layout_for(settings).workspace("main")
    with workspace.lock(10):  # another writer holds the channel: LockTimeout, transient
        submitted = runner.submit("reindex", {"channel": "main"}, max_attempts=3)
        job = runner.wait(submitted.job.id, timeout=60)
    assert job.state == "failed" and job.attempts == 3
    assert job.error is not None and job.error.startswith("LockTimeout")
    assert job.finished_at is not None
    again = runner.wait(runner.retry(job.id).id, timeout=60)
    assert again.state == "succeeded" and again.attempts == 1 and again.error is None


def test_permanent_failure_is_not_retried(
    settings: Settings, catalog: Catalog, runner: InProcessRunner
) -> None:
    # Queued for a channel that is gone by the time it runs: NotFound is not worth retrying.
    job, _ = catalog.add_job(
        NewJob("reindex", '{"channel":"gone"}', max_attempts=4, runner=INPROCESS)
    )
    runner.dispatch(job)
    failed = runner.wait(job.id, timeout=60)
    assert failed.state == "failed" and failed.attempts == 1
    assert failed.error is not None and failed.error.startswith("NotFound")


def test_a_queued_twin_is_joined(settings: Settings, catalog: Catalog) -> None:
    create_channel(settings, catalog, "other")
    single = InProcessRunner(settings, catalog, threads=1)
    try:
        with layout_for(settings).workspace("main").lock(10):
            # Keeps the only thread waiting for the lock, so the next jobs stay queued.
            busy = single.submit("reindex", {"channel": "main"}, max_attempts=1)
            first = single.submit("reindex", {"channel": "other"})
            second = single.submit("reindex", {"channel": "other"})
            forced = single.submit("reindex", {"channel": "other"}, join=False)
        assert second.joined and second.job.id == first.job.id
        assert not forced.joined and forced.job.id != first.job.id
        for job_id in (first.job.id, forced.job.id):
            assert single.wait(job_id, timeout=60).state == "succeeded"
        single.wait(busy.job.id, timeout=60)
    finally:
        single.close()
    total = catalog.list_jobs(kind="reindex")[0]
    assert total == 3


@pytest.mark.parametrize(
    ("kind", "arguments", "error"),
    [
        ("nope", {}, InvalidJob),
        ("reindex", {}, InvalidJob),
        ("reindex", {"channel": 3}, InvalidJob),
        ("reindex", {"channel": "main", "colour": "red"}, InvalidJob),
        ("gc", {"keep_jobs_days": 0}, InvalidJob),
        ("reindex", {"channel": "missing"}, NotFound),
        ("scan", {"channel": "missing"}, NotFound),
        ("mirror_sync", {"channel": "main"}, NotFound),  # not a [[mirrors]] channel
    ],
)
def test_bad_jobs_are_refused_before_anything_is_queued(
    runner: InProcessRunner, catalog: Catalog, kind: str, arguments: dict, error: type
) -> None:
    with pytest.raises(error):
        runner.submit(kind, arguments)
    assert catalog.list_jobs()[0] == 0


def test_attempt_bounds_and_proxy_channels(
    settings: Settings, catalog: Catalog, runner: InProcessRunner
) -> None:
    with pytest.raises(InvalidJob, match="max_attempts"):
        runner.submit("gc", max_attempts=0)
    create_channel(settings, catalog, "proxied", proxy=ProxyPolicy(upstreams=("https://x/y",)))
    with pytest.raises(Conflict):
        runner.submit("reindex", {"channel": "proxied"})
    assert catalog.list_jobs()[0] == 0


def _spawned_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_jobs_of_a_dead_process_are_run_again(
    settings: Settings, catalog: Catalog, runner: InProcessRunner
) -> None:
    import socket

    host = socket.gethostname()
    dead = f"{host}:{_spawned_pid()}"
    orphan, _ = catalog.add_job(NewJob("gc", "{}", 3, INPROCESS, worker=dead))
    interrupted, _ = catalog.add_job(
        NewJob("reindex", '{"channel":"main"}', 3, INPROCESS, worker=dead)
    )
    catalog.start_job(interrupted.id, dead)  # it was running when its process died
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owned, _ = catalog.add_job(
            NewJob("gc", '{"keep_jobs_days":9}', 3, INPROCESS, worker=f"{host}:{alive.pid}")
        )
        taken = runner.recover()
        assert sorted(taken) == sorted([orphan.id, interrupted.id])
        assert runner.wait(orphan.id, timeout=60).state == "succeeded"
        rerun = runner.wait(interrupted.id, timeout=60)
        assert rerun.state == "succeeded" and rerun.attempts == 2
        assert catalog.job(owned.id).state == "queued"  # its process lives: not ours
    finally:
        alive.kill()
        alive.wait()


def test_a_job_past_its_attempts_after_a_lost_worker_fails(
    catalog: Catalog, runner: InProcessRunner
) -> None:
    job, _ = catalog.add_job(NewJob("gc", "{}", 1, INPROCESS))
    catalog.start_job(job.id, "elsewhere:1")  # its only attempt died with its process
    runner.dispatch(job)
    failed = runner.wait(job.id, timeout=60)
    assert failed.state == "failed" and "died" in (failed.error or "")


def test_closed_runner_takes_no_more_work(catalog: Catalog, runner: InProcessRunner) -> None:
    runner.close()
    job = runner.submit("gc").job
    assert catalog.job(job.id).state == "queued"  # recovered by the next server start
