"""What validation returns: one report per file, one problem per thing wrong."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth knowing) in a document.

    `pointer` is an RFC 6901 JSON pointer into the document ("" for the root). For an artifact it
    is prefixed with the archive member, e.g. "info/index.json/name".
    """

    pointer: str
    message: str


@dataclass(frozen=True, slots=True)
class ValidationReport:
    path: str
    kind: str
    valid: bool
    problems: list[Problem]
    #: How many package records (or entries, for channeldata and run_exports) were checked.
    records: int = 0
    #: Things that are accepted but worth knowing, e.g. conda's client cache keys in repodata.
    notes: list[Problem] = field(default_factory=list)


def pointer_order(problem: Problem) -> list[tuple[int, int, str]]:
    """Sort key: document order for humans (array indexes numerically), problems of a record
    together."""
    return [
        (0, int(t), "") if t.isascii() and t.isdigit() else (1, 0, t)
        for t in problem.pointer.split("/")
    ]
