"""Scheduled snapshots: due channels get one, `keep` prunes, failures are isolated."""

from __future__ import annotations

from pathlib import Path

from stockyard.cli.main import main
from stockyard.config import load_settings
from stockyard.server.channels import bootstrap, create_channel, layout_for, open_catalog
from stockyard.snapshots import take_due_snapshots

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
