"""Load OSV data offline: OSV's published export (a zip such as PyPI's `all.zip`, a folder of
OSV JSON documents, or one document) into normalized `Advisory` values.

Liberal in what loads, strict in what matches: a malformed document is skipped, a malformed
range is dropped from its advisory (the rest of the advisory still matches), each with a counted
warning; nothing in the data can crash the load. `GIT` ranges are ignored (matching them needs
the repository's history); so are ranges of ecosystems whose version order we do not know.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from stockyard.scan.model import Severity
from stockyard.scan.pymeta import pypi_name
from stockyard.scan.severity import advisory_severity
from stockyard.scan.versions import event_key, ordering_for
from stockyard.types.errors import StockyardError

EventKind = Literal["introduced", "fixed", "last_affected", "limit"]
EVENT_KINDS: Final = ("introduced", "fixed", "last_affected", "limit")
#: A single OSV document larger than this is skipped (the largest real ones are ~1 MB).
MAX_DOCUMENT_BYTES: Final = 16 << 20
#: Warning messages kept per load (all are counted).
MAX_WARNING_MESSAGES: Final = 200


class OsvLoadError(StockyardError):
    """The export itself cannot be read (missing path, not a zip, not a folder)."""

    default_hint = (
        "Give OSV's export: a zip such as https://osv-vulnerabilities.storage.googleapis.com/"
        "PyPI/all.zip downloaded beforehand, or a folder of OSV JSON documents."
    )


class Event(msgspec.Struct, frozen=True, array_like=True):
    kind: EventKind
    version: str


class Range(msgspec.Struct, frozen=True, array_like=True):
    #: "pep440" or "semver": how this range's versions are ordered.
    ordering: str
    events: tuple[Event, ...]


class Affected(msgspec.Struct, frozen=True, omit_defaults=True):
    ecosystem: str
    name: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()


class Advisory(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    modified: str = ""
    summary: str = ""
    aliases: tuple[str, ...] = ()
    severity: Severity = "unknown"
    score: float | None = None
    affected: tuple[Affected, ...] = ()


@dataclass
class LoadResult:
    advisories: list[Advisory] = field(default_factory=list)
    documents: int = 0
    skipped_documents: int = 0
    skipped_ranges: int = 0
    withdrawn: int = 0
    ignored_ranges: int = 0  # GIT, or an ecosystem whose order we do not know
    warning_count: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_WARNING_MESSAGES:
            self.warnings.append(message)

    @property
    def ecosystems(self) -> set[str]:
        return {a.ecosystem for advisory in self.advisories for a in advisory.affected}


def load_osv_export(path: str | os.PathLike[str]) -> LoadResult:
    """Every advisory of the export at `path`, with the counts and warnings of what was skipped."""
    result = LoadResult()
    for where, raw in iter_export_documents(Path(path), result):
        result.documents += 1
        try:
            document = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            result.skipped_documents += 1
            result.warn(f"{where}: not valid JSON, skipped")
            continue
        withdrawn = result.withdrawn
        advisory = parse_document(document, where, result)
        if advisory is None:
            result.skipped_documents += result.withdrawn == withdrawn
        elif advisory.affected:
            result.advisories.append(advisory)
    return result


def iter_export_documents(path: Path, result: LoadResult) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each `.json` document of a zip, a folder (recursively) or a file."""
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file():
                yield from _file_document(file, str(file.relative_to(path)), result)
    elif path.is_file() and zipfile.is_zipfile(path):
        yield from _zip_documents(path, result)
    elif path.is_file():
        yield from _file_document(path, path.name, result)
    else:
        raise OsvLoadError(f"{path}: no such file or folder")


def _file_document(file: Path, where: str, result: LoadResult) -> Iterator[tuple[str, bytes]]:
    if not where.endswith(".json"):
        result.warn(f"{where}: not a .json document, skipped")
        return
    if file.stat().st_size > MAX_DOCUMENT_BYTES:
        result.skipped_documents += 1
        result.warn(f"{where}: larger than {MAX_DOCUMENT_BYTES} bytes, skipped")
        return
    yield where, file.read_bytes()


def _zip_documents(path: Path, result: LoadResult) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise OsvLoadError(f"{path}: cannot read the zip ({exc})") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".json"):
                result.warn(f"{info.filename}: not a .json document, skipped")
                continue
            try:
                with archive.open(info) as member:
                    # Read one byte past the bound: a member lying about its size stops here.
                    raw = member.read(MAX_DOCUMENT_BYTES + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                result.skipped_documents += 1
                result.warn(f"{info.filename}: unreadable zip member ({exc}), skipped")
                continue
            if len(raw) > MAX_DOCUMENT_BYTES:
                result.skipped_documents += 1
                result.warn(f"{info.filename}: larger than {MAX_DOCUMENT_BYTES} bytes, skipped")
                continue
            yield info.filename, raw


def parse_document(document: Any, where: str, result: LoadResult) -> Advisory | None:
    """One OSV document as an `Advisory`; None (with a warning) when it cannot be used."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        result.warn(f"{where}: not an OSV document (no string id), skipped")
        return None
    if document.get("withdrawn"):
        result.withdrawn += 1
        return None
    affected_list = document.get("affected") or []
    if not isinstance(affected_list, list):
        result.warn(f"{where}: affected is not a list, skipped")
        return None
    affected = []
    for index, entry in enumerate(affected_list):
        parsed = _parse_affected(entry, f"{where} affected[{index}]", result)
        if parsed is not None:
            affected.append(parsed)
    severity, score = advisory_severity(document)
    return Advisory(
        id=document["id"],
        modified=_text(document.get("modified")),
        summary=_text(document.get("summary")) or _text(document.get("details"))[:200],
        aliases=tuple(a for a in document.get("aliases") or [] if isinstance(a, str)),
        severity=severity,
        score=score,
        affected=tuple(affected),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_affected(entry: Any, where: str, result: LoadResult) -> Affected | None:
    package = entry.get("package") if isinstance(entry, dict) else None
    if not isinstance(package, dict):
        result.warn(f"{where}: no package, skipped")
        return None
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not isinstance(name, str) or not name:
        result.warn(f"{where}: package without ecosystem and name, skipped")
        return None
    ecosystem = ecosystem.split(":", 1)[0]  # "Debian:11" -> "Debian"
    if ecosystem == "PyPI":
        name = pypi_name(name)
    ranges = []
    for index, raw in enumerate(entry.get("ranges") or []):
        parsed = _parse_range(raw, ecosystem, f"{where} ranges[{index}]", result)
        if parsed is not None:
            ranges.append(parsed)
    versions = entry.get("versions") or []
    if not isinstance(versions, list):
        result.warn(f"{where}: versions is not a list, ignored")
        versions = []
    listed = tuple(v for v in versions if isinstance(v, str))
    if not ranges and not listed:
        return None
    return Affected(ecosystem=ecosystem, name=name, ranges=tuple(ranges), versions=listed)


def _parse_range(raw: Any, ecosystem: str, where: str, result: LoadResult) -> Range | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return _malformed(result, where, "not a range object with a type")
    ordering = ordering_for(raw["type"], ecosystem)
    if ordering is None:
        result.ignored_ranges += 1
        return None
    events = raw.get("events")
    if not isinstance(events, list) or not events:
        return _malformed(result, where, "no events")
    parsed: list[Event] = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            return _malformed(result, where, f"event {event!r} must have exactly one key")
        ((kind, version),) = event.items()
        if kind not in EVENT_KINDS or not isinstance(version, str):
            return _malformed(result, where, f"unknown event {event!r}")
        if event_key(ordering, kind, version) is None:
            return _malformed(result, where, f"{kind} version {version!r} is not {ordering}")
        parsed.append(Event(kind=kind, version=version))
    kinds = {e.kind for e in parsed}
    if "introduced" not in kinds:
        return _malformed(result, where, "no introduced event")
    if "fixed" in kinds and "last_affected" in kinds:
        return _malformed(result, where, "both fixed and last_affected events")
    return Range(ordering=ordering, events=tuple(parsed))


def _malformed(result: LoadResult, where: str, reason: str) -> Range | None:
    result.skipped_ranges += 1
    result.warn(f"{where}: malformed range ({reason}), skipped")
    return None
