"""`mirror_channel`: read upstream -> select -> plan -> download and verify -> commit.

A run holds the mirror lock of its target (one mirror run at a time) from start to end, and
the channel lock only while committing, so uploads to a served target wait seconds, not for
the downloads. Everything before the commit writes only into the mirror's working area: a
failure or a kill there leaves the published channel as it was, and the next run resumes.

A run that would change nothing ends first: when upstream's documents and the target are as
the last run left them (`stockyard.mirror.last_run`), it reports that run's summary as
`up_to_date` without reading a record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stockyard.index.ingest import system_clock_ms
from stockyard.index.lock import channel_lock
from stockyard.mirror import last_run
from stockyard.mirror.download import Downloader, DownloadProgress, Failure, NoProgress
from stockyard.mirror.errors import DownloadFailed
from stockyard.mirror.fetch import Fetcher, redact, upstream_url
from stockyard.mirror.filters import CompiledFilters, select_records
from stockyard.mirror.options import MirrorOptions
from stockyard.mirror.plan import MirrorPlan, SubdirView, plan_subdir
from stockyard.mirror.publish import MirrorPublish
from stockyard.mirror.records import Candidate
from stockyard.mirror.result import MirrorResult
from stockyard.mirror.selection import Selection
from stockyard.mirror.state import MIRROR_LOCK, MirrorState
from stockyard.mirror.target import MirrorTarget
from stockyard.mirror.upstream import Discovery, Upstream, UpstreamSubdir
from stockyard.types.errors import ConfigError

__all__ = ["MirrorOptions", "mirror_channel", "upstream_url"]


def mirror_channel(
    upstream: str,
    target: MirrorTarget,
    options: MirrorOptions | None = None,
    progress: DownloadProgress | None = None,
) -> MirrorResult:
    """Mirror `upstream` into `target` by `options` (see the module docstring)."""
    started = time.perf_counter()
    options = options or MirrorOptions()
    compiled = options.filters.compile()  # a bad spec fails before any request
    url = upstream_url(upstream)
    _refuse_self_mirror(url, target)
    target.mirror_dir.mkdir(parents=True, exist_ok=True)
    with channel_lock(target.mirror_dir / MIRROR_LOCK, timeout=options.lock_timeout):
        state = MirrorState.load(target.mirror_dir, url)
        with Fetcher(options.fetch) as fetcher:
            run = _MirrorRun(target, options, state, fetcher, compiled, progress or NoProgress())
            result = run.run(url)
    result.seconds = time.perf_counter() - started
    return result


def _refuse_self_mirror(url: str, target: MirrorTarget) -> None:
    if urlsplit(url).scheme != "file":
        return
    if Path(urlsplit(url).path).resolve() == target.handle.workspace.directory.resolve():
        raise ConfigError(
            "the upstream and the target are the same directory",
            hint="Mirror into another folder.",
        )


def _candidates(subdirs: list[UpstreamSubdir]) -> Iterator[Candidate]:
    for item in subdirs:
        for filename, record in item.records.records.items():
            yield Candidate(item.subdir, filename, record)


@dataclass(slots=True)
class _MirrorRun:
    target: MirrorTarget
    options: MirrorOptions
    state: MirrorState
    fetcher: Fetcher
    compiled: CompiledFilters
    progress: DownloadProgress
    result: MirrorResult = field(init=False)
    discovery: Discovery = "given"

    def run(self, url: str) -> MirrorResult:
        view = self.target.view()
        options = self.options
        directory = self.target.handle.workspace.directory
        key = last_run.options_key(url, directory, options.filters, options.unpatched)
        self.state.previous = last_run.previous_documents(self.target.mirror_dir, key)
        if not options.planning:
            if options.skip_if_unchanged:
                unchanged = last_run.check_unchanged(view, key, self.state, self.fetcher)
                if unchanged is not None:
                    return unchanged
            last_run.forget(self.target.mirror_dir)
        self.result = MirrorResult(upstream=redact(url), target=self.target.description)
        subdirs = self.read_upstream()
        self.execute(subdirs, select_records(_candidates(subdirs), self.compiled))
        if not options.planning:
            self.target.last_run_id = last_run.record(
                view, key, self.discovery, self.state, self.result
            )
        return self.result

    def read_upstream(self) -> list[UpstreamSubdir]:
        upstream = Upstream(self.state.upstream_url, self.fetcher, self.state, self.options.jobs)
        subdirs = [
            upstream.read(subdir, unpatched=self.options.unpatched)
            for subdir in upstream.subdirs(self.options.filters.subdirs)
        ]
        self.discovery = upstream.discovery
        self.state.save()  # the documents are cached: the next run asks conditionally
        self.result.note_upstream(subdirs)
        return subdirs

    def execute(self, subdirs: list[UpstreamSubdir], selection: Selection) -> None:
        self.result.note_selection(selection, self.options.explain)
        plan = self._plan(subdirs, selection)
        self.result.note_plan(plan)
        if self.options.planning:
            self.result.dry_run = True
            return
        _discard_stale_downloads(self.state.downloads, {w.key for w in plan.added})
        downloader = Downloader(
            self.fetcher, self.state.downloads, self.options.jobs, self.progress
        )
        verified, failed = downloader.run(plan.added)
        self.result.downloaded_bytes = sum(v.wanted.size for v in verified)
        if failed:
            raise _download_failure(failed)
        upstream_records = {
            subdir: {f: c.record for f, c in chosen.items()}
            for subdir, chosen in _chosen_by_subdir(subdirs, selection).items()
        }
        outcome = MirrorPublish(
            self.target,
            plan,
            verified,
            upstream_records,
            patched=not self.options.unpatched,
            clock=self.options.clock or system_clock_ms,
            lock_timeout=self.options.lock_timeout,
        ).run()
        self.result.note_publish(outcome)

    def _plan(self, subdirs: list[UpstreamSubdir], selection: Selection) -> MirrorPlan:
        plan = MirrorPlan()
        catalog, channel = self.target.catalog, self.target.handle.channel
        chosen = _chosen_by_subdir(subdirs, selection)
        for item in subdirs:
            view = SubdirView(
                subdir=item.subdir,
                chosen=chosen[item.subdir],
                artifact_base=item.artifact_base,
                upstream_removed=item.records.removed,
                target=catalog.file_states(channel.id, item.subdir),
                target_removed=set(catalog.repodata_removed(channel.id, item.subdir)),
                present=self.target.handle.store.file_sizes(item.subdir),
            )
            plan_subdir(plan, view)
        return plan


def _chosen_by_subdir(
    subdirs: list[UpstreamSubdir], selection: Selection
) -> dict[str, dict[str, Candidate]]:
    grouped = selection.by_subdir()
    return {item.subdir: grouped.get(item.subdir, {}) for item in subdirs}


def _discard_stale_downloads(folder: Path, keep: set[str]) -> None:
    """Downloads of artifacts this run does not want (no longer selected, or published by an
    earlier run that stopped before cleaning up) are deleted."""
    if not folder.is_dir():
        return
    for path in folder.glob("*/*"):
        stem = path.name.removesuffix(".part").removesuffix(".staging")
        if f"{path.parent.name}/{stem}" not in keep:
            path.unlink(missing_ok=True)


def _download_failure(failed: list[Failure]) -> DownloadFailed:
    shown = "; ".join(f"{f.key}: {f.reason}" for f in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return DownloadFailed(f"{len(failed)} artifact(s) failed, nothing was published: {shown}{more}")
