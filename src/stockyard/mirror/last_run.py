"""Ending a mirror run early when it would change nothing (issue 9: a no-change run of 13,000
artifacts in under a second).

After every run that published, `last_run.json` in the mirror's working area records what the
run's outcome depended on:

- `options`: a hash of the upstream URL, the target folder, the filters, `--unpatched`, the
  Stockyard version and this record's format;
- `documents`: every upstream document the run read (channeldata.json, each subdir's shard
  index, `repodata.json.zst` or `repodata.json`, in the order read) with the sha256 of its
  bytes, or None when upstream had none and the run fell back to the next one. Shards are named
  by their hash in the shard index: an unchanged index means unchanged shards;
- `subdirs` and how they were found (`stockyard.mirror.upstream.Discovery`);
- `files`: stamps (size, mtime) of what the target publishes for them: channeldata.json, each
  mirrored subdir's repodata.json and, in a local store, the subdir folder itself (adding or
  deleting an artifact by hand changes its mtime), and the mirror's patch_instructions.json;
- `catalog`: for a channel folder with its own SQLite catalog, stamps of catalog.db and its
  WAL, taken after the catalog is closed (`MirrorTarget.close`, which calls `stamp_catalog`);
- `summary`: the counts to report again (and what that run changed, for the status), the
  upstream (token masked) and when the run ended.

`check_unchanged` runs first, under the mirror lock. It compares the options hash and the
target's stamps, then asks upstream for the same documents, conditionally (the ETag and
Last-Modified kept in state.json): when every answer is a 304 or bytes with the same sha256,
the full run would select the same records and find the target holding exactly them. The run
then reports the last summary with `up_to_date` and ends: no record is decoded, nothing is
planned or published, and a channel folder's catalog is not even opened.

What makes a run do the work instead:

- other filters, another upstream URL or target, `--unpatched` toggled: the options hash;
- upstream changed: a document answers with other bytes, appears or disappears. Subdirs found
  by probing every platform over HTTP (no `--subdir`, no channeldata.json upstream) are never
  short-cut: probing again costs as much as the run;
- the target changed by hand: an artifact added or deleted in a subdir folder, anything
  republished (`stockyard package remove`, `stockyard index`, an upload to a served channel),
  the patch instructions edited: the file stamps. Any write to a channel folder's catalog, or
  what an interrupted commit of another writer left: the catalog stamps; for a served channel
  (a shared catalog other channels write to) the catalog itself is asked instead: no dirty
  subdir or channel files and no pending moves;
- the last run failed or was interrupted: `last_run.json` is deleted before a run changes
  anything and written only after its commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from stockyard import __version__
from stockyard.index.lock import channel_lock
from stockyard.index.workspace import STATE_DIR
from stockyard.mirror.fetch import Fetcher, upstream_url
from stockyard.mirror.filters import MirrorFilters
from stockyard.mirror.options import MirrorOptions
from stockyard.mirror.state import MIRROR_LOCK, MirrorState, write_atomic
from stockyard.storage import LocalStore, Store
from stockyard.types.repodata import CHANNELDATA_JSON, REPODATA_JSON

if TYPE_CHECKING:
    from stockyard.mirror.result import MirrorResult

#: Bumped when what a run selects or publishes for the same inputs changes.
FORMAT = 1
LAST_RUN = "last_run.json"
PATCH_INSTRUCTIONS = "patch_instructions.json"
#: (size, mtime in ns) of a file or folder, None when it does not exist.
Stamp = tuple[int, int] | None


class LastRun(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    #: Which run wrote it (the catalog stamps are added by that run's target only).
    run_id: str
    options: str
    discovery: str
    subdirs: list[str]
    documents: dict[str, str | None]
    files: dict[str, Stamp]
    catalog: dict[str, Stamp] | None = None
    summary: dict[str, Any]
    #: For the status (web UI, API): the upstream (token masked) and when the run ended (ms).
    upstream: str = ""
    finished_at: int = 0


#: Built at import (under the import lock): msgspec's first use of a Struct is not thread safe.
_decode_last_run = msgspec.json.Decoder(LastRun).decode


@dataclass(frozen=True, slots=True)
class TargetView:
    """What the check needs to know of the target, without its catalog."""

    store: Store
    mirror_dir: Path
    description: str
    #: A channel folder's own SQLite catalog files: their stamps are compared.
    catalog_files: tuple[Path, ...] = ()
    #: For a target whose catalog is open: whether it owes a publish or a move.
    owes_repair: Callable[[], bool] | None = None


def options_key(url: str, directory: Path, filters: MirrorFilters, unpatched: bool) -> str:
    """A hash of everything that decides what a run selects and how it publishes it (the URL
    may hold a token: only its hash is stored)."""
    payload = {
        "format": FORMAT,
        "version": __version__,
        "upstream": url,
        "target": str(directory.resolve()),
        "filters": filters,
        "unpatched": unpatched,
    }
    return hashlib.sha256(msgspec.json.encode(payload, order="sorted")).hexdigest()


def catalog_files(state_dir: Path) -> tuple[Path, ...]:
    """The SQLite catalog of a channel folder: the database and its write-ahead log."""
    database = state_dir / "catalog.db"
    return (database, database.with_name("catalog.db-wal"))


def _stat(path: Path) -> Stamp:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (info.st_size, info.st_mtime_ns)


def file_stamps(store: Store, mirror_dir: Path, subdirs: Iterable[str]) -> dict[str, Stamp]:
    stamps: dict[str, Stamp] = {}
    names = sorted(subdirs)
    for key in (CHANNELDATA_JSON, *(f"{s}/{REPODATA_JSON}" for s in names)):
        info = store.stat(key)
        stamps[key] = None if info is None else (info.size, info.mtime_ns)
    if isinstance(store, LocalStore):
        for subdir in names:
            stamps[f"{subdir}/"] = _stat(store.root / subdir)
    stamps[f".stockyard/mirror/{PATCH_INSTRUCTIONS}"] = _stat(mirror_dir / PATCH_INSTRUCTIONS)
    return stamps


def catalog_stamps(paths: Iterable[Path]) -> dict[str, Stamp]:
    return {path.name: _stat(path) for path in paths}


def load(mirror_dir: Path) -> LastRun | None:
    try:
        record = _decode_last_run((mirror_dir / LAST_RUN).read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None  # none, or damaged: the run does the work
    return record if record.format == FORMAT else None


def previous_documents(mirror_dir: Path, key: str) -> dict[str, str | None]:
    """The documents the last run with the same options read (`MirrorState.previous`: what a
    subdir's `not_modified` is judged against), or none."""
    last = load(mirror_dir)
    return dict(last.documents) if last is not None and last.options == key else {}


def forget(mirror_dir: Path) -> None:
    """Before a run changes anything: until its commit, nothing may be short-cut."""
    with contextlib.suppress(FileNotFoundError):
        (mirror_dir / LAST_RUN).unlink()


def record(
    view: TargetView,
    key: str,
    discovery: str,
    state: MirrorState,
    result: MirrorResult,
) -> str:
    """After a run published: what it depended on (see the module docstring); its run id."""
    subdirs = sorted(result.subdirs)
    written = LastRun(
        run_id=secrets.token_hex(8),
        options=key,
        discovery=discovery,
        subdirs=subdirs,
        documents=dict(state.consulted),
        files=file_stamps(view.store, view.mirror_dir, subdirs),
        summary=result.last_summary(),
        upstream=result.upstream,
        finished_at=time.time_ns() // 1_000_000,
    )
    write_atomic(view.mirror_dir / LAST_RUN, msgspec.json.encode(written))
    return written.run_id


def stamp_catalog(mirror_dir: Path, run_id: str, files: tuple[Path, ...]) -> None:
    """After the catalog was closed (SQLite folds its WAL into the database then): its stamps,
    when the record is still the one run `run_id` wrote."""
    found = load(mirror_dir)
    if found is None or found.run_id != run_id:
        return  # another run came since
    found.catalog = catalog_stamps(files)
    write_atomic(mirror_dir / LAST_RUN, msgspec.json.encode(found))


def check_unchanged(
    view: TargetView, key: str, state: MirrorState, fetcher: Fetcher
) -> MirrorResult | None:
    """The last run's summary, as `up_to_date`, when nothing it depended on changed; else
    None (the run does the work)."""
    last = load(view.mirror_dir)
    if last is None or last.options != key or last.discovery == "probe":
        return None
    if file_stamps(view.store, view.mirror_dir, last.subdirs) != last.files:
        return None
    if view.catalog_files:
        if last.catalog is None or catalog_stamps(view.catalog_files) != last.catalog:
            return None
    elif view.owes_repair is not None and view.owes_repair():
        return None
    if not _same_documents(last, state, fetcher):
        return None
    if last.discovery == "listing" and _listed(state, fetcher) != last.subdirs:
        return None
    from stockyard.mirror.result import MirrorResult

    return MirrorResult.up_to_date_from(state.upstream_url, view.description, last.summary)


def check_directory(upstream: str, path: Path, options: MirrorOptions) -> MirrorResult | None:
    """For the CLI, before the target's catalog is opened (importing and opening it costs more
    than the whole check): the up-to-date result when the channel folder `path` and upstream
    are as the last run left them, else None (the run does the work)."""
    started = time.perf_counter()
    state_dir = path / STATE_DIR
    mirror_dir = state_dir / "mirror"
    if options.planning or not (mirror_dir / LAST_RUN).is_file():
        return None
    url = upstream_url(upstream)
    key = options_key(url, path, options.filters, options.unpatched)
    view = TargetView(LocalStore(path), mirror_dir, str(path), catalog_files(state_dir))
    with channel_lock(mirror_dir / MIRROR_LOCK, timeout=options.lock_timeout):
        state = MirrorState.load(mirror_dir, url)
        with Fetcher(options.fetch) as fetcher:
            result = check_unchanged(view, key, state, fetcher)
    if result is not None:
        result.seconds = time.perf_counter() - started
    return result


def _same_documents(last: LastRun, state: MirrorState, fetcher: Fetcher) -> bool:
    """Ask for every document again (conditionally); whether each is what the run read."""
    same = True
    for relative, digest in last.documents.items():
        state.document(fetcher, relative)
        if state.consulted[relative] != digest:
            same = False
            break
    if state.changed:
        state.save()  # new bytes are cached with their validators: the run asks conditionally
    state.consulted.clear()
    state.fetched.clear()
    return same


def _listed(state: MirrorState, fetcher: Fetcher) -> list[str]:
    from stockyard.mirror.upstream import Upstream

    return Upstream(state.upstream_url, fetcher, state, jobs=1).found_subdirs()
