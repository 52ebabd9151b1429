"""Is a package version affected? OSV's evaluation algorithm (the `IsVulnerable` pseudocode of
the OSV schema): a version listed in `versions`, or inside a range: before its limits, and
`vulnerable` after walking the events sorted by version (introduced sets it, fixed at or
below the version clears it, last_affected strictly below the version clears it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stockyard.scan.osv import Advisory, Affected, Range
from stockyard.scan.versions import SortKey, event_key, same_version, version_key


@dataclass(frozen=True, slots=True)
class Match:
    advisory: Advisory
    #: `fixed` versions above the matched version in the ranges that matched.
    fixed: tuple[str, ...]


def range_affects(rng: Range, version: SortKey) -> bool:
    """OSV's IncludedInRanges for one range; `version` from `version_key(rng.ordering, ...)`."""
    keyed = [(event_key(rng.ordering, e.kind, e.version), e.kind) for e in rng.events]
    limits = [key for key, kind in keyed if kind == "limit"]
    if limits and not any(key is not None and version < key for key in limits):
        return False
    vulnerable = False
    # Stable sort: events at the same version keep their document order.
    for key, kind in sorted(
        ((k, kind) for k, kind in keyed if k is not None), key=lambda item: item[0]
    ):
        if kind == "introduced":
            vulnerable = vulnerable or version >= key
        elif (kind == "fixed" and version >= key) or (kind == "last_affected" and version > key):
            vulnerable = False
    return vulnerable


def _fixed_above(rng: Range, version: SortKey) -> list[str]:
    out = []
    for event in rng.events:
        if event.kind == "fixed":
            key = event_key(rng.ordering, "fixed", event.version)
            if key is not None and key > version:
                out.append(event.version)
    return out


def affected_match(affected: Affected, version: str) -> tuple[str, ...] | None:
    """None if `version` is not affected; else the fixed versions above it (maybe empty)."""
    hit = any(same_version(affected.ecosystem, listed, version) for listed in affected.versions)
    fixed: list[str] = []
    for rng in affected.ranges:
        key = version_key(rng.ordering, version)
        if key is not None and range_affects(rng, key):
            hit = True
            fixed.extend(_fixed_above(rng, key))
    return tuple(dict.fromkeys(fixed)) if hit else None


def match_version(
    ecosystem: str, name: str, version: str, advisories: Iterable[Advisory]
) -> list[Match]:
    """The advisories affecting `name` at `version` in `ecosystem` (`name` as OSV spells it)."""
    out = []
    for advisory in advisories:
        fixed: list[str] = []
        hit = False
        for affected in advisory.affected:
            if affected.ecosystem != ecosystem or affected.name != name:
                continue
            found = affected_match(affected, version)
            if found is not None:
                hit = True
                fixed.extend(found)
        if hit:
            out.append(Match(advisory, tuple(dict.fromkeys(fixed))))
    return out
