"""What a mirror run changes in its target: the artifacts to add (new, other bytes under a
known name, or a file the catalog knows but the store no longer holds at its size: deleted or
truncated by hand), to remove (in a mirrored subdir of the target, no longer selected, whoever
put them there), and upstream's `removed` names to list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from stockyard.catalog import FileState
from stockyard.mirror.download import Wanted
from stockyard.mirror.records import Candidate
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.identifiers import parse_artifact_filename


@dataclass(slots=True)
class MirrorPlan:
    added: list[Wanted] = field(default_factory=list)
    #: Of `added`, how many replace an artifact of the same name with other bytes.
    changed: int = 0
    #: subdir -> filenames the target holds that leave it.
    removed: dict[str, list[str]] = field(default_factory=dict)
    #: subdir -> upstream's `removed` filenames the target does not list yet.
    removed_names: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def bytes(self) -> int:
        return sum(w.size for w in self.added)

    @property
    def removed_count(self) -> int:
        return sum(len(v) for v in self.removed.values())

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed_count or any(self.removed_names.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [w.key for w in self.added],
            "changed": self.changed,
            "removed": sorted(f"{s}/{f}" for s, names in self.removed.items() for f in names),
            "unchanged": self.unchanged,
            "bytes": self.bytes,
        }


@dataclass(frozen=True, slots=True)
class SubdirView:
    """One mirrored subdir: what is chosen, where its artifacts live, what the target holds."""

    subdir: str
    chosen: dict[str, Candidate]
    artifact_base: str
    upstream_removed: list[str]
    #: The target's artifacts (filename -> state) and its listed `removed` names.
    target: dict[str, FileState]
    target_removed: set[str]
    #: What the store holds in the subdir: filename -> (size, mtime_ns).
    present: dict[str, tuple[int, int]]


def plan_subdir(plan: MirrorPlan, view: SubdirView) -> None:
    for filename, candidate in sorted(view.chosen.items()):
        sha256 = str(candidate.record["sha256"]).lower()
        held = view.target.get(filename)
        stored = view.present.get(filename)
        if held is not None and held.sha256 == sha256 and stored and stored[0] == candidate.size:
            plan.unchanged += 1
            continue
        plan.changed += held is not None
        url = view.artifact_base + quote(filename)
        plan.added.append(Wanted(view.subdir, filename, url, sha256, candidate.size))
    gone = sorted(set(view.target) - set(view.chosen))
    if gone:
        plan.removed[view.subdir] = gone
    # Upstream's `removed` list travels whole: it says these files are gone, which holds for
    # the mirror too (only well-formed names: the catalog holds checked names only).
    listed = sorted(
        f for f in set(view.upstream_removed) - view.target_removed - set(view.chosen) if _valid(f)
    )
    if listed:
        plan.removed_names[view.subdir] = listed


def _valid(filename: str) -> bool:
    try:
        parse_artifact_filename(filename)
    except InvalidIdentifier:  # an odd legacy name: not listed
        return False
    return True
