"""What changed between two views of a channel (two snapshots, or a snapshot and the live
channel): per subdir, records added, removed, and patched (same filename, other record).

A view is a `Store`: the channel's (live) or `snapshot_store(store, id)` (a snapshot), so both
are read the same way from a local directory or a bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from stockyard.storage import Store
from stockyard.types.repodata import REPODATA_JSON


@dataclass(slots=True)
class SubdirDiff:
    subdir: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: filename -> {key: [before, after]}
    changed: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subdir": self.subdir,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }


def _records(view: Store, subdir: str) -> dict[str, dict[str, Any]]:
    try:
        document = msgspec.json.decode(view.get(f"{subdir}/{REPODATA_JSON}"))
    except FileNotFoundError:
        return {}
    records: dict[str, dict[str, Any]] = {}
    for key in ("packages", "packages.conda"):
        records.update(document.get(key) or {})
    return records


def _subdirs(view: Store) -> set[str]:
    """The published subdirs of a view (a `snapshots` folder of the live view is none)."""
    return {d for d in view.list_dirs() if view.stat(f"{d}/{REPODATA_JSON}") is not None}


def diff_views(before: Store, after: Store) -> list[SubdirDiff]:
    """Per subdir present in either view, what `after` changed relative to `before`."""
    out = []
    for subdir in sorted(_subdirs(before) | _subdirs(after)):
        old, new = _records(before, subdir), _records(after, subdir)
        diff = SubdirDiff(subdir, sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys()))
        for filename in sorted(old.keys() & new.keys()):
            if old[filename] != new[filename]:
                keys = sorted(old[filename].keys() | new[filename].keys())
                diff.changed[filename] = {
                    key: [old[filename].get(key), new[filename].get(key)]
                    for key in keys
                    if old[filename].get(key) != new[filename].get(key)
                }
        out.append(diff)
    return out
