"""Scanning benchmark: identification rate over a synthesized channel, and the re-match time of
the whole channel after an OSV update.

The corpus is `stockyard.testing.corpus.synthesize_channel` (real metadata, tiny payloads) plus
a share of Python artifacts carrying 1 to 4 `*.dist-info` folders each (names and versions drawn
from the corpus' records), and a synthetic OSV export of PyPI advisories (real-shaped ranges:
introduced/fixed pairs, last_affected, explicit versions; CVSS v3 vectors) over those names
and unrelated ones. Measured in one process, scanning with a process pool:

- cold: every artifact identified and stored (artifacts/s);
- again: nothing new (every sha256 already scanned);
- db update: load the export (documents/s) and re-match every stored component;
- re-match: a second update of the same size, i.e. the cost of new vulnerability data.

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/scan.py --count 13000 [--advisories 20000] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from stockyard.package.create import write_artifact
from stockyard.scan.service import scan_artifacts, update_database
from stockyard.scan.sources import channel_dir_artifacts
from stockyard.scan.store import ScanStore
from stockyard.testing.corpus import synthesize_channel

VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
]


def _python_artifact(dest: Path, i: int, dists: list[tuple[str, str]]) -> None:
    name = f"py-bundle-{i}"
    members = {}
    for dist, version in dists:
        folder = f"lib/python3.11/site-packages/{dist}-{version}.dist-info"
        members[f"{folder}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n".encode()
        )
    index = {
        "name": name,
        "version": "1.0",
        "build": "py_0",
        "build_number": 0,
        "depends": [],
        "license": "MIT",
        "subdir": "noarch",
        "noarch": "python",
        "timestamp": 1_700_000_000_000,
    }
    paths = [
        {
            "_path": p,
            "path_type": "hardlink",
            "size_in_bytes": len(d),
            "sha256": hashlib.sha256(d).hexdigest(),
        }
        for p, d in members.items()
    ]
    members["info/index.json"] = json.dumps(index).encode()
    members["info/paths.json"] = json.dumps({"paths_version": 1, "paths": paths}).encode()
    members["info/about.json"] = b'{"home": "https://example.org"}'
    write_artifact(dest / "noarch" / f"{name}-1.0-py_0.conda", members, zstd_level=3, fsync=False)


def _pool(rng: random.Random, corpus: Path, size: int) -> list[tuple[str, str]]:
    """(name, version) pairs taken from the corpus' filenames (real package names)."""
    seen = {}
    for artifact in corpus.glob("*/*.conda"):
        name, version, _ = artifact.name[: -len(".conda")].rsplit("-", 2)
        seen.setdefault(name, version)
    pairs = sorted(seen.items())
    rng.shuffle(pairs)
    return pairs[:size]


def _advisory(rng: random.Random, i: int, name: str, version: str) -> dict[str, Any]:
    major = version.split(".")[0] if version.split(".")[0].isdigit() else "1"
    kind = rng.random()
    if kind < 0.6:
        events = [
            {"introduced": "0"},
            {"fixed": f"{int(major) + rng.choice((0, 1))}.{rng.randint(0, 9)}"},
        ]
    elif kind < 0.8:
        events = [{"introduced": f"{major}.0"}, {"last_affected": f"{major}.{rng.randint(0, 20)}"}]
    else:
        events = [{"introduced": "0"}]
    affected: dict[str, Any] = {
        "package": {"ecosystem": "PyPI", "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    if rng.random() < 0.3:
        affected["versions"] = [version]
    return {
        "id": f"GHSA-bench-{i:06d}",
        "modified": "2024-01-01T00:00:00Z",
        "aliases": [f"CVE-2024-{i}"],
        "summary": f"synthetic advisory {i}",
        "affected": [affected],
        "severity": [{"type": "CVSS_V3", "score": rng.choice(VECTORS)}],
    }


def _export(path: Path, rng: random.Random, pairs: list[tuple[str, str]], count: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(count):
            if i % 4 == 0:
                name, version = rng.choice(pairs)
            else:
                name, version = f"unrelated-{i}", "1.0"
            archive.writestr(
                f"GHSA-bench-{i:06d}.json", json.dumps(_advisory(rng, i, name, version))
            )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=13000)
    parser.add_argument("--python-fraction", type=float, default=0.25)
    parser.add_argument("--advisories", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, default=None, help="Work here and keep the files.")
    args = parser.parse_args()
    rng = random.Random(0)
    work = args.keep or Path(tempfile.mkdtemp(prefix="stockyard-scan-bench-"))
    try:
        print(json.dumps(run(work, args, rng), indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    channel = work / "channel"
    python_count = int(args.count * args.python_fraction)
    started = time.perf_counter()
    synthesize_channel(channel, args.count - python_count, seed=0, processes=2)
    pairs = _pool(rng, channel, 400)
    for i in range(python_count):
        _python_artifact(channel, i, rng.sample(pairs, rng.randint(1, 4)))
    export = _export(work / "all.zip", rng, pairs, args.advisories)
    setup = time.perf_counter() - started
    store = ScanStore(work / "scan.db")
    refs = channel_dir_artifacts(channel)
    cold = scan_artifacts(store, refs, workers=args.workers)
    again = scan_artifacts(store, refs, workers=args.workers)
    first = update_database(store, export)
    second = update_database(store, export)
    store.close()
    return {
        "artifacts": len(refs),
        "python_artifacts": python_count,
        "advisories": args.advisories,
        "workers": args.workers,
        "setup_seconds": round(setup, 1),
        "cold_scan": {
            "seconds": round(cold.seconds, 2),
            "artifacts_per_second": round(len(refs) / cold.seconds, 1),
            "components": cold.components,
            "errors": len(cold.errors),
        },
        "again_seconds": round(again.seconds, 3),
        "db_update": {
            "load_seconds": first.load_seconds,
            "documents_per_second": round(first.documents / first.load_seconds, 1),
            "rematch_seconds": first.rematch_seconds,
            "findings": first.findings,
        },
        "rematch_after_update_seconds": second.rematch_seconds,
        "scan_db_bytes": (work / "scan.db").stat().st_size,
        "peers": {"syft": shutil.which("syft"), "trivy": shutil.which("trivy")},
    }


if __name__ == "__main__":
    main()
