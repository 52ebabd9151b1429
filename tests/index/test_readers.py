"""Admission in the reader processes (issue 7 §6, cold indexing).

A cold `stockyard index` reads, admits and encodes every artifact in its reader processes
(`stockyard.index.ingest.index_one`); the main process only assembles rows. What a run
publishes and reports must not depend on where that happens: the process pool (at least
`_POOL_THRESHOLD` artifacts and more than one worker) and one process give the same files,
counts, skipped files (read failures first, then admission's refusals), warnings and CEP 47
stamps.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from stockyard.index import ingest
from stockyard.index.ingest import Indexed, ReadFailure, ReadJob, Refused, SameBytes, index_one
from stockyard.index.run import IndexOptions, IndexResult, index_channel

from .conftest import build_artifact
from .test_admission import HOSTILE, LEGACY, artifact, index_json

NOW = 1_800_000_000_000
#: Enough artifacts to go through the process pool.
GOOD = ingest._POOL_THRESHOLD + 6


def _channel(root: Path) -> Path:
    """Good artifacts (with run_exports, in both formats), legacy shapes (published with
    warnings), hostile ones (refused by admission), an unreadable file and one in the wrong
    subdir (read failures)."""
    for i in range(GOOD):
        build_artifact(
            root,
            "linux-64" if i % 3 else "noarch",
            f"pkg{i}",
            fmt="tar.bz2" if i % 5 == 0 else "conda",
            depends=[f"dep{i} >=1"],
            run_exports={"weak": [f"pkg{i} >=1.0"]} if i % 2 else None,
        )
    for index, _ in LEGACY.values():
        artifact(root, index, subdir=index.get("subdir", "linux-64"))
    for index, _ in HOSTILE.values():
        artifact(root, index)
    (root / "linux-64" / "broken-1.0-0.conda").write_bytes(b"PK\x03\x04 truncated")
    wrong = build_artifact(root, "noarch", "wrongdir")
    wrong.rename(root / "linux-64" / wrong.name)
    return root


def _report(result: IndexResult, root: Path) -> dict[str, Any]:
    """The result with paths relative to the channel and without timings."""
    out = result.to_dict()
    for key in ("seconds", "timings", "channel"):
        out.pop(key)
    for entry in (*out["skipped"], *out["warnings"]):
        entry["path"] = os.path.relpath(entry["path"], root)
    return out


def _published(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".stockyard" not in p.parts and p.name.endswith((".json", ".zst"))
    }


def test_pool_and_one_process_publish_and_report_the_same(tmp_path: Path) -> None:
    pooled = _channel(tmp_path / "pooled")
    alone = tmp_path / "alone"
    shutil.copytree(pooled, alone)
    assert sum(1 for p in pooled.rglob("*") if p.is_file()) >= ingest._POOL_THRESHOLD
    results = {
        "pooled": index_channel(pooled, IndexOptions(workers=2, clock=lambda: NOW)),
        "alone": index_channel(alone, IndexOptions(workers=1, clock=lambda: NOW)),
    }
    reports = {name: _report(r, tmp_path / name) for name, r in results.items()}
    assert reports["pooled"] == reports["alone"]
    report = reports["pooled"]
    assert report["added"] == GOOD + len(LEGACY)
    # Read failures come first, then admission's refusals (as before admission moved).
    skipped = [Path(s["path"]).name for s in report["skipped"]]
    assert skipped[:2] == ["broken-1.0-0.conda", "wrongdir-1.0-0.conda"]
    assert {name.removesuffix(".conda") for name in skipped[2:]} == set(HOSTILE)
    assert len(report["warnings"]) == len(LEGACY)
    assert _published(pooled) == _published(alone)
    linux = json.loads((pooled / "linux-64" / "repodata.json").read_bytes())
    record = linux["packages.conda"]["pkg1-1.0-0.conda"]
    assert record["indexed_timestamp"] == NOW
    assert record["run_exports"] == {"weak": ["pkg1 >=1.0"]}


def test_pool_keeps_seeded_stamps_and_skips_touched_files(tmp_path: Path) -> None:
    """CEP 47 seeds (a lost catalog) and same-bytes files reach the readers with the job."""
    root = tmp_path / "chan"
    for i in range(GOOD):
        build_artifact(root, "linux-64", f"pkg{i}", payload=f"{i}".encode())
    index_channel(root, IndexOptions(workers=2, clock=lambda: 1_000))
    shutil.rmtree(root / ".stockyard")  # the catalog is gone: stamps come from published files
    (root / "linux-64" / "pkg0-1.0-0.conda").unlink()
    build_artifact(root, "linux-64", "pkg0", payload=b"new bytes")
    result = index_channel(root, IndexOptions(workers=2, clock=lambda: 9_000))
    assert result.added == GOOD
    records = json.loads((root / "linux-64" / "repodata.json").read_bytes())["packages.conda"]
    stamps = {name: record["indexed_timestamp"] for name, record in records.items()}
    assert stamps.pop("pkg0-1.0-0.conda") == 9_000  # new bytes: a new artifact
    assert set(stamps.values()) == {1_000}
    for path in (root / "linux-64").glob("*.conda"):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    touched = index_channel(root, IndexOptions(workers=2, clock=lambda: 20_000))
    assert (touched.changed, touched.unchanged, touched.files_written) == (0, GOOD, 0)


def test_each_outcome_of_a_reader_crosses_processes_intact(tmp_path: Path) -> None:
    root = tmp_path / "chan"
    good = build_artifact(root, "linux-64", "good", run_exports={"weak": ["good"]})
    warned = artifact(root, index_json("family", license_family="GPLv3+"))
    hostile = artifact(root, index_json("legacymd5", legacy_bz2_md5="not-hex"))

    def job(path: Path, subdir: str = "linux-64", known: str | None = None) -> ReadJob:
        return ReadJob(str(path), path.name, subdir, 7, NOW, None, known)

    indexed = index_one(job(good))
    assert isinstance(indexed, Indexed) and not indexed.warnings
    assert indexed.row.mtime_ns == 7 and indexed.row.indexed_timestamp == NOW
    assert json.loads(indexed.row.record)["run_exports"] == {"weak": ["good"]}
    with_warning = index_one(job(warned))
    assert isinstance(with_warning, Indexed)
    assert [w.pointer for w in with_warning.warnings] == ["/license_family"]
    same = index_one(job(good, known=indexed.row.sha256))
    assert same == SameBytes(good.stat().st_size)
    refused = index_one(job(hostile))
    assert isinstance(refused, Refused) and "/legacy_bz2_md5" in refused.reason
    misplaced = index_one(job(good, subdir="noarch"))
    assert isinstance(misplaced, ReadFailure) and "subdir" in misplaced.reason
    badname = index_one(job(good)._replace(filename="no-version.conda"))
    assert isinstance(badname, ReadFailure) and badname.path == str(good)
    for outcome in (indexed, with_warning, same, refused, misplaced, badname):
        assert pickle.loads(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)) == outcome
