"""What validation returns: one report per file, one problem per thing wrong."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from stockyard.types.problems import Problem

__all__ = ["Problem", "ValidationReport", "as_notes", "pointer_order"]


@dataclass(frozen=True, slots=True)
class ValidationReport:
    path: str
    kind: str
    #: No problem (severity "error"); warnings do not make a document invalid.
    valid: bool
    problems: list[Problem]
    #: How many package records (or entries, for channeldata and run_exports) were checked.
    records: int = 0
    #: Things that are accepted but worth knowing, e.g. conda's client cache keys in repodata.
    notes: list[Problem] = field(default_factory=list)
    #: Accepted and published as they are, but not what the strict model allows (legacy shapes
    #: such as a boolean `noarch`, CEP 47's SHOULDs on timestamps): see
    #: `stockyard.types.admission`. `stockyard validate --strict` fails on them.
    warnings: list[Problem] = field(default_factory=list)


def pointer_order(problem: Problem) -> list[tuple[int, int, str]]:
    """Sort key: document order for humans (array indexes numerically), problems of a record
    together."""
    return [
        (0, int(t), "") if t.isascii() and t.isdigit() else (1, 0, t)
        for t in problem.pointer.split("/")
    ]


def as_notes(problems: list[Problem]) -> list[Problem]:
    """`problems` with severity "note" (notes are built as plain Problems)."""
    return [p if p.severity == "note" else replace(p, severity="note") for p in problems]
