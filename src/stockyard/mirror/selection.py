"""The outcome of filtering: which records are in, and for every record the reason (what
`--explain FILENAME` prints)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stockyard.mirror.records import Candidate


@dataclass(frozen=True, slots=True)
class Unsatisfied:
    """A dependency no pool record satisfies: the mirror cannot install what needs it."""

    spec: str
    needed_by: str

    def to_dict(self) -> dict[str, str]:
        return {"spec": self.spec, "needed_by": self.needed_by}


@dataclass(slots=True)
class Selection:
    #: subdir/filename -> the chosen record, in the order it was chosen.
    chosen: dict[str, Candidate] = field(default_factory=dict)
    #: subdir/filename -> why it is in, or why it is out.
    reasons: dict[str, str] = field(default_factory=dict)
    unsatisfied: list[Unsatisfied] = field(default_factory=list)

    def choose_new(self, candidates: Iterable[Candidate], reason: str) -> list[Candidate]:
        """Choose `candidates` (with `reason` unless already chosen); return the new ones."""
        new = []
        for candidate in candidates:
            if candidate.key not in self.chosen:
                self.chosen[candidate.key] = candidate
                self.reasons[candidate.key] = reason
                new.append(candidate)
        return new

    def choose_all(self, candidates: Iterable[Candidate], reason: str) -> None:
        self.choose_new(candidates, reason)

    def note(self, candidate: Candidate, reason: str) -> None:
        """Why a record is out (a reason already given is kept: the first filter decides)."""
        if candidate.key not in self.chosen:
            self.reasons.setdefault(candidate.key, reason)

    def by_subdir(self) -> dict[str, dict[str, Candidate]]:
        grouped: dict[str, dict[str, Candidate]] = {}
        for candidate in self.chosen.values():
            grouped.setdefault(candidate.subdir, {})[candidate.filename] = candidate
        return grouped

    def explain(self, filename: str) -> list[tuple[str, bool, str]]:
        """(subdir/filename, in?, reason) of every record with that filename (or subdir/name)."""
        found = []
        for key, reason in sorted(self.reasons.items()):
            if key == filename or key.rsplit("/", 1)[-1] == filename:
                found.append((key, key in self.chosen, reason))
        return found


def newest_versions(candidates: Iterable[Candidate], count: int | None) -> list[Candidate]:
    """The candidates whose version is among the `count` newest of their name in their subdir
    (every build of those versions; unparseable versions rank below every parseable one)."""
    items = list(candidates)
    if count is None:
        return items
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in items:
        groups.setdefault((candidate.subdir, candidate.name), []).append(candidate)
    kept: set[str] = set()
    for group in groups.values():
        parsed = {c.version for c in group if c.version is not None}
        newest = set(sorted(parsed, reverse=True)[:count])
        unparsed_slots = count - len(newest)
        if unparsed_slots > 0:  # fewer parseable versions than asked for: keep the rest too
            kept.update(c.key for c in group if c.version is None)
        kept.update(c.key for c in group if c.version in newest)
    return [c for c in items if c.key in kept]
