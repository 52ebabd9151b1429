"""Scheduled snapshots: due channels get one, `keep` prunes, failures are isolated; each
channel's store (local or a bucket) holds its snapshots."""

from __future__ import annotations

from pathlib import Path

from stockyard.catalog import Catalog, now_ms, sqlite_url
from stockyard.cli.main import main
from stockyard.config import load_settings
from stockyard.index.workspace import ChannelWorkspace
from stockyard.server.channels import bootstrap, create_channel, layout_for, open_catalog
from stockyard.snapshots import ScheduledRun, snapshot_store, take_due_snapshots
from stockyard.storage import Store
from stockyard.types.policy import ChannelPolicy, SnapshotSchedule

DAY_MS = 86_400_000


def test_due_channels_are_snapshotted_and_pruned(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})
    bootstrap(settings)
    data = ["--data", settings.data_dir]
    assert main(["snapshot", "schedule", "main", "--every", "1d", "--keep", "2", *data]) == 0
    assert '"every_seconds":86400' in capsys.readouterr().out.replace(" ", "")
    assert main(["snapshot", "schedule", "main", "--every", "5s", *data]) == 1  # below a minute
    layout = layout_for(settings)
    catalog = open_catalog(settings)
    try:
        create_channel(settings, catalog, "unscheduled")
        workspace_of = lambda channel: layout.workspace(channel.name)  # noqa: E731
        first = take_due_snapshots(catalog, workspace_of)
        assert list(first.taken) == ["main"]
        newest = catalog.snapshots(catalog.require_channel("main").id)[0].created_at
        assert take_due_snapshots(catalog, workspace_of, now=newest + DAY_MS - 1).taken == {}
        for day in (1, 2, 3):
            run = take_due_snapshots(catalog, workspace_of, now=newest + day * DAY_MS)
            assert list(run.taken) == ["main"]
        kept = catalog.snapshots(catalog.require_channel("main").id)
        assert len(kept) == 2 and run.pruned["main"]
        folder = settings.data_path / "channels" / "main" / "snapshots"
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
            row.id for row in kept
        )
        assert catalog.snapshots(catalog.require_channel("unscheduled").id) == []
    finally:
        catalog.close()
    assert main(["snapshot", "schedule", "main", "--off", *data]) == 0


def test_scheduled_snapshots_use_each_channels_store(store: Store, tmp_path: Path) -> None:
    """`store_of` (the server's `DataLayout.store`): a bucket's channel is snapshotted in the
    bucket; a channel with nothing published fails alone, the others are still taken."""
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    try:
        schedule = ChannelPolicy(snapshots=SnapshotSchedule(every_seconds=3600, keep=1))
        for name in ("main", "empty"):
            catalog.set_channel_policy(catalog.create_channel(name).id, schedule)
        store.child("main").put("noarch/repodata.json", b'{"packages": {"a-1-0.tar.bz2": {}}}')
        store.child("main").put("noarch/a-1-0.tar.bz2", b"artifact")

        def run(now: int) -> ScheduledRun:
            return take_due_snapshots(
                catalog,
                lambda channel: ChannelWorkspace(tmp_path / "work" / channel.name),
                store_of=lambda channel: store.child(channel.name),
                now=now,
            )

        first = run(now_ms())
        assert list(first.taken) == ["main"] and list(first.failed) == ["empty"]
        view = snapshot_store(store.child("main"), first.taken["main"])
        assert view.get("noarch/a-1-0.tar.bz2") == b"artifact"
        second = run(now_ms() + 3_600_000)
        assert second.pruned["main"] == [first.taken["main"]]
        assert store.child("main").list_dirs("snapshots") == [second.taken["main"]]
    finally:
        catalog.close()
