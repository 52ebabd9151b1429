"""What the published files of a channel must hold, one CEP requirement per test.

Each docstring names the CEP and section it holds; the channels are built from real artifacts
(`tests.index.conftest.build_artifact`) and published by `index_channel`, the one way in.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import rattler
import zstandard

from stockyard.index.run import IndexOptions, index_channel
from stockyard.publish.monolithic import compress_zstd
from stockyard.publish.subdir import PublishOptions
from stockyard.storage.local import LocalStore
from stockyard.types.repodata import Repodata, RunExportsDocument, Shard, ShardIndex
from stockyard.validate.service import validate_document
from tests.index.conftest import build_artifact

SUBDIR = "linux-64"
#: CEP 43 (`when`), CEP 44 (`extras`, `extra_depends`) and CEP 45 (`flags`) syntax.
CONDITIONAL = 'libfoo[version=">=2",when="__unix"]'


def _json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _unzst(path: Path) -> bytes:
    return zstandard.ZstdDecompressor().decompress(path.read_bytes())


def _shard(channel: Path, name: str, subdir: str = SUBDIR) -> dict[str, Any]:
    index = msgspec.msgpack.decode(_unzst(channel / subdir / "repodata_shards.msgpack.zst"))
    msgspec.convert(index, ShardIndex)
    digest = index["shards"][name].hex()
    path = channel / subdir / "shards" / f"{digest}.msgpack.zst"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    shard = msgspec.msgpack.decode(_unzst(path))
    msgspec.convert(shard, Shard)
    return dict(shard)


def _clock(stamp: int) -> Any:
    """A fixed `indexed_timestamp` clock (ms)."""
    return lambda: stamp


def _patches(tmp_path: Path, subdir_instructions: dict[str, Any]) -> str:
    path = tmp_path / "patch_instructions.json"
    path.write_text(json.dumps({SUBDIR: {"patch_instructions_version": 2, **subdir_instructions}}))
    return str(path)


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    path = tmp_path / "chan"
    (path / "noarch").mkdir(parents=True)
    return path


# --- CEP 21 / CEP 12: patched run_exports ----------------------------------------------------


def test_patched_run_exports_reach_shards_and_run_exports_json(
    channel: Path, tmp_path: Path
) -> None:
    """CEP 21 §Patching: a `patch_instructions_version: 2` patch's `run_exports` MUST be used
    for the generated run_exports.json, and shards carry the patched record's run_exports
    (repodata.json, the shards and run_exports.json agree). Artifacts no patch touches keep
    their own run_exports (CEP 12 §Specification)."""
    for fmt in ("tar.bz2", "conda"):
        build_artifact(channel, SUBDIR, "pkg", fmt=fmt, run_exports={"weak": ["pkg >=1.0"]})
    build_artifact(channel, SUBDIR, "other", run_exports={"strong": ["other"]})
    patched = {"weak": ["pkg >=1.0,<2"], "strong_constrains": ["pkg-base >=1"]}
    source = _patches(tmp_path, {"packages": {"pkg-1.0-0.tar.bz2": {"run_exports": patched}}})
    index_channel(channel, IndexOptions(patch_source=source))

    repodata = _json(channel / SUBDIR / "repodata.json")
    exports = _json(channel / SUBDIR / "run_exports.json")
    msgspec.convert(exports, RunExportsDocument)
    shard = _shard(channel, "pkg")
    for key, filename in (("packages", "pkg-1.0-0.tar.bz2"), ("packages.conda", "pkg-1.0-0.conda")):
        merged = {"weak": ["pkg >=1.0,<2"], "strong_constrains": ["pkg-base >=1"]}
        assert repodata[key][filename]["run_exports"] == merged
        assert shard[key][filename]["run_exports"] == merged
        assert exports[key][filename] == {"run_exports": merged}
    assert exports["packages.conda"]["other-1.0-0.conda"] == {"run_exports": {"strong": ["other"]}}
    assert _shard(channel, "other")["packages.conda"]["other-1.0-0.conda"]["run_exports"] == {
        "strong": ["other"]
    }
    # The unpatched document still says what the artifact says.
    raw = _json(channel / SUBDIR / "repodata_from_packages.json")
    assert raw["packages"]["pkg-1.0-0.tar.bz2"]["run_exports"] == {"weak": ["pkg >=1.0"]}


def test_patch_deleting_run_exports_publishes_empty_entry(channel: Path, tmp_path: Path) -> None:
    """CEP 21 §Patching with CEP 12 §Specification: a patch that deletes `run_exports`
    (`null`) leaves repodata.json without them, and run_exports.json and the shard then hold the
    empty item CEP 12 prescribes for a package without run_exports (`{}`)."""
    build_artifact(channel, SUBDIR, "pkg", run_exports={"weak": ["pkg >=1.0"]})
    source = _patches(tmp_path, {"packages.conda": {"pkg-1.0-0.conda": {"run_exports": None}}})
    index_channel(channel, IndexOptions(patch_source=source))
    repodata = _json(channel / SUBDIR / "repodata.json")
    assert "run_exports" not in repodata["packages.conda"]["pkg-1.0-0.conda"]
    exports = _json(channel / SUBDIR / "run_exports.json")
    assert exports["packages.conda"]["pkg-1.0-0.conda"] == {"run_exports": {}}
    assert _shard(channel, "pkg")["packages.conda"]["pkg-1.0-0.conda"]["run_exports"] == {}


# --- CEP 48: repodata revisions and `v3` -----------------------------------------------------


def _v3_channel(channel: Path) -> IndexOptions:
    """A plain package, a conditional dependency (CEP 43), extras (CEP 44: both a spec and an
    `extra_depends` field) and flags (CEP 45), indexed at distinct times."""
    build_artifact(channel, SUBDIR, "plain", depends=["python >=3.8"])
    index_channel(channel, IndexOptions(clock=_clock(1_000)))
    build_artifact(channel, SUBDIR, "cond", depends=["python >=3.8", CONDITIONAL])
    build_artifact(
        channel,
        SUBDIR,
        "extra",
        fmt="tar.bz2",
        depends=["zlib"],
        extra_index={"extra_depends": {"test": ["pytest >=8", "hypothesis"]}},
    )
    index_channel(channel, IndexOptions(clock=_clock(2_000)))
    build_artifact(channel, SUBDIR, "flagged", depends=["blas[flags=[mkl]]"])
    options = IndexOptions(publish=PublishOptions(current_repodata=True), clock=_clock(3_000))
    index_channel(channel, options)
    return options


def test_new_syntax_records_are_kept_out_of_packages(channel: Path) -> None:
    """CEP 43 §Backwards compatibility: repodata.json and its derivatives (the sharded forms)
    MUST NOT list records with the new MatchSpec syntax where older clients read;
    CEP 48 §The `v3` top-level key: they go under `v3`, keyed by extension (without the dot)
    and filename without extension. Holds for repodata.json, repodata_from_packages.json,
    current_repodata.json and the shards."""
    _v3_channel(channel)
    for name in ("repodata.json", "repodata_from_packages.json", "current_repodata.json"):
        document = _json(channel / SUBDIR / name)
        msgspec.convert(document, Repodata)
        assert list(document["packages.conda"]) == ["plain-1.0-0.conda"], name
        assert document["packages"] == {}, name
        assert sorted(document["v3"]) == ["conda", "tar.bz2"], name
        assert sorted(document["v3"]["conda"]) == ["cond-1.0-0", "flagged-1.0-0"], name
        assert list(document["v3"]["tar.bz2"]) == ["extra-1.0-0"], name
        assert document["v3"]["tar.bz2"]["extra-1.0-0"]["extra_depends"] == {
            "test": ['pytest[version=">=8"]', "hypothesis"]
        }
    assert _shard(channel, "plain")["packages.conda"]
    cond = _shard(channel, "cond")
    assert cond["packages.conda"] == {} and list(cond["v3"]["conda"]) == ["cond-1.0-0"]
    record = cond["v3"]["conda"]["cond-1.0-0"]
    assert isinstance(record["sha256"], bytes) and record["run_exports"] == {}
    report = validate_document(cond, "shard", source="cond shard")
    assert report.valid, report.problems
    assert list(_shard(channel, "extra")["v3"]["tar.bz2"]) == ["extra-1.0-0"]


def test_repodata_revisions_announce_v3(channel: Path) -> None:
    """CEP 48 §The `info.repodata_revisions` key: each key names a `vN` top-level key;
    `n_packages` MUST match the records under it, `oldest` / `newest` MUST match the oldest /
    newest `indexed_timestamp` among them; `info.repodata_version` MUST be 1 (or 2 with CEP 15).
    CEP 48 §The `v3` top-level key: `indexed_timestamp` SHOULD be set on `v3` records."""
    _v3_channel(channel)
    for name in ("repodata.json", "repodata_from_packages.json", "current_repodata.json"):
        document = _json(channel / SUBDIR / name)
        revisions = document["info"]["repodata_revisions"]
        assert revisions == {"v3": {"n_packages": 3, "oldest": 2_000, "newest": 3_000}}, name
        stamps = [r["indexed_timestamp"] for b in document["v3"].values() for r in b.values()]
        assert sorted(stamps) == [2_000, 2_000, 3_000]
        assert document["repodata_version"] == 1
        report = validate_document(document, "repodata", source=name)
        assert report.valid, report.problems


def test_revision_keys_are_v3_and_up() -> None:
    """CEP 48 §The `info.repodata_revisions` key: each key MUST be `vN` with N 3 or a larger
    integer (the model, hence `stockyard validate` and the JSON Schema, holds that)."""
    for key in ("v3", "v9", "v10", "v27", "v100"):
        msgspec.convert({"info": {"repodata_revisions": {key: {}}}}, Repodata)
    for key in ("v2", "v1", "v0", "v03", "3", "v3a", "V3", "v3\n"):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"info": {"repodata_revisions": {key: {}}}}, Repodata)


def test_no_revision_without_v3_records(channel: Path) -> None:
    """CEP 48 §The `info.repodata_revisions` key: each key MUST correspond to a top-level
    `vN` key; a channel without new-syntax records publishes neither (and its bytes stay what
    older indexers wrote)."""
    build_artifact(channel, SUBDIR, "plain", depends=["python >=3.8"])
    index_channel(channel)
    document = _json(channel / SUBDIR / "repodata.json")
    assert "v3" not in document and "repodata_revisions" not in document["info"]
    assert "v3" not in _shard(channel, "plain")


def test_v3_matchspecs_use_the_bracket_form(channel: Path) -> None:
    """CEP 48 §The `v3` top-level key: MatchSpecs of `v3` records use an exact name, are the
    bare name when only the name is set, and otherwise `name[...]` with only `version`,
    `build`, `build_number`, `when`, `extras`, `flags`. The rewrite keeps the meaning (rattler
    parses both forms to the same spec)."""
    depends = ["python >=3.8", "zlib", "libgcc-ng >=12 *_0", 'numpy>=2[when="python>=3.10"]']
    build_artifact(channel, SUBDIR, "cond", depends=depends, extra_index={"constrains": ["a <2"]})
    index_channel(channel)
    record = _json(channel / SUBDIR / "repodata.json")["v3"]["conda"]["cond-1.0-0"]
    assert record["depends"] == [
        'python[version=">=3.8"]',
        "zlib",
        'libgcc-ng[version=">=12",build="*_0"]',
        'numpy[version=">=2",when="python>=3.10"]',
    ]
    assert record["constrains"] == ['a[version="<2"]']
    for before, after in zip(depends, record["depends"], strict=True):
        assert str(rattler.MatchSpec(before)) == str(rattler.MatchSpec(after))


def test_patch_that_adds_a_condition_moves_the_record_in_repodata_json_only(
    channel: Path, tmp_path: Path
) -> None:
    """CEP 43 §Backwards compatibility and CEP 48 §The `v3` top-level key, for patched
    records: a patch that adds a conditional dependency moves the record under `v3` in
    repodata.json (and the shard), while repodata_from_packages.json keeps the artifact's
    record where it was."""
    build_artifact(channel, SUBDIR, "pkg")
    depends = {"depends": [CONDITIONAL]}
    source = _patches(tmp_path, {"packages.conda": {"pkg-1.0-0.conda": depends}})
    index_channel(channel, IndexOptions(patch_source=source, clock=_clock(5_000)))
    published = _json(channel / SUBDIR / "repodata.json")
    assert published["packages.conda"] == {}
    assert published["v3"]["conda"]["pkg-1.0-0"]["depends"] == [CONDITIONAL]
    assert published["info"]["repodata_revisions"]["v3"] == {
        "n_packages": 1,
        "oldest": 5_000,
        "newest": 5_000,
    }
    raw = _json(channel / SUBDIR / "repodata_from_packages.json")
    assert list(raw["packages.conda"]) == ["pkg-1.0-0.conda"] and "v3" not in raw
    assert "repodata_revisions" not in raw["info"]
    assert list(_shard(channel, "pkg")["v3"]["conda"]) == ["pkg-1.0-0"]


def test_rattler_reads_repodata_with_v3(channel: Path) -> None:
    """CEP 48 §Rationale ("Adding new fields is backwards compatible"): a client parses the
    published repodata.json; py-rattler (0.28) also reads `v3` records (with their extension
    restored) and `info.repodata_revisions`."""
    _v3_channel(channel)
    path = channel / SUBDIR / "repodata.json"
    repodata = rattler.RepoData.from_path(path)
    assert repodata.repodata_revisions["v3"]["n_packages"] == 3
    records = repodata.into_repo_data(rattler.Channel(channel.as_uri()))
    assert sorted(r.file_name for r in records) == [
        "cond-1.0-0.conda",
        "extra-1.0-0.tar.bz2",
        "flagged-1.0-0.conda",
        "plain-1.0-0.conda",
    ]
    sparse = rattler.SparseRepoData(rattler.Channel(channel.as_uri()), SUBDIR, path)
    assert [r.file_name for r in sparse.load_records(rattler.PackageName("cond"))] == [
        "cond-1.0-0.conda"
    ]


# --- CEP 36: compressed variants -------------------------------------------------------------


@pytest.mark.parametrize("patched", [False, True])
def test_every_repodata_file_has_a_zst(channel: Path, tmp_path: Path, patched: bool) -> None:
    """CEP 36 §Repodata variants: channels SHOULD serve compressed versions of every repodata
    file, zstd with the `.zst` extension appended: repodata.json, repodata_from_packages.json,
    current_repodata.json and run_exports.json, at the channel's zstd level."""
    build_artifact(channel, SUBDIR, "pkg", run_exports={"weak": ["pkg"]})
    source = _patches(tmp_path, {"packages.conda": {"pkg-1.0-0.conda": {"license": "BSD"}}})
    publish = PublishOptions(current_repodata=True, zst_level=7)
    index_channel(channel, IndexOptions(publish=publish, patch_source=source if patched else ""))
    for name in (
        "repodata.json",
        "repodata_from_packages.json",
        "current_repodata.json",
        "run_exports.json",
    ):
        plain = channel / SUBDIR / name
        compressed = (channel / SUBDIR / f"{name}.zst").read_bytes()
        assert zstandard.ZstdDecompressor().decompress(compressed) == plain.read_bytes(), name
        expected = io.BytesIO()
        compress_zstd(plain, expected, 7)
        assert compressed == expected.getvalue(), name
    repodata = _json(channel / SUBDIR / "repodata.json")
    assert (repodata["packages.conda"]["pkg-1.0-0.conda"]["license"] == "BSD") is patched


def test_current_repodata_zst_only_with_current_repodata(channel: Path) -> None:
    """CEP 36 §Repodata variants: the `.zst` accompanies a file that is served; no
    current_repodata.json means no current_repodata.json.zst."""
    build_artifact(channel, SUBDIR, "pkg")
    index_channel(channel)
    assert not (channel / SUBDIR / "current_repodata.json").exists()
    assert not (channel / SUBDIR / "current_repodata.json.zst").exists()
    assert (channel / SUBDIR / "repodata_from_packages.json.zst").is_file()


def test_zst_is_written_before_its_json(
    channel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CEP 36 §Repodata variants, as published: a reader that finds a `.json` also finds its
    `.zst` of the same state, so each `.zst` is written before its `.json`."""
    build_artifact(channel, SUBDIR, "pkg", run_exports={"weak": ["pkg"]})
    order: list[str] = []
    for method in ("put", "put_file"):
        original = getattr(LocalStore, method)

        def record(self: LocalStore, key: str, data: Any, _original: Any = original) -> None:
            order.append(key)
            _original(self, key, data)

        monkeypatch.setattr(LocalStore, method, record)
    source = _patches(tmp_path, {"packages.conda": {"pkg-1.0-0.conda": {"license": "BSD"}}})
    publish = PublishOptions(current_repodata=True)
    index_channel(channel, IndexOptions(publish=publish, patch_source=source))
    names = [key.removeprefix(f"{SUBDIR}/") for key in order if key.startswith(f"{SUBDIR}/")]
    for name in (
        "repodata.json",
        "repodata_from_packages.json",
        "current_repodata.json",
        "run_exports.json",
    ):
        assert names.index(f"{name}.zst") < names.index(name), name
