"""Stockyard indexes every artifact rattler-index indexes (issue 7 §2): one artifact per record of
every real repodata file in tests/data, plus the legacy shapes real channels carry (upper-case
versions, a boolean noarch, track_features as a list, timestamps in seconds...)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from rattler.index import index_fs

from stockyard.index.run import IndexOptions, index_channel
from stockyard.testing.corpus import load_shared_records, synthesize_records

from ..index.test_admission import LEGACY, QUIET, artifact

pytestmark = pytest.mark.integration


def _published(channel: Path) -> set[str]:
    """`<subdir>/<filename>` of every record in the channel's repodata.json files."""
    out: set[str] = set()
    for subdir_dir in channel.iterdir():
        path = subdir_dir / "repodata.json"
        if path.is_file():
            document = json.loads(path.read_bytes())
            for key in ("packages", "packages.conda"):
                out |= {f"{subdir_dir.name}/{fn}" for fn in document.get(key, {})}
    return out


def test_stockyard_indexes_every_artifact_rattler_index_indexes(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    records = load_shared_records()
    written = synthesize_records(ours, records, seed=1, processes=2)
    legacy = [artifact(ours, i, subdir=i.get("subdir", "linux-64")) for i, _ in LEGACY.values()]
    written += legacy
    for index in QUIET.values():
        written.append(artifact(ours, index, fmt="tar.bz2"))
    theirs = tmp_path / "theirs"
    shutil.copytree(ours, theirs, copy_function=os.link)  # neither indexer changes artifacts

    result = index_channel(ours, IndexOptions(workers=2))
    asyncio.run(index_fs(theirs, write_shards=False))
    our_files, their_files = _published(ours), _published(theirs)

    assert len(written) == len(records) + len(LEGACY) + len(QUIET)  # no duplicate in the data
    assert their_files - our_files == set()
    # Both index them all: nothing in the real data is refused by either.
    assert our_files == their_files == {f"{p.parent.name}/{p.name}" for p in written}
    assert result.skipped == []
    # The real records are clean; each legacy shape is published with its warning.
    assert sorted(Path(w.path).name for w in result.warnings) == sorted(p.name for p in legacy)
