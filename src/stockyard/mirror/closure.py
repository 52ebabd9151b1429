"""`--with-dependencies`: the dependency closure of the chosen records within the pool (why a
closure and not a solve: see `stockyard.mirror.filters`)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from stockyard.mirror.errors import FilterError
from stockyard.mirror.records import Candidate
from stockyard.mirror.selection import Selection, Unsatisfied, newest_versions
from stockyard.mirror.specs import Spec

NOARCH = "noarch"


@dataclass(slots=True)
class DependencyClosure:
    """Adds to a selection every pool record the chosen records' `depends` can use."""

    pool: list[Candidate]
    latest: int | None
    by_name: dict[str, list[Candidate]] = field(default_factory=dict)
    #: (spec text, subdirs) -> the matching pool records, after --latest.
    _cache: dict[tuple[str, frozenset[str] | None], list[Candidate] | None] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        for candidate in self.pool:
            self.by_name.setdefault(candidate.name, []).append(candidate)

    def extend(self, selection: Selection, roots: list[Candidate]) -> None:
        queue = deque(roots)
        while queue:
            record = queue.popleft()
            for text in _depends(record):
                matches = self._candidates(text, _reachable_subdirs(record.subdir))
                if matches is None:
                    continue  # a virtual package: the installing machine provides it
                if not matches:
                    selection.unsatisfied.append(Unsatisfied(text, record.key))
                    continue
                reason = f"dependency {text!r} of {record.key}"
                queue.extend(selection.choose_new(matches, reason))

    def _candidates(self, text: str, subdirs: frozenset[str] | None) -> list[Candidate] | None:
        cache_key = (text, subdirs)
        if cache_key in self._cache:
            return self._cache[cache_key]
        try:
            spec = Spec.parse(text, "depends", globs=False)
        except FilterError:
            self._cache[cache_key] = []  # an unreadable dependency: reported as unsatisfied
            return []
        if spec.exact_name is not None and spec.exact_name.startswith("__"):
            self._cache[cache_key] = None
            return None
        named = self.by_name.get(spec.exact_name or "", [])
        in_reach = [c for c in named if subdirs is None or c.subdir in subdirs]
        found = newest_versions(spec.select(in_reach), self.latest)
        self._cache[cache_key] = found
        return found


def _reachable_subdirs(subdir: str) -> frozenset[str] | None:
    """Where a record's dependencies can come from: its own subdir and noarch; a noarch record
    is installed on every platform, so from anywhere (None)."""
    return None if subdir == NOARCH else frozenset({subdir, NOARCH})


def _depends(candidate: Candidate) -> list[str]:
    depends = candidate.record.get("depends")
    if isinstance(depends, str):
        return [depends]
    if isinstance(depends, list):
        return [d for d in depends if isinstance(d, str) and d.strip()]
    return []
