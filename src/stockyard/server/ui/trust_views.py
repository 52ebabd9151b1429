"""Attestations and scan results as the UI shows them: per artifact on the package page, per
channel on `/ui/{channel}/-/scan`.

- **Attestations** (CEP 27, `stockyard.attest`): the bundles kept in `<subdir>/<filename>.v0.sigs`
  were verified when the server accepted them (upload or `POST .../attestations`); the page
  shows who the signing certificate names (identity, OIDC issuer, workflow, repository, ref,
  commit, run), when the transparency log recorded the signing, and when the server last
  accepted one (the sidecar's last write).
- **Scan results** (`stockyard.scan`): read from the scan database (`<data>/scan.db`, written by
  `stockyard scan run`); nothing is scanned in a request. Without a database the pages say the
  channel was not scanned. Advisory ids link to OSV, which knows GHSA, PYSEC and CVE ids alike.

Only readable channels get here (the handlers check the visitor's read rights first), and only
the builds a page shows are looked at (one sidecar read each, one scan query for all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from stockyard.catalog import Channel
from stockyard.scan.model import Finding
from stockyard.scan.report import ArtifactReport, ChannelReport, artifact_reports, channel_report
from stockyard.scan.service import ArtifactRef
from stockyard.scan.sources import catalog_artifacts
from stockyard.scan.store import ScanStore, default_scan_db
from stockyard.server.state import ServerState
from stockyard.storage import Store
from stockyard.types.errors import InvalidMetadata

#: Where an advisory id is explained (OSV resolves GHSA-, PYSEC- and CVE- ids).
ADVISORY_URL: Final = "https://osv.dev/vulnerability/{}"


@dataclass(frozen=True, slots=True)
class AttestationView:
    """One kept attestation: who published the artifact, as its certificate says."""

    identity: str | None
    issuer: str | None
    workflow: str | None
    repository: str | None
    ref: str | None
    commit: str | None
    run: str | None
    #: When the transparency log recorded the signing (ms), and its log index.
    logged_ms: int | None
    log_index: int | None


@dataclass(frozen=True, slots=True)
class FindingView:
    advisory_id: str
    url: str
    severity: str
    purl: str
    summary: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanView:
    #: clean, vulnerable, error or not-scanned.
    status: str
    max_severity: str | None = None
    findings: list[FindingView] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactTrust:
    """What the package page shows about one build's provenance and scan."""

    attestations: list[AttestationView]
    #: When the server last accepted (verified and kept) an attestation of it (ms).
    verified_ms: int | None = None
    #: The sidecar could not be read (damaged): said on the page instead of the signers.
    attestation_problem: str = ""
    #: None when there is no scan database.
    scan: ScanView | None = None


def advisory_url(advisory_id: str) -> str:
    return ADVISORY_URL.format(quote(advisory_id, safe=""))


def finding_view(finding: Finding) -> FindingView:
    return FindingView(
        advisory_id=finding.advisory_id,
        url=advisory_url(finding.advisory_id),
        severity=finding.severity,
        purl=finding.purl,
        summary=finding.summary,
        aliases=finding.aliases,
        fixed=finding.fixed,
    )


def scan_view(report: ArtifactReport) -> ScanView:
    return ScanView(
        status=report.status,
        max_severity=report.max_severity,
        findings=[finding_view(f) for f in report.findings],
        error=report.error,
    )


def _int(value: Any) -> int | None:
    """An integer from a bundle (Sigstore's JSON writes int64 values as strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def attestation_view(described: dict[str, Any]) -> AttestationView:
    """From `attest.service.describe` of a kept bundle."""
    signer = described.get("signer") or {}
    logged = _int(described.get("integrated_time"))
    return AttestationView(
        identity=signer.get("identity"),
        issuer=signer.get("issuer"),
        workflow=signer.get("workflow"),
        repository=signer.get("repository"),
        ref=signer.get("ref"),
        commit=signer.get("commit"),
        run=signer.get("run"),
        logged_ms=logged * 1000 if logged is not None else None,
        log_index=_int(described.get("log_index")),
    )


def _attestations(store: Store, subdir: str, filename: str) -> ArtifactTrust:
    # Imported here: `attest` pulls in sigstore and cryptography, needed only on this page.
    from stockyard.attest.service import describe
    from stockyard.attest.store import read_bundles, sigs_key

    try:
        bundles = read_bundles(store, subdir, filename)
    except InvalidMetadata:
        return ArtifactTrust([], attestation_problem="its attestations file cannot be read")
    if not bundles:
        return ArtifactTrust([])
    views = []
    for bundle in bundles:
        try:
            views.append(attestation_view(describe(bundle)))
        except (ValueError, TypeError, KeyError):  # a certificate that no longer parses
            continue
    info = store.stat(sigs_key(subdir, filename))
    return ArtifactTrust(views, verified_ms=info.mtime_ns // 1_000_000 if info else None)


def open_scan_store(state: ServerState) -> ScanStore | None:
    """The scan database, or None when `stockyard scan` never ran on this data directory."""
    path = default_scan_db(state.settings.data_path)
    return ScanStore(path, create=False) if path.is_file() else None


def artifact_trust(
    state: ServerState, channel: Channel, builds: Iterable[tuple[str, str, str]]
) -> dict[str, ArtifactTrust]:
    """`<subdir>/<filename>` -> attestations and scan of each (subdir, filename, sha256)."""
    wanted = list(builds)
    store = state.store(channel)
    out = {f"{subdir}/{name}": _attestations(store, subdir, name) for subdir, name, _ in wanted}
    scans = open_scan_store(state)
    if scans is None:
        return out
    try:
        refs = [ArtifactRef(None, subdir, name, sha) for subdir, name, sha in wanted]
        reports = artifact_reports(scans, refs, details=False)
    finally:
        scans.close()
    for report in reports:
        key = f"{report.subdir}/{report.filename}"
        trust = out[key]
        out[key] = ArtifactTrust(
            trust.attestations, trust.verified_ms, trust.attestation_problem, scan_view(report)
        )
    return out


@dataclass(frozen=True, slots=True)
class ScannedArtifact:
    subdir: str
    filename: str
    #: The package's page.
    name: str
    scan: ScanView


@dataclass(frozen=True, slots=True)
class ChannelScan:
    report: ChannelReport
    artifacts: list[ScannedArtifact]


def channel_scan(state: ServerState, channel: Channel) -> ChannelScan | None:
    """The channel's scan summary and its vulnerable or unreadable artifacts; None without a
    scan database."""
    from stockyard.types.identifiers import parse_artifact_filename

    scans = open_scan_store(state)
    if scans is None:
        return None
    try:
        refs = catalog_artifacts(state.catalog, channel.name, state.store(channel))
        report = channel_report(scans, channel.name, refs)
    finally:
        scans.close()
    artifacts = [
        ScannedArtifact(
            r.subdir, r.filename, parse_artifact_filename(r.filename).name, scan_view(r)
        )
        for r in report.reports
    ]
    return ChannelScan(report, artifacts)
