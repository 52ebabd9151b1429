from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockyard.scan.model import Finding
from stockyard.scan.policy import ScanPolicy, VulnerableUpload, check_upload
from stockyard.scan.report import channel_report, collapse_aliases
from stockyard.scan.service import scan_artifacts, update_database
from stockyard.scan.sources import channel_dir_artifacts
from stockyard.scan.store import ScanStore
from stockyard.scan.upload import scan_upload
from tests.scan.builders import python_artifact
from tests.scan.conftest import OSV_FOLDER


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    root = tmp_path / "channel"
    python_artifact(
        root / "noarch",
        "requests",
        "2.30.0",
        dists=[("requests", "2.30.0"), ("urllib3", "1.26.4"), ("Jinja2", "3.1.2")],
    )
    python_artifact(
        root / "noarch",
        "requests",
        "2.31.0",
        fmt="tar.bz2",
        dists=[("requests", "2.31.0"), ("urllib3", "2.0.7")],
    )
    (root / "noarch" / "broken-1.0-0.conda").write_bytes(b"PK\x03\x04garbage")
    return root


def test_scan_once_per_sha256_then_rematch_without_reading(channel: Path, tmp_path: Path) -> None:
    store = ScanStore(tmp_path / "scan.db")
    refs = channel_dir_artifacts(channel)
    first = scan_artifacts(store, refs)
    assert (first.scanned, len(first.errors), first.findings) == (2, 1, 0)
    again = scan_artifacts(store, refs)
    assert (again.scanned, again.already_scanned) == (0, 3)
    # New vulnerability data: matched against the stored components, artifacts unreadable now.
    moved = tmp_path / "moved"
    shutil.move(channel, moved)
    update = update_database(store, OSV_FOLDER)
    assert update.findings == 5  # PYSEC + GHSA of requests, 2 urllib3, 1 jinja2
    report = channel_report(store, "c", channel_dir_artifacts(moved))
    assert (report.artifacts, report.vulnerable, report.errors) == (3, 1, 1)
    assert report.by_severity == {"critical": 0, "high": 1, "medium": 3, "low": 0, "unknown": 0}
    vulnerable = next(r for r in report.reports if r.status == "vulnerable")
    requests = [f for f in vulnerable.findings if f.purl.startswith("pkg:pypi/requests")]
    assert len(requests) == 1 and "PYSEC-2023-74" in requests[0].aliases  # aliases collapsed
    assert requests[0].fixed == ("2.31.0",)


def test_update_replaces_the_ecosystem_and_rematches(channel: Path, tmp_path: Path) -> None:
    store = ScanStore(tmp_path / "scan.db")
    update_database(store, OSV_FOLDER)
    scan_artifacts(store, channel_dir_artifacts(channel))
    smaller = tmp_path / "osv"
    smaller.mkdir()
    shutil.copy(OSV_FOLDER / "GHSA-h5c8-rqwp-cp95.json", smaller)
    update = update_database(store, smaller)
    assert (update.advisories_stored, update.findings) == (1, 1)
    merged = update_database(store, OSV_FOLDER / "GHSA-3f63-hfp8-52jq.json", merge=True)
    assert merged.advisories_stored == 2


def test_rescan_is_forced_and_results_survive_reopening(channel: Path, tmp_path: Path) -> None:
    store = ScanStore(tmp_path / "scan.db")
    scan_artifacts(store, channel_dir_artifacts(channel))
    store.close()
    reopened = ScanStore(tmp_path / "scan.db")
    assert reopened.scan_count() == 3
    assert scan_artifacts(reopened, channel_dir_artifacts(channel), force=True).scanned == 2


def _finding(advisory_id: str, severity: str, aliases: tuple[str, ...] = ()) -> Finding:
    return Finding(advisory_id, "pkg:pypi/x@1", severity, aliases=aliases)  # type: ignore[arg-type]


def test_policy_decisions() -> None:
    findings = [
        _finding("A", "medium"),
        _finding("B", "critical", ("CVE-1",)),
        _finding("C", "unknown"),
    ]
    assert check_upload(findings, ScanPolicy(mode="flag")) is None
    refusal = check_upload(findings, ScanPolicy(mode="refuse", threshold="high"))
    assert refusal is not None and [f.advisory_id for f in refusal.findings] == ["B"]
    assert "B (critical)" in refusal.message
    assert isinstance(refusal.to_error(), VulnerableUpload)
    assert check_upload(findings, ScanPolicy(mode="refuse", accept=("CVE-1",))) is None
    low = check_upload(findings, ScanPolicy(mode="refuse", threshold="low", refuse_unknown=True))
    assert low is not None and len(low.findings) == 3


def test_collapse_keeps_the_most_severe_alias() -> None:
    merged = collapse_aliases(
        [_finding("PYSEC-1", "unknown", ("GHSA-1",)), _finding("GHSA-1", "high")]
    )
    assert [(f.advisory_id, f.aliases) for f in merged] == [("GHSA-1", ("PYSEC-1",))]


def test_upload_hook(tmp_path: Path) -> None:
    store = ScanStore(tmp_path / "scan.db")
    update_database(store, OSV_FOLDER)
    bad = python_artifact(tmp_path, "imaging", dists=[("Pillow", "10.1.0")])
    good = python_artifact(tmp_path, "imaging", "2.0", dists=[("Pillow", "10.2.0")])
    policy = ScanPolicy(mode="refuse", threshold="critical")
    refusal = scan_upload(store, bad, bad.name, policy)
    assert refusal is not None and "GHSA-3f63-hfp8-52jq" in refusal.message
    assert scan_upload(store, good, good.name, policy) is None
    assert scan_upload(store, bad, bad.name, ScanPolicy(mode="flag")) is None
    assert json.loads(json.dumps(refusal.to_error().to_dict()))["error"] == "VulnerableUpload"
