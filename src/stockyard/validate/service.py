"""`validate_path` and `validate_document`: the public entry points of the validation service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockyard.types.errors import InvalidMetadata
from stockyard.validate.documents import check_document
from stockyard.validate.kinds import KINDS, detect_kind, sniff_kind
from stockyard.validate.loading import DEFAULT_LIMIT, LIMITS, load, read_bytes
from stockyard.validate.report import Problem, ValidationReport, as_notes, pointer_order


def validate_path(path: Path, *, kind: str | None = None) -> ValidationReport:
    """Validate one file; the kind comes from its name unless given.

    Problems in the content (including undecodable bytes) are in the report; a path that does not
    exist or cannot be read raises a StockyardError, and so does a name whose kind is unknown.
    """
    detected = detect_kind(path)
    sniffed = kind is None and detected is None
    kind = kind or detected or "packages"
    _check_kind(kind)
    if kind == "artifact":
        from stockyard.validate.artifacts import validate_artifact

        return validate_artifact(path)
    raw = read_bytes(path, LIMITS.get(kind, DEFAULT_LIMIT))
    loaded = load(path, raw, kind)
    notes = loaded.notes
    if sniffed:
        # The name does not tell: a JSON document's top-level keys may.
        kind = sniff_kind(loaded.data) if loaded.decoded else None
        if kind is None:
            raise InvalidMetadata(
                f"cannot tell what kind of document {path} is from its name or content",
                hint=f"Pass --kind, one of: {', '.join(KINDS)}.",
            )
        notes = [*notes, Problem("", f"kind {kind!r} guessed from the content; pass --kind to say")]
    if not loaded.decoded:
        return ValidationReport(str(path), kind, False, loaded.problems, 0, as_notes(notes))
    report = validate_document(loaded.data, kind, source=str(path))
    problems = loaded.problems + report.problems
    return ValidationReport(
        str(path),
        kind,
        not problems,
        problems,
        report.records,
        as_notes(notes) + report.notes,
        report.warnings,
    )


def validate_document(data: Any, kind: str, *, source: str) -> ValidationReport:
    """Validate an already decoded document (JSON, or msgpack for shards and shard indexes).

    `source` names where the data came from; it becomes the report's `path`.
    """
    _check_kind(kind)
    if kind == "artifact":
        raise ValueError("an artifact is validated from its file: use validate_path")
    found = check_document(data, kind)
    problems = sorted(found.problems, key=pointer_order)
    warnings = sorted(found.warnings, key=pointer_order)
    return ValidationReport(
        source, kind, not problems, problems, found.records, as_notes(found.notes), warnings
    )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidMetadata(
            f"unknown document kind {kind!r}", hint=f"Use one of: {', '.join(KINDS)}."
        )
