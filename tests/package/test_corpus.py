"""The corpus synthesizer: real records, unique names, the asked-for mix, deterministic."""

from __future__ import annotations

import collections
import json
from pathlib import Path

from stockyard.package import read_artifact
from stockyard.testing.corpus import load_shared_records, synthesize_channel

from ..conftest import MAIN_SAMPLE, SHARED_DATA


def test_load_shared_records_reads_both_shapes(main_sample: dict[str, object]) -> None:
    records = load_shared_records(SHARED_DATA)
    files = {filename for filename, _ in records}
    assert set(main_sample) <= files  # the bare {filename: record} map
    assert "_r-mutex-1.0.0-anacondar_1.tar.bz2" in files  # a repodata document's packages
    assert all(record["subdir"] for _, record in records)
    by_name = dict(records)
    noarch = [fn for fn, rec in main_sample.items() if rec.get("noarch") and not rec.get("subdir")]
    for fn in noarch:
        assert by_name[fn]["subdir"] == "noarch"
    plain = next(
        fn for fn, rec in main_sample.items() if "subdir" not in rec and "noarch" not in rec
    )
    assert by_name[plain]["subdir"] == "linux-64"
    assert MAIN_SAMPLE.exists()


def test_synthesize_channel(tmp_path: Path) -> None:
    count = 500
    paths = synthesize_channel(tmp_path / "a", count, seed=3)
    assert len(paths) == count == len(set(paths))
    assert all(p.exists() for p in paths)
    assert sum(p.name.endswith(".tar.bz2") for p in paths) == count // 5
    assert (tmp_path / "a" / "noarch").is_dir()
    assert {p.parent.name for p in paths} <= {"linux-64", "noarch"}
    for path in paths[::10]:
        meta = read_artifact(path)
        assert meta.index_json["subdir"] == path.parent.name
        assert not {"md5", "sha256", "size", "fn", "url"} & set(meta.index_json)
        assert meta.about and meta.about["summary"]


def test_more_artifacts_than_records_get_distinct_builds(tmp_path: Path) -> None:
    records = {
        f"pkg{i}-1.0-h{i}_0.tar.bz2": {
            "name": f"pkg{i}", "version": "1.0", "build": f"h{i}_0", "build_number": 0,
            "depends": [], "md5": "0" * 32, "size": 1,
        }
        for i in range(10)
    }  # fmt: skip
    (tmp_path / "data" / "repodata").mkdir(parents=True)
    (tmp_path / "data" / "repodata" / "tiny.json").write_text(json.dumps(records))
    paths = synthesize_channel(tmp_path / "out", 35, data_dir=tmp_path / "data", processes=1)
    assert len({p.name for p in paths}) == 35
    builds = collections.Counter(read_artifact(p).index_json["build_number"] for p in paths)
    assert builds == {0: 10, 1: 10, 2: 10, 3: 5}
    assert all(p.parent.name == "linux-64" for p in paths)


def test_synthesis_is_deterministic(tmp_path: Path) -> None:
    first = synthesize_channel(tmp_path / "a", 300, seed=5, processes=2)
    second = synthesize_channel(tmp_path / "b", 300, seed=5, processes=1)
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    other = synthesize_channel(tmp_path / "c", 300, seed=6, processes=1)
    assert [p.name for p in other] != [p.name for p in first]
    assert json.loads(json.dumps([str(p) for p in other]))
