"""The job functions themselves, on a real deployment: each does its work, and running it again
does no harm (idempotency). Also what is retried, the backoff, and the kinds the API names."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from sqlalchemy import update

from stockyard.catalog import Catalog, NewJob
from stockyard.catalog.schema import jobs as jobs_table
from stockyard.config import Settings
from stockyard.index.commit import STAGING, TRASH, PublishPending
from stockyard.jobs import KINDS, RetryPolicy, TransientJobError
from stockyard.jobs.functions import mirror_sync, reindex, scan, snapshots
from stockyard.jobs.garbage import collect_garbage
from stockyard.jobs.retry import describe, is_transient
from stockyard.server.channels import layout_for, publish_channel
from stockyard.snapshots import create_snapshot
from stockyard.types.errors import LockTimeout, NotFound
from stockyard.types.policy import SnapshotSchedule
from tests.jobs.conftest import deployment_settings
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root
from tests.server.artifacts import make_artifact

SRC = Path(__file__).resolve().parents[2] / "src" / "stockyard"


def _schedule(catalog: Catalog, channel: str, schedule: SnapshotSchedule) -> None:
    found = catalog.require_channel(channel)
    policy = catalog.channel_policy(found.id)
    catalog.set_channel_policy(found.id, msgspec.structs.replace(policy, snapshots=schedule))


def test_snapshots_are_taken_when_due_once(settings: Settings, catalog: Catalog) -> None:
    _schedule(catalog, "main", SnapshotSchedule(every_seconds=3600, keep=2))
    first = snapshots(settings)
    assert list(first["taken"]) == ["main"]
    assert snapshots(settings) == {"taken": {}, "pruned": {}}  # not due again for an hour
    assert [row.id for row in catalog.snapshots(catalog.require_channel("main").id)] == [
        first["taken"]["main"]
    ]


def test_scan_reads_each_artifact_once(settings: Settings) -> None:
    make_artifact(layout_for(settings).channel_dir("main") / "noarch", "scanned", "1.0")
    publish_channel(settings, "main")
    first = scan(settings, channel="main")
    assert (first["artifacts"], first["scanned"], first["unreadable"]) == (1, 1, 0)
    second = scan(settings, channel="main")
    assert (second["scanned"], second["already_scanned"]) == (0, 1)
    assert scan(settings, channel="main", force=True)["scanned"] == 1
    assert (settings.data_path / "scan.db").is_file()


def test_reindex_twice_is_harmless(settings: Settings) -> None:
    make_artifact(layout_for(settings).channel_dir("main") / "noarch", "twice", "1.0")
    assert reindex(settings, channel="main")["artifacts"] == 1
    published = layout_for(settings).channel_dir("main") / "noarch" / "repodata.json"
    before = (published.read_bytes(), published.stat().st_mtime_ns)
    assert reindex(settings, channel="main")["artifacts"] == 1
    assert (published.read_bytes(), published.stat().st_mtime_ns) == before  # nothing written
    with pytest.raises(NotFound):
        reindex(settings, channel="gone")


def test_gc_removes_leftovers_and_nothing_else(settings: Settings, catalog: Catalog) -> None:
    layout = layout_for(settings)
    store = layout.store("main")
    make_artifact(layout.channel_dir("main") / "noarch", "kept", "1.0")
    publish_channel(settings, "main")
    store.put(f"{STAGING}/noarch/orphan-1.0-0.conda.0a1b", b"staged by a dead upload")
    store.put(f"{TRASH}/noarch/old-1.0-0.conda.2c3d", b"removed and committed")
    spool = layout.state_dir("main") / "uploads"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / ".upload.deadbeef.1234.part").write_bytes(b"half an upload")  # owner is gone
    (layout.root / ".deleted-ghost-0011").mkdir()
    main = catalog.require_channel("main")
    _schedule(catalog, "main", SnapshotSchedule(every_seconds=60, keep=1))
    for _ in range(2):
        create_snapshot(catalog, main, layout.workspace("main"), store=store)
    old, _ = catalog.add_job(NewJob("gc", "{}", 1, "inprocess"))
    catalog.finish_attempt(old.id, "succeeded", result="{}")
    with catalog.engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == old.id).values(finished_at=1))
    recent, _ = catalog.add_job(NewJob("gc", "{}", 1, "inprocess", pending_key="k"))

    counts = collect_garbage(settings)
    assert counts["staged_files"] == 1 and counts["trash_files"] == 1
    assert counts["spool_files"] == 1 and counts["deleted_folders"] == 1
    assert counts["snapshots_pruned"] == 1 and counts["jobs_deleted"] == 1
    assert store.stat("noarch/kept-1.0-0.conda") is not None  # live files stay
    assert len(catalog.snapshots(main.id)) == 1
    assert catalog.find_job(old.id) is None and catalog.find_job(recent.id) is not None
    assert not os.listdir(spool) or all(n.startswith(".owner.") for n in os.listdir(spool))
    again = collect_garbage(settings)
    assert set(again.values()) == {0}


def test_gc_waits_for_the_channel_lock(settings: Settings) -> None:
    with layout_for(settings).workspace("main").lock(10), pytest.raises(LockTimeout):
        collect_garbage(settings)


def test_mirror_sync_runs_the_scheduled_mirror(tmp_path: Path) -> None:
    root = static_upstream_root(tmp_path, shards=False)
    with static_server(root) as origin:
        mirrors = [{"channel": "mirrored", "upstream": origin.url, "subdirs": ["noarch"]}]
        settings = deployment_settings(tmp_path, mirrors=mirrors)
        first = mirror_sync(settings, channel="mirrored")
        assert first["channel"] == "mirrored" and first["added"] > 0
        second = mirror_sync(settings, channel="mirrored")
        assert second["added"] == 0 and second["unchanged"] == first["added"]
    with pytest.raises(NotFound, match="no scheduled mirror"):
        mirror_sync(settings, channel="main")


def test_what_is_transient() -> None:
    import httpx
    from sqlalchemy.exc import OperationalError

    transient = [
        TransientJobError("upstream down"),
        LockTimeout("busy"),
        PublishPending("stored, not published"),
        ConnectionRefusedError(),
        TimeoutError(),
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        httpx.ConnectError("refused"),
    ]
    permanent = [NotFound("no channel"), ValueError("a bug"), KeyError("x")]
    assert [is_transient(exc) for exc in transient] == [True] * len(transient)
    assert [is_transient(exc) for exc in permanent] == [False] * len(permanent)
    assert describe(NotFound("no channel", hint="create it")) == (
        "NotFound: no channel (hint: create it)"
    )


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(base_delay=10, max_delay=60)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_the_api_takes_every_kind_with_its_arguments_and_defaults() -> None:
    """The API's request models (its OpenAPI schema) name every job kind, and describe the
    same arguments as the kinds' Structs (which check them again when a job is queued)."""
    import msgspec

    from stockyard.server.jobs_api import JobCreateIn

    union, _ = get_args(JobCreateIn)
    models = {get_args(m.model_fields["kind"].annotation)[0]: m for m in get_args(union)}
    assert set(models) == set(KINDS)
    for name, kind in KINDS.items():
        arguments = models[name].model_fields["arguments"].annotation
        assert set(arguments.model_fields) == set(kind.arguments.__struct_fields__), name
        required = {n for n, f in arguments.model_fields.items() if f.is_required()}
        struct_required = set(
            kind.arguments.__struct_fields__[
                : len(kind.arguments.__struct_fields__) - len(kind.arguments.__struct_defaults__)
            ]
        )
        assert required == struct_required, name
        if not required:  # both fill in the same defaults
            assert arguments.model_validate({}).model_dump() == msgspec.to_builtins(
                msgspec.convert({}, kind.arguments)
            ), name


def test_jobs_use_the_server_only_for_its_data_layout() -> None:
    """`stockyard.jobs` may use the server's modules without HTTP, never the web app."""
    allowed = {"stockyard.server.channels", "stockyard.server.mirror_schedule"}
    allowed.add("stockyard.server.spool")
    used = set()
    for path in (SRC / "jobs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "stockyard.server"
            ):
                used.add(node.module)
    assert used and used <= allowed
