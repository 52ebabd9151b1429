"""`mirror_channel`: read upstream -> select -> plan -> download and verify -> commit.

A run holds the mirror lock of its target (one mirror run at a time) from start to end, and
the channel lock only while committing, so uploads to a served target wait seconds, not for
the downloads. Everything before the commit writes only into the mirror's working area: a
failure or a kill there leaves the published channel as it was, and the next run resumes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stockyard.index.ingest import Clock, system_clock_ms
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT, channel_lock
from stockyard.mirror.download import Downloader, DownloadProgress, Failure, NoProgress
from stockyard.mirror.errors import DownloadFailed, UpstreamError
from stockyard.mirror.fetch import Fetcher, FetchSettings, redact
from stockyard.mirror.filters import MirrorFilters, select_records
from stockyard.mirror.plan import MirrorPlan, SubdirView, plan_subdir
from stockyard.mirror.publish import MirrorPublish
from stockyard.mirror.records import Candidate
from stockyard.mirror.result import MirrorResult
from stockyard.mirror.selection import Selection
from stockyard.mirror.state import MirrorState
from stockyard.mirror.target import MirrorTarget
from stockyard.mirror.upstream import Upstream, UpstreamSubdir
from stockyard.types.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MirrorOptions:
    filters: MirrorFilters = field(default_factory=MirrorFilters)
    #: Mirror repodata_from_packages.json; the target's own patch source applies.
    unpatched: bool = False
    #: Compute and report the plan; change nothing.
    dry_run: bool = False
    #: Say why this filename (or subdir/filename) is in or out; change nothing.
    explain: str | None = None
    jobs: int = 4
    fetch: FetchSettings = field(default_factory=FetchSettings)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    #: Where CEP 47 `indexed_timestamp` comes from (tests pass a fixed one).
    clock: Clock = system_clock_ms


def upstream_url(upstream: str) -> str:
    """An http(s) or file URL for UPSTREAM (a local path becomes a file:// URL)."""
    scheme = urlsplit(upstream).scheme
    if scheme in ("http", "https", "file"):
        return upstream.rstrip("/")
    if scheme and len(scheme) > 1:
        raise ConfigError(
            f"upstream {redact(upstream)!r} is neither an http(s) URL nor a local path",
            hint="Pass https://host/channel (or /t/<token>/channel) or a channel directory.",
        )
    path = Path(upstream).resolve()
    if not path.is_dir():
        raise UpstreamError(f"upstream directory {path} does not exist")
    return path.as_uri()


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
    result = MirrorResult(upstream=redact(url), target=target.description)
    with channel_lock(target.mirror_dir / "mirror.lock", timeout=options.lock_timeout):
        state = MirrorState.load(target.mirror_dir, url)
        with Fetcher(options.fetch) as fetcher:
            run = _MirrorRun(target, options, state, fetcher, result)
            subdirs = run.read_upstream()
            selection = select_records(_candidates(subdirs), compiled)
            run.execute(subdirs, selection, progress or NoProgress())
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
    result: MirrorResult

    def read_upstream(self) -> list[UpstreamSubdir]:
        upstream = Upstream(self.state.upstream_url, self.fetcher, self.state, self.options.jobs)
        subdirs = [
            upstream.read(subdir, unpatched=self.options.unpatched)
            for subdir in upstream.subdirs(self.options.filters.subdirs)
        ]
        self.state.save()  # the documents are cached: the next run asks conditionally
        self.result.note_upstream(subdirs)
        return subdirs

    def execute(
        self, subdirs: list[UpstreamSubdir], selection: Selection, progress: DownloadProgress
    ) -> None:
        self.result.note_selection(selection, self.options.explain)
        plan = self._plan(subdirs, selection)
        self.result.note_plan(plan)
        if self.options.dry_run or self.options.explain is not None:
            self.result.dry_run = True
            return
        _discard_stale_downloads(self.state.downloads, {w.key for w in plan.added})
        downloader = Downloader(self.fetcher, self.state.downloads, self.options.jobs, progress)
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
            clock=self.options.clock,
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
