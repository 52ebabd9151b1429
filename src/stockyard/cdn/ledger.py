"""The channel's record of what its recent publishes changed: `.stockyard/cdn/changes.json`.

Every commit that changed files appends one entry (its revision, when, the changed keys) under
the channel lock, in the channel's own store, so it works the same for a local directory and a
bucket, for every way in (uploads, `stockyard index`, mirrors, jobs on any replica or worker),
and is never served (`.stockyard/`). `stockyard cdn changed-urls` reads it for scripts that
purge a CDN themselves; the purge webhook sends the same entry.

A revision is an increasing number: the publish time in milliseconds since the epoch, or one
more than the last revision when the clock says otherwise. So it keeps increasing even when the
file is lost or restored from an older backup, and `--since REVISION` never misses a publish
silently: when entries after it were dropped (the file keeps the newest `MAX_KEYS` keys) or
never recorded, the answer says it is incomplete and the script purges the whole channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec

from stockyard.storage import Store

log = logging.getLogger("stockyard.cdn")

LEDGER_KEY: Final = ".stockyard/cdn/changes.json"
#: Keys kept over all entries (the newest entry is always kept whole). The file is read and
#: rewritten by every publish (two requests on a bucket; the read overlaps the publish), so it
#: stays small: about 120 kB, minutes of history for a channel uploaded to every second.
MAX_KEYS: Final = 2000
MAX_ENTRIES: Final = 200


class LedgerEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    revision: int
    #: ISO 8601, UTC.
    published_at: str
    keys: tuple[str, ...]


class Ledger(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    #: The entries cover every publish after this revision (older ones were dropped or never
    #: recorded).
    covers_after: int = 0
    entries: tuple[LedgerEntry, ...] = ()

    @property
    def revision(self) -> int:
        """The last publish's revision; 0 when none is recorded."""
        return self.entries[-1].revision if self.entries else 0


_decode = msgspec.json.Decoder(Ledger).decode


def read_ledger(store: Store) -> Ledger:
    """The channel's ledger; empty when there is none. An unreadable one (it is written
    atomically, so only by hand) is logged and read as empty: it never blocks a publish."""
    try:
        data = store.get(LEDGER_KEY)
    except FileNotFoundError:
        return Ledger()
    try:
        return _decode(data)
    except msgspec.DecodeError as exc:
        log.warning("ignoring the unreadable CDN change ledger %s: %s", LEDGER_KEY, exc)
        return Ledger()


def _entry(keys: Iterable[str], now_ms: int, last_revision: int) -> LedgerEntry:
    return LedgerEntry(
        revision=max(last_revision + 1, now_ms),
        published_at=datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        keys=tuple(sorted(set(keys))),
    )


def unrecorded_entry(keys: Iterable[str]) -> LedgerEntry:
    """An entry for a publish whose ledger could not be written (still worth a purge)."""
    return _entry(keys, int(time.time() * 1000), 0)


def record_publish(
    store: Store,
    keys: Iterable[str],
    *,
    now_ms: int | None = None,
    current: Ledger | None = None,
) -> LedgerEntry:
    """Append a publish that changed `keys` to the ledger (call with the channel lock held).
    `current`: the ledger as read under this lock hold (read here when not given)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ledger = read_ledger(store) if current is None else current
    entry = _entry(keys, now_ms, ledger.revision)
    if not ledger.entries:  # a new (or lost) ledger covers only what it records from now on
        ledger = Ledger(covers_after=entry.revision - 1)
    store.put(LEDGER_KEY, msgspec.json.encode(_trimmed(ledger, entry)))
    return entry


def _trimmed(ledger: Ledger, entry: LedgerEntry) -> Ledger:
    """`ledger` with `entry` appended, keeping the newest entries within the bounds."""
    kept = [entry]
    total = len(entry.keys)
    for older in reversed(ledger.entries):
        total += len(older.keys)
        if total > MAX_KEYS or len(kept) >= MAX_ENTRIES:
            break
        kept.append(older)
    kept.reverse()
    dropped = ledger.entries[: len(ledger.entries) - (len(kept) - 1)]
    covers_after = dropped[-1].revision if dropped else ledger.covers_after
    return Ledger(covers_after=covers_after, entries=tuple(kept))


@dataclass(frozen=True, slots=True)
class Changes:
    """What publishes after a revision changed, as the ledger knows it."""

    revision: int
    entries: tuple[LedgerEntry, ...]
    #: False when some publish after the asked revision is not in the ledger.
    complete: bool

    @property
    def keys(self) -> list[str]:
        return sorted({key for entry in self.entries for key in entry.keys})


def changes_since(ledger: Ledger, since: int | None = None) -> Changes:
    """The publishes after `since`; None: the last publish only."""
    if since is None:
        return Changes(ledger.revision, ledger.entries[-1:], True)
    entries = tuple(entry for entry in ledger.entries if entry.revision > since)
    # Asked from before what the ledger covers (dropped or never recorded), or from a revision
    # it never issued (a ledger restored from an older backup): something may be missing.
    complete = ledger.covers_after <= since <= ledger.revision
    return Changes(ledger.revision, entries, complete)
