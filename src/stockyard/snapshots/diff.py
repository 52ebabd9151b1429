"""What changed between two views of a channel (two snapshots, or a snapshot and the live
channel): per subdir, records added, removed, and patched (same filename, other record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

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


def _records(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / REPODATA_JSON
    if not path.is_file():
        return {}
    document = msgspec.json.decode(path.read_bytes())
    records: dict[str, dict[str, Any]] = {}
    for key in ("packages", "packages.conda"):
        records.update(document.get(key) or {})
    return records


def diff_views(before: Path, after: Path) -> list[SubdirDiff]:
    """Per subdir present in either view, what `after` changed relative to `before`."""
    subdirs = sorted(
        {p.name for p in before.iterdir() if (p / REPODATA_JSON).is_file()}
        | {p.name for p in after.iterdir() if (p / REPODATA_JSON).is_file()}
    )
    out = []
    for subdir in subdirs:
        old, new = _records(before / subdir), _records(after / subdir)
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
