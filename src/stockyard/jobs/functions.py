"""The job functions: plain functions of the Settings and JSON-able arguments, returning a
JSON-able result. Each is idempotent: running it again after a success (or after an attempt
that died half-way) does no harm and leaves the same state, because each ends in a path that
already is: the channel commit (`stockyard.index`), the mirror's verified downloads and one
commit, snapshots taken only when due, scan results keyed by sha256.

Each opens what it needs from the settings, so the same function runs in a server's thread pool,
in a Celery worker on another machine, or in `stockyard job run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any, Final

from stockyard.catalog import Catalog
from stockyard.config import Settings
from stockyard.jobs.errors import JobError, TransientJobError
from stockyard.types.errors import Conflict, NotFound

#: Mirror failures that another run may not repeat (the upstream was down or a download broke).
_TRANSIENT_MIRROR_ERRORS: Final = frozenset({"UpstreamError", "DownloadFailed", "LockTimeout"})
#: Unreadable artifacts listed in a scan job's result (the count is always complete).
MAX_LISTED_ERRORS: Final = 50


@contextmanager
def open_job_catalog(settings: Settings) -> Iterator[Catalog]:
    from stockyard.server.channels import open_catalog

    with closing(open_catalog(settings)) as catalog:
        yield catalog


def reindex(settings: Settings, *, channel: str) -> dict[str, Any]:
    """Index a served channel's files and publish what changed (`stockyard index` on the
    channel; repairs an interrupted publish; a run with nothing to do writes nothing)."""
    from stockyard.server.channels import is_proxy_channel, publish_channel

    with open_job_catalog(settings) as catalog:
        found = catalog.require_channel(channel)
        if is_proxy_channel(catalog, found):
            raise Conflict(
                f"channel {channel!r} is a proxy channel: its files come from its upstreams",
                hint="Re-index only channels that hold their own artifacts.",
            )
    publish_channel(settings, channel)
    with open_job_catalog(settings) as catalog:
        stats = catalog.channel_stats(catalog.require_channel(channel).id)
    return {
        "channel": channel,
        "subdirs": stats.subdirs,
        "packages": stats.package_count,
        "artifacts": stats.artifact_count,
    }


def scheduled_mirror(settings: Settings, channel: str) -> Any:
    """The `[[mirrors]]` entry of `channel` (NotFound when the settings have none)."""
    for spec in settings.mirrors:
        if spec.channel == channel:
            return spec
    raise NotFound(
        f"no scheduled mirror for channel {channel!r} in the settings",
        hint="Add a [[mirrors]] table for it to the settings file every replica and worker read.",
    )


def mirror_sync(settings: Settings, *, channel: str) -> dict[str, Any]:
    """One run of the channel's scheduled mirror (`[[mirrors]]`), exactly as `stockyard serve`
    runs it: everything downloaded and verified before one commit, resumed by the next run."""
    from stockyard.server.mirror_schedule import sync_once

    spec = scheduled_mirror(settings, channel)
    with open_job_catalog(settings) as catalog:
        status = sync_once(settings, catalog, spec)
    if status.get("state") == "failed":
        error = status.get("last_error") or {}
        kind = TransientJobError if error.get("error") in _TRANSIENT_MIRROR_ERRORS else JobError
        raise kind(
            f"mirror of {channel!r} failed: {error.get('error')}: {error.get('message')}",
            error.get("hint") or None,
        )
    result: dict[str, Any] = {"channel": channel, **(status.get("last_result") or {})}
    return result


def snapshots(settings: Settings) -> dict[str, Any]:
    """Take the snapshots the channel policies' schedules say are due, and prune each channel to
    its `keep` (what `stockyard serve` does every minute without a broker)."""
    from stockyard.server.channels import layout_for
    from stockyard.snapshots import take_due_snapshots

    layout = layout_for(settings)
    with open_job_catalog(settings) as catalog:
        run = take_due_snapshots(
            catalog,
            lambda channel: layout.workspace(channel.name),
            store_of=lambda channel: layout.store(channel.name),
            lock_timeout=settings.lock_timeout,
        )
    if run.failed:
        # The channels already done are not due any more: the next attempt does only the rest.
        failures = "; ".join(f"{name}: {why}" for name, why in sorted(run.failed.items()))
        raise TransientJobError(f"scheduled snapshots failed for {failures}")
    return {"taken": run.taken, "pruned": run.pruned}


def scan(settings: Settings, *, channel: str, force: bool = False) -> dict[str, Any]:
    """Scan the channel's artifacts not scanned yet (all with `force`) into the scan database
    of this machine's data directory (`stockyard scan run CHANNEL`)."""
    from stockyard.scan.service import scan_artifacts
    from stockyard.scan.sources import catalog_artifacts
    from stockyard.scan.store import ScanStore, default_scan_db
    from stockyard.server.channels import layout_for

    with open_job_catalog(settings) as catalog:
        refs = catalog_artifacts(catalog, channel, layout_for(settings).store(channel))
    store = ScanStore(default_scan_db(settings.data_path), create=True)
    try:
        summary = scan_artifacts(store, refs, workers=1, force=force).to_dict()
    finally:
        store.close()
    summary["unreadable"] = len(summary["errors"])
    summary["errors"] = summary["errors"][:MAX_LISTED_ERRORS]
    return {"channel": channel, **summary}
