"""The server's schedules when jobs run on Celery (`broker_url`): instead of doing the work in
the server, queue a job for `stockyard worker`. Without a broker nothing here runs and the
server keeps doing the work itself, as before (app.py, server/mirror_schedule.py).

With several replicas, each queues; a job queued by one while another's twin waits joins it,
and a job that runs after its twin finds nothing due (each job kind is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import anyio

from stockyard.catalog import Catalog, now_ms
from stockyard.jobs import JobRunner
from stockyard.jobs.runner import CELERY, INPROCESS

log = logging.getLogger("stockyard.server")

#: How often the server looks for channels whose snapshot schedule is due (as app.py does).
SNAPSHOT_CHECK_SECONDS: Final = 60


def scheduled_submit(runner: JobRunner) -> Callable[[str, dict[str, Any]], Any] | None:
    """How scheduled work is handed over: queued as a job with a broker, None (the server does
    it) without one."""
    if runner.name != CELERY:
        return None

    def submit(kind: str, arguments: dict[str, Any]) -> Any:
        return runner.submit(kind, arguments)

    return submit


def snapshots_due(catalog: Catalog, now: int | None = None) -> list[str]:
    """Channels whose snapshot schedule says a snapshot is due (the rule of
    `stockyard.snapshots.take_due_snapshots`)."""
    at = now if now is not None else now_ms()
    due = []
    for channel in catalog.list_channels():
        schedule = catalog.channel_policy(channel.id).snapshots
        if schedule is None:
            continue
        newest = catalog.snapshots(channel.id)[:1]
        if not newest or at - newest[0].created_at >= schedule.every_seconds * 1000:
            due.append(channel.name)
    return due


async def queue_due_snapshots(catalog: Catalog, runner: JobRunner) -> None:
    """Every minute: when any channel's snapshot is due, queue a `snapshots` job."""
    while True:
        await anyio.sleep(SNAPSHOT_CHECK_SECONDS)
        try:
            if await anyio.to_thread.run_sync(snapshots_due, catalog):
                await anyio.to_thread.run_sync(runner.submit, "snapshots")
        except Exception as exc:  # the loop must outlive any one failure (Redis down...)
            log.warning("queueing scheduled snapshots failed: %s", exc)


async def recover_jobs(runner: JobRunner) -> None:
    """At start, in-process: run again the jobs a stopped server process left unfinished."""
    if runner.name != INPROCESS:
        return
    try:
        taken = await anyio.to_thread.run_sync(runner.recover)
    except Exception as exc:  # never stops the server from starting
        log.warning("could not look for interrupted jobs: %s", exc)
        return
    if taken:
        log.info("running %d job(s) a stopped server left unfinished", len(taken))
