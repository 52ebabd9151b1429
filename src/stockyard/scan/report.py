"""Scan reports per artifact and per channel, built from the store (no artifact is read).

Advisories that are aliases of each other (a GHSA and the PYSEC of the same CVE) are shown
once per component: the most severe one, listing the others among its aliases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from stockyard.scan.model import SEVERITY_ORDER, Component, Finding, severity_rank
from stockyard.scan.service import ArtifactRef, with_sha256
from stockyard.scan.store import ScanStore

Status = Literal["clean", "vulnerable", "error", "not-scanned"]


class ArtifactReport(msgspec.Struct, omit_defaults=True):
    subdir: str
    filename: str
    sha256: str
    status: Status
    max_severity: str | None = None
    findings: list[Finding] = []
    components: list[Component] = []
    warnings: list[str] = []
    error: str | None = None


class ChannelReport(msgspec.Struct):
    channel: str
    artifacts: int
    scanned: int
    not_scanned: int
    errors: int
    vulnerable: int
    #: Distinct (component, advisory) findings per severity, over the channel's artifacts.
    by_severity: dict[str, int]
    database: dict[str, Any]
    reports: list[ArtifactReport]


def collapse_aliases(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per (purl, vulnerability): advisories that alias each other merge into the
    most severe, which lists the other ids among its aliases."""
    out: list[Finding] = []
    ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity), f.advisory_id))
    for finding in ordered:
        names = {finding.advisory_id, *finding.aliases}
        for index, kept in enumerate(out):
            if kept.purl == finding.purl and names & {kept.advisory_id, *kept.aliases}:
                merged = sorted({*kept.aliases, *names} - {kept.advisory_id})
                fixed = tuple(dict.fromkeys((*kept.fixed, *finding.fixed)))
                out[index] = msgspec.structs.replace(kept, aliases=tuple(merged), fixed=fixed)
                break
        else:
            out.append(finding)
    return sorted(out, key=lambda f: (f.purl, -severity_rank(f.severity), f.advisory_id))


def max_severity(findings: Sequence[Finding]) -> str | None:
    if not findings:
        return None
    return SEVERITY_ORDER[max(severity_rank(f.severity) for f in findings)]


def artifact_reports(
    store: ScanStore, refs: Sequence[ArtifactRef], *, details: bool = True
) -> list[ArtifactReport]:
    """The report of each artifact of `refs` (hashing those whose sha256 is not known)."""
    refs = [with_sha256(r) for r in refs]
    shas = [r.sha256 for r in refs if r.sha256]
    scanned = store.scanned(shas)
    errors = store.scan_errors(shas)
    findings = store.findings(shas)
    out = []
    for ref in refs:
        sha = ref.sha256 or ""
        report = ArtifactReport(ref.subdir, ref.filename, sha, "not-scanned")
        if sha in errors:
            report.status, report.error = "error", errors[sha]
        elif sha in scanned:
            report.findings = collapse_aliases(findings.get(sha, []))
            report.status = "vulnerable" if report.findings else "clean"
            report.max_severity = max_severity(report.findings)
            ident = store.identification(sha) if details else None
            if ident is not None:
                report.components, report.warnings = ident.components, ident.warnings
        out.append(report)
    return out


def channel_report(
    store: ScanStore, channel: str, refs: Sequence[ArtifactRef], *, include_clean: bool = False
) -> ChannelReport:
    """The channel's summary, with the reports of its vulnerable and unreadable artifacts (and
    of every artifact with `include_clean`)."""
    reports = artifact_reports(store, refs, details=False)
    counts = Counter(r.status for r in reports)
    severities = Counter(f.severity for r in reports for f in r.findings)
    meta = store.meta()
    return ChannelReport(
        channel=channel,
        artifacts=len(reports),
        scanned=counts["clean"] + counts["vulnerable"] + counts["error"],
        not_scanned=counts["not-scanned"],
        errors=counts["error"],
        vulnerable=counts["vulnerable"],
        by_severity={level: severities[level] for level in reversed(SEVERITY_ORDER)},
        database={
            "advisories": store.advisory_count(),
            "source": meta.get("osv_source"),
            "loaded_at": int(meta["osv_loaded_at"]) if "osv_loaded_at" in meta else None,
        },
        reports=[r for r in reports if include_clean or r.status in ("vulnerable", "error")],
    )


def to_builtins(value: Any) -> Any:
    """JSON-ready builtins of a report (for `--json` and the API)."""
    return msgspec.to_builtins(value)
