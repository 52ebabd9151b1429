"""What a scan produces, as msgspec Structs (stored encoded, one row per artifact sha256)."""

from __future__ import annotations

from typing import Final

import msgspec

from stockyard.types.policy import Severity as Severity  # one definition, with the policy

#: Bumped when identification changes what it finds: older rows are scanned again.
SCANNER_VERSION: Final = 1

#: Severities from least to most serious; "unknown" (no usable score) ranks lowest.
SEVERITY_ORDER: Final[tuple[Severity, ...]] = ("unknown", "low", "medium", "high", "critical")


_RANK: Final[dict[str, int]] = {severity: rank for rank, severity in enumerate(SEVERITY_ORDER)}


def severity_rank(severity: str) -> int:
    """0 for unknown (or anything unrecognised) up to 4 for critical."""
    return _RANK.get(severity, 0)


class Component(msgspec.Struct, frozen=True, omit_defaults=True):
    """Something inside an artifact that a vulnerability database can name."""

    purl: str
    #: The OSV ecosystem ("PyPI", "npm"...); "" when OSV has none for this kind of package.
    ecosystem: str
    #: The name as OSV spells it (PEP 503-normalized for PyPI).
    name: str
    version: str
    #: "dist-info", "egg-info" or "record-purls".
    source: str
    #: The archive member it was read from (empty for the record's purls).
    path: str = ""


class SourceUrl(msgspec.Struct, frozen=True):
    """A URL from info/about.json, with the key it was found under (home, dev_url...)."""

    kind: str
    url: str


class Identification(msgspec.Struct, omit_defaults=True):
    """Everything identifying one artifact's contents."""

    sha256: str
    filename: str
    name: str
    version: str
    build: str
    subdir: str = ""
    components: list[Component] = []
    #: The record's `purls` as written (valid or not; invalid ones also give a warning).
    record_purls: list[str] = []
    source_urls: list[SourceUrl] = []
    license: str | None = None
    #: Files under info/licenses/, relative to it.
    license_files: list[str] = []
    #: Python metadata folders seen, also those past the cap (see `warnings`).
    python_metadata_seen: int = 0
    warnings: list[str] = []
    scanner_version: int = SCANNER_VERSION


class Finding(msgspec.Struct, frozen=True, omit_defaults=True):
    """One advisory affecting one component of an artifact."""

    advisory_id: str
    purl: str
    severity: Severity
    score: float | None = None
    summary: str = ""
    aliases: tuple[str, ...] = ()
    #: Versions that fix it (from `fixed` events of the matching ranges), when known.
    fixed: tuple[str, ...] = ()
