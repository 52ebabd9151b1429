"""An advisory's severity: a CVSS base score computed from its vector (the `cvss` library), or
the database's own label (`database_specific.severity`, as GitHub's advisories carry), mapped
to low / medium / high / critical with the CVSS v3 qualitative bands."""

from __future__ import annotations

from typing import Any, Final

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from stockyard.scan.model import Severity

#: Preference when an advisory carries several vectors: v3 is what most databases score with.
_CALCULATORS: Final = (("CVSS_V3", CVSS3), ("CVSS_V4", CVSS4), ("CVSS_V2", CVSS2))
_LABELS: Final[dict[str, Severity]] = {
    "LOW": "low",
    "MODERATE": "medium",
    "MEDIUM": "medium",
    "HIGH": "high",
    "CRITICAL": "critical",
}


def level_for_score(score: float) -> Severity:
    """CVSS v3 bands: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10 critical (0: low)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


def cvss_score(kind: str, vector: str) -> float | None:
    """The base score of one `severity[]` entry; None if unknown type or malformed vector."""
    for name, calculator in _CALCULATORS:
        if kind == name:
            try:
                return float(calculator(vector).base_score)
            except (CVSSError, ValueError, TypeError, KeyError, IndexError):
                return None
    return None


def _entries(document: dict[str, Any]) -> list[Any]:
    entries = list(document.get("severity") or [])
    for affected in document.get("affected") or []:
        if isinstance(affected, dict):
            entries.extend(affected.get("severity") or [])
    return entries


def advisory_severity(document: dict[str, Any]) -> tuple[Severity, float | None]:
    """(level, score) of an OSV document; ("unknown", None) when nothing usable is given."""
    best: dict[str, float] = {}
    for entry in _entries(document):
        if not isinstance(entry, dict):
            continue
        kind, vector = entry.get("type"), entry.get("score")
        if isinstance(kind, str) and isinstance(vector, str) and kind not in best:
            score = cvss_score(kind, vector)
            if score is not None:
                best[kind] = score
    for kind, _ in _CALCULATORS:
        if kind in best:
            return level_for_score(best[kind]), best[kind]
    specific = document.get("database_specific")
    label = specific.get("severity") if isinstance(specific, dict) else None
    if isinstance(label, str) and label.upper() in _LABELS:
        return _LABELS[label.upper()], None
    return "unknown", None
