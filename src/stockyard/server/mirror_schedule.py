"""Scheduled mirrors: channels `stockyard serve` keeps in sync with an upstream
(`[[mirrors]]` in the settings file, `stockyard.config.ScheduledMirror`).

Each is synced at start (unless its last run is more recent than its period) and then every
`every`, by `stockyard.mirror.run.mirror_channel` into the served channel, in a worker thread:
exactly `stockyard mirror UPSTREAM --server-channel CHANNEL` with the same filters. A failed
run publishes nothing (the mirror downloads and verifies everything before its one commit), so
the channel stays as it was; the next run resumes. What each run did is kept in
`<channel>/.stockyard/mirror/schedule.json` and read by `GET /api/channels/{c}/mirror`, so
every worker process (and a restarted server) reports the same status.

With `--workers N`, each worker schedules; the mirror's own lock makes them take turns, and a
run that follows another within its period finds upstream unchanged (conditional requests).

With `broker_url` set, each run is queued as a `mirror_sync` job (stockyard.jobs) and a
`stockyard worker` runs `sync_once`; the status file is then written where the worker runs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from stockyard.catalog import Catalog
from stockyard.config import Settings
from stockyard.config.settings import ScheduledMirror
from stockyard.server.channels import create_channel, is_proxy_channel, layout_for
from stockyard.types.errors import Conflict, StockyardError

log = logging.getLogger("stockyard.server")
STATUS_FILE = "schedule.json"
#: Queues a job (kind, arguments): `stockyard.jobs.JobRunner.submit` with a broker.
Submit = Callable[[str, dict[str, Any]], Any]
_COUNTS = ("selected", "added", "changed", "removed", "unchanged", "bytes", "downloaded_bytes")


def status_path(settings: Settings, channel: str) -> Path:
    return layout_for(settings).state_dir(channel) / "mirror" / STATUS_FILE


def read_status(settings: Settings, spec: ScheduledMirror) -> dict[str, Any]:
    """The last recorded status (`state: never` before the first run)."""
    from stockyard.mirror.fetch import redact

    try:
        status = json.loads(status_path(settings, spec.channel).read_text())
    except (OSError, ValueError):
        status = {"state": "never", "runs": 0, "failures": 0}
    status.update(channel=spec.channel, upstream=redact(spec.upstream), every=spec.seconds)
    return status


def mirror_status(settings: Settings, channel: str) -> dict[str, Any] | None:
    """A mirrored channel's sync status (API, web UI): a scheduled mirror's (`read_status`),
    else what the last `stockyard mirror --server-channel` run that published into it recorded
    (`stockyard.mirror.last_run`; a failed run records nothing), else None."""
    for spec in settings.mirrors:
        if spec.channel == channel:
            return read_status(settings, spec) | {"scheduled": True}
    from stockyard.mirror import last_run

    record = last_run.load(layout_for(settings).state_dir(channel) / "mirror")
    if record is None:
        return None
    summary = record.summary
    changes = summary.get("changes") or {}
    return {
        "channel": channel,
        "scheduled": False,
        "state": "ok",
        "upstream": record.upstream,
        "last_finished": record.finished_at or None,
        "last_success": record.finished_at or None,
        "last_error": None,
        "last_result": {
            "selected": summary.get("selected", 0),
            "unchanged": summary.get("held", 0) - changes.get("added", 0),
            "refused": len(summary.get("refused") or []),
            "unsatisfied": len(summary.get("unsatisfied") or []),
            **{key: changes.get(key, 0) for key in ("added", "changed", "removed", "bytes")},
        },
    }


def _write_status(settings: Settings, channel: str, status: dict[str, Any]) -> None:
    path = status_path(settings, channel)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(status, sort_keys=True))
    os.replace(temp, path)


def _now_ms() -> int:
    return int(time.time() * 1000)


def sync_once(settings: Settings, catalog: Catalog, spec: ScheduledMirror) -> dict[str, Any]:
    """Blocking: one run of `spec`; its status, also written for the API. Never raises for
    the mirror's own failures (they are the status)."""
    status = read_status(settings, spec)
    status.update(state="running", last_started=_now_ms())
    _write_status(settings, spec.channel, status)
    try:
        result = _run(settings, catalog, spec)
    except Exception as exc:  # a bug too ends the run as failed, never "running" for ever
        error = exc if isinstance(exc, StockyardError) else _unexpected(exc)
        status.update(state="failed", last_error=error.to_dict())
        status["failures"] = status.get("failures", 0) + 1
        log.warning("scheduled mirror of %s failed: %s", spec.channel, error.message)
        if error is not exc:
            log.error("scheduled mirror of %s: unexpected error", spec.channel, exc_info=exc)
    else:
        status.update(state="ok", last_error=None, last_success=_now_ms())
        status["last_result"] = {key: result[key] for key in _COUNTS} | {
            "refused": len(result["refused"]),
            "unsatisfied": len(result["unsatisfied"]),
            "seconds": result["seconds"],
            "up_to_date": result.get("up_to_date", False),
        }
    status["runs"] = status.get("runs", 0) + 1
    status["last_finished"] = _now_ms()
    status["next_run"] = int(status["last_started"] + spec.seconds * 1000)
    _write_status(settings, spec.channel, status)
    return status


def _unexpected(exc: Exception) -> StockyardError:
    return StockyardError(
        f"the run stopped on an unexpected error: {type(exc).__name__}: {exc}",
        hint="The next run retries; if it keeps failing, see the server log and report it.",
    )


def _run(settings: Settings, catalog: Catalog, spec: ScheduledMirror) -> dict[str, Any]:
    from stockyard.mirror.run import MirrorOptions, mirror_channel
    from stockyard.mirror.target import MirrorTarget
    from stockyard.server.channels import channel_handle

    channel = catalog.get_channel(spec.channel)
    if channel is None:
        channel = create_channel(settings, catalog, spec.channel)
    elif is_proxy_channel(catalog, channel):
        raise Conflict(
            f"channel {spec.channel!r} is a proxy channel and cannot be a scheduled mirror",
            hint="Mirror into another channel, or remove it from [[mirrors]].",
        )
    options = MirrorOptions(
        filters=mirror_filters(spec),
        unpatched=spec.unpatched,
        jobs=spec.jobs,
        lock_timeout=settings.lock_timeout * 10,
    )
    handle = channel_handle(settings, catalog, spec.channel)
    target = MirrorTarget(catalog, handle, owns_catalog=False)
    return mirror_channel(spec.upstream, target, options).to_dict()


def mirror_filters(spec: ScheduledMirror) -> Any:
    """The `MirrorFilters` of a scheduled mirror (FilterError for a bad spec or license)."""
    from stockyard.mirror.filters import MirrorFilters
    from stockyard.mirror.license_policy import LicensePolicy

    return MirrorFilters(
        subdirs=spec.subdirs,
        include=spec.include,
        exclude=spec.exclude,
        with_dependencies=spec.with_dependencies,
        latest=spec.latest,
        newer_than=_date(spec.newer_than),
        older_than=_date(spec.older_than),
        licenses=LicensePolicy.build(spec.license_allow, spec.license_deny, spec.license_unknown),
    )


def _date(text: str | None) -> datetime | None:
    if text is None:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def check_schedules(settings: Settings) -> None:
    """Every scheduled mirror's filters parse (a bad MatchSpec or license id stops the start)."""
    for spec in settings.mirrors:
        try:
            mirror_filters(spec).compile()
        except (StockyardError, ValueError) as exc:
            message = exc.message if isinstance(exc, StockyardError) else str(exc)
            from stockyard.types.errors import ConfigError

            raise ConfigError(f"scheduled mirror of {spec.channel!r}: {message}") from None


async def run_scheduled_mirrors(
    settings: Settings, catalog: Catalog, submit: Submit | None = None
) -> None:
    """The app's background task: one loop per scheduled mirror. With `submit` (a broker is
    set), each run is queued as a `mirror_sync` job for `stockyard worker` instead of run here
    (server/job_schedule.py)."""
    if not settings.mirrors:
        return
    async with anyio.create_task_group() as group:
        for spec in settings.mirrors:
            group.start_soon(_loop, settings, catalog, spec, submit)


async def _loop(
    settings: Settings, catalog: Catalog, spec: ScheduledMirror, submit: Submit | None = None
) -> None:
    status = read_status(settings, spec)
    last = status.get("last_started") if status.get("state") in ("ok", "failed") else None
    delay = 0.0 if last is None else max(0.0, last / 1000 + spec.seconds - time.time())
    while True:
        await anyio.sleep(delay)
        try:
            if submit is None:
                await anyio.to_thread.run_sync(sync_once, settings, catalog, spec)
            else:
                await anyio.to_thread.run_sync(submit, "mirror_sync", {"channel": spec.channel})
        except Exception as exc:  # the loop must outlive any one failure
            log.warning("scheduled mirror of %s failed: %s", spec.channel, exc)
        delay = spec.seconds
