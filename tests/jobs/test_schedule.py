"""What the server queues with a broker instead of doing itself: which snapshot schedules are
due, and who the scheduled work is handed to (the embedded default keeps it in the server)."""

from __future__ import annotations

import msgspec

from stockyard.catalog import Catalog
from stockyard.config import Settings
from stockyard.jobs import InProcessRunner
from stockyard.jobs.celery_app import CeleryRunner
from stockyard.jobs.functions import snapshots
from stockyard.server.job_schedule import scheduled_submit, snapshots_due
from stockyard.types.policy import SnapshotSchedule


def test_due_snapshot_schedules(settings: Settings, catalog: Catalog) -> None:
    assert snapshots_due(catalog) == []  # no schedule
    main = catalog.require_channel("main")
    policy = catalog.channel_policy(main.id)
    schedule = SnapshotSchedule(every_seconds=3600)
    catalog.set_channel_policy(main.id, msgspec.structs.replace(policy, snapshots=schedule))
    assert snapshots_due(catalog) == ["main"]  # never taken
    snapshots(settings)
    taken = catalog.snapshots(main.id)[0].created_at
    assert snapshots_due(catalog) == []
    assert snapshots_due(catalog, now=taken + 3_600_000) == ["main"]


def test_scheduled_work_stays_in_the_server_without_a_broker(
    settings: Settings, catalog: Catalog, runner: InProcessRunner
) -> None:
    assert scheduled_submit(runner) is None
    with_broker = msgspec.structs.replace(settings, broker_url="redis://127.0.0.1:1/0")
    celery = CeleryRunner(with_broker, catalog)
    try:
        assert scheduled_submit(celery) is not None
    finally:
        celery.close()
