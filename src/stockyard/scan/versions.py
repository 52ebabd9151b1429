"""Version ordering for OSV ranges: PEP 440 for PyPI, SemVer 2.0 for `SEMVER` ranges and the
ecosystems that version by it.

Every version becomes a sort key `(rank, key)`: OSV's `introduced: "0"` sorts before everything
(rank 0), `limit: "*"` after everything (rank 2), real versions in between (rank 1), so events
and versions of one range compare directly.
"""

from __future__ import annotations

import re
from typing import Any, Final

from packaging.version import InvalidVersion, Version

SortKey = tuple[Any, ...]
BOTTOM: Final[SortKey] = (0,)
TOP: Final[SortKey] = (2,)

#: Ecosystems whose `ECOSYSTEM` ranges order by SemVer.
SEMVER_ECOSYSTEMS: Final = frozenset({"npm", "crates.io", "Hex", "Pub", "SwiftURL"})

_SEMVER: Final = re.compile(
    r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def semver_key(text: str) -> SortKey | None:
    """SemVer 2.0 precedence (section 11); missing minor/patch count as 0. None if invalid."""
    match = _SEMVER.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    release = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return (*release, (1,))  # a release ranks above all of its pre-releases
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
    )
    return (*release, (0, identifiers))


def pep440_key(text: str) -> SortKey | None:
    try:
        return (Version(text),)
    except InvalidVersion:
        return None


def ordering_for(range_type: str, ecosystem: str) -> str | None:
    """ "pep440", "semver", or None when we cannot order this range's versions."""
    if range_type == "SEMVER":
        return "semver"
    if range_type == "ECOSYSTEM":
        if ecosystem == "PyPI":
            return "pep440"
        if ecosystem in SEMVER_ECOSYSTEMS:
            return "semver"
    return None


def version_key(ordering: str, text: str) -> SortKey | None:
    """The sort key of a package version; None when it does not parse."""
    key = pep440_key(text) if ordering == "pep440" else semver_key(text)
    return None if key is None else (1, key)


def event_key(ordering: str, kind: str, text: str) -> SortKey | None:
    """The sort key of an event's version, with OSV's special values."""
    if kind == "introduced" and text == "0":
        return BOTTOM
    if kind == "limit" and "*" in text:
        return TOP
    return version_key(ordering, text)


def same_version(ecosystem: str, listed: str, version: str) -> bool:
    """Equality for `affected[].versions`: PEP 440 equality for PyPI ("1.0" == "1.0.0")."""
    if listed == version:
        return True
    if ecosystem == "PyPI":
        left, right = pep440_key(listed), pep440_key(version)
        return left is not None and left == right
    return False
