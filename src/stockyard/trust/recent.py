"""What this process signed in the last publish of a subdir (per key): the in-process shortcut of
a signed one-change publish.

Without it every publish hashes every record with sha256 to look it up in the signature cache
(trust/cache.py), and encodes the whole `signatures` member. With it, the publish is compared
with the last one as it goes (`Replay`): records come in the same order every time (sections
sorted by filename), so runs of records with the same filename and bytes, compared by Python's
`hash()` of each in two arrays, take the last publish's digests and signatures in one slice.
Only the records around a change take a Python step (new and changed ones the sha256 and cache
path), and the `signatures` member is the last one with the segments the changes fall in
re-encoded (trust/member.py).

Why `hash()` is enough: it is SipHash keyed by a secret drawn at process start, so nobody
outside the process can aim for a collision, and a false match needs a record at the same place
with the same filename's hash and its bytes' hash (two 64-bit values). Since an ed25519
signature depends only on the key and the bytes, what is kept never goes stale: it only has to
stay in the process (it is never stored) and apart per key. Matching is only a shortcut: a record
it does not place (an insertion, a move) is looked up in the cache, so its signature is right
whatever the order of the records.

The state costs about 350 bytes per record (measured with tracemalloc on 400,000 records: the
member's text is 250 of them), so it is kept for the last subdirs published up to `_SLOTS` of
them and `_MAX_RECORDS` records in all (the most recent one always), least recently used first
out.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stockyard.trust.member import SignaturesMember

#: (sha256 digest of a record's bytes as published, its signature).
Entry = tuple[bytes, bytes]
#: Subdirs whose last publish this process keeps, and their records in all (~350 MB).
_SLOTS = 4
_MAX_RECORDS = 1_000_000
#: Records ahead in the last publish where a record that does not match is looked for by
#: name (a few removed records); further, the lookup table (`Replay._position`).
_WINDOW = 8


@dataclass(frozen=True, slots=True)
class RecentSigned:
    """The records (in publish order) and the `signatures` member of a subdir's last signed
    publish."""

    names: list[str]
    #: `hash()` of each filename and of each record's bytes.
    name_hashes: array[int]
    record_hashes: array[int]
    entries: list[Entry]
    member: SignaturesMember
    #: The signature cache's entries (`SignatureCache.known`) these digests are all in; when the
    #: cache was read again from disk (another process wrote it), the next publish puts back
    #: any it lacks, so the cache on disk stays complete.
    known: dict[bytes, bytes]


@dataclass(slots=True)
class Replay:
    """Walks the last publish alongside this one, batch after batch."""

    last: RecentSigned
    #: Where this publish is in the last one.
    cursor: int = 0
    #: Positions of the last publish passed over (their records removed, changed or moved).
    skipped: list[int] = field(default_factory=list)
    #: Records not taken from the last publish (new, changed, or not placed): filename -> entry.
    changed: dict[str, Entry] = field(default_factory=dict)
    #: Whether the last record that did not match was not placed either (then the next one that
    #: does not match builds `_positions`).
    _lost: bool = False
    _positions: dict[str, int] | None = None

    def entries(
        self,
        names: list[str],
        name_hashes: array[int],
        record_hashes: array[int],
        resolve: Callable[[int], Entry],
    ) -> list[Entry]:
        """The entries of a batch: runs equal to the last publish's are sliced from it, the
        others come from `resolve(index in the batch)` (the cache, or a new signature)."""
        last, out = self.last, []
        index, size = 0, len(names)
        while index < size:
            run = _common_run(
                name_hashes, record_hashes, index, last.name_hashes, last.record_hashes, self.cursor
            )
            if run:
                out += last.entries[self.cursor : self.cursor + run]
                index += run
                self.cursor += run
                self._lost = False
                if index == size:
                    break
            out.append(self._unmatched(names[index], record_hashes[index], index, resolve))
            index += 1
        return out

    def _unmatched(
        self, name: str, record_hash: int, index: int, resolve: Callable[[int], Entry]
    ) -> Entry:
        """A record that does not continue the last publish where this one is."""
        position = self._position(name)
        if position is None:  # new here (or not placed): the cache knows
            entry = self.changed[name] = resolve(index)
            return entry
        self.skipped += range(self.cursor, position)  # records gone in between
        self.cursor = position + 1
        self._lost = False
        if self.last.record_hashes[position] == record_hash:
            return self.last.entries[position]
        entry = self.changed[name] = resolve(index)  # new bytes (a patch)
        return entry

    def _position(self, name: str) -> int | None:
        """Where `name` is in the last publish from the cursor on: a few records ahead, else by
        the lookup table once records have been passed without being placed."""
        names, cursor = self.last.names, self.cursor
        for position in range(cursor, min(cursor + _WINDOW, len(names))):
            if names[position] == name:
                return position
        if not self._lost:
            self._lost = True  # an insertion, most likely: the next record will tell
            return None
        if self._positions is None:
            self._positions = {n: p for p, n in enumerate(names)}
        found = self._positions.get(name)
        return found if found is not None and found >= cursor else None

    def removed(self) -> set[str]:
        """Filenames of the last publish that this one, now complete, does not have."""
        names = self.last.names
        gone = {names[p] for p in self.skipped}
        gone.update(names[self.cursor :])
        return gone - self.changed.keys()


def _common_run(
    hashes: array[int],
    bytes_hashes: array[int],
    start: int,
    last: array[int],
    last_bytes: array[int],
    cursor: int,
) -> int:
    """How many records from `start` equal the last publish's from `cursor` (by both hashes)."""
    longest = min(len(hashes) - start, len(last) - cursor)

    def same(count: int) -> bool:
        return (
            hashes[start : start + count] == last[cursor : cursor + count]
            and bytes_hashes[start : start + count] == last_bytes[cursor : cursor + count]
        )

    if longest <= 0 or same(longest):
        return max(longest, 0)
    low, high = 0, longest - 1  # same(low) holds, same(high + 1) does not
    while low < high:
        middle = (low + high + 1) // 2
        if same(middle):
            low = middle
        else:
            high = middle - 1
    return low


_RECENT: OrderedDict[tuple[Path, str], RecentSigned] = OrderedDict()
_LOCK = threading.Lock()


def _hash_is_secret() -> bool:
    """Whether `hash()` is keyed by a secret drawn at start: not when PYTHONHASHSEED fixes it
    (then anyone who knows the seed could aim bytes at a record's hash; the worst would be a
    record published with the last bytes' signature, which clients reject, but the shortcut is
    not worth even that)."""
    return os.environ.get("PYTHONHASHSEED", "random") in ("", "random")


_HASH_IS_SECRET = _hash_is_secret()


def recall(cache_path: Path, public_hex: str) -> RecentSigned | None:
    if not _HASH_IS_SECRET:
        return None
    with _LOCK:
        return _RECENT.get((cache_path, public_hex))


def remember(cache_path: Path, public_hex: str, recent: RecentSigned) -> None:
    with _LOCK:
        _RECENT[(cache_path, public_hex)] = recent
        _RECENT.move_to_end((cache_path, public_hex))
        records = sum(len(kept.names) for kept in _RECENT.values())
        while len(_RECENT) > 1 and (len(_RECENT) > _SLOTS or records > _MAX_RECORDS):
            _key, dropped = _RECENT.popitem(last=False)
            records -= len(dropped.names)


def forget_all() -> None:
    with _LOCK:
        _RECENT.clear()
