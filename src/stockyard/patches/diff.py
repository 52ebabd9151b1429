"""What a patch set changes: two views of a subdir's records compared, record by record.

`diff_records(before, after)` lists, for every filename whose record differs, the keys that
differ with their value on each side (a side that lacks the key has no value), and whether the
record is only on one side (`removed`: the patches remove it; `added`: it was removed and is
back). `summarize` counts the records per package name. Pure functions: the caller reads the
channel's files (`stockyard patch diff`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SECTIONS: Final = ("packages", "packages.conda")
CHANGED: Final = "changed"
REMOVED: Final = "removed"
ADDED: Final = "added"


class _Absent:
    """A key or record one side does not have."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()


@dataclass(frozen=True, slots=True)
class KeyDiff:
    key: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        if self.before is not ABSENT:
            out["before"] = self.before
        if self.after is not ABSENT:
            out["after"] = self.after
        return out


@dataclass(frozen=True, slots=True)
class RecordDiff:
    subdir: str
    filename: str
    name: str
    #: CHANGED (keys differ), REMOVED (only before) or ADDED (only after).
    status: str
    keys: tuple[KeyDiff, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "subdir": self.subdir,
            "filename": self.filename,
            "name": self.name,
            "status": self.status,
            "keys": [key.to_json() for key in self.keys],
        }


@dataclass(slots=True)
class NameSummary:
    """What changes for one package name."""

    changed: int = 0
    removed: int = 0
    added: int = 0
    keys: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "removed": self.removed,
            "added": self.added,
            "keys": sorted(self.keys),
        }


def records_of(repodata: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """filename -> record of a repodata document's `packages` and `packages.conda`."""
    records: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        records.update(repodata.get(section) or {})
    return records


def key_diffs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[KeyDiff, ...]:
    """The keys whose values differ, sorted."""
    keys = sorted({*before, *after})
    return tuple(
        KeyDiff(key, before.get(key, ABSENT), after.get(key, ABSENT))
        for key in keys
        if before.get(key, ABSENT) != after.get(key, ABSENT)
    )


def _name(record: Mapping[str, Any], filename: str) -> str:
    name = record.get("name")
    return name if isinstance(name, str) else filename.rsplit("-", 2)[0]


def diff_records(
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    subdir: str = "",
) -> list[RecordDiff]:
    """Every record that differs between `before` and `after` (filename -> record), by
    filename."""
    diffs = []
    for filename in sorted({*before, *after}):
        old, new = before.get(filename), after.get(filename)
        if old == new:
            continue
        if new is None:
            assert old is not None
            diffs.append(RecordDiff(subdir, filename, _name(old, filename), REMOVED, ()))
        elif old is None:
            diffs.append(RecordDiff(subdir, filename, _name(new, filename), ADDED, ()))
        else:
            keys = key_diffs(old, new)
            diffs.append(RecordDiff(subdir, filename, _name(new, filename), CHANGED, keys))
    return diffs


def summarize(diffs: Iterable[RecordDiff]) -> dict[str, NameSummary]:
    """Per package name: how many records change, go or come back, and which keys change."""
    summary: dict[str, NameSummary] = {}
    for diff in diffs:
        entry = summary.setdefault(diff.name, NameSummary())
        if diff.status == CHANGED:
            entry.changed += 1
        elif diff.status == REMOVED:
            entry.removed += 1
        else:
            entry.added += 1
        entry.keys.update(key.key for key in diff.keys)
    return dict(sorted(summary.items()))
