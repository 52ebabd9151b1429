"""Admission on every way in (issue 7 §1, §2, §7; issue 14 §5, §9).

`stockyard index` indexes every artifact conda and rattler read: legacy shapes are published as
the package says and reported as warnings (`--json`: a `warnings` list per file). What clients
cannot parse is skipped with the reason (index) or refused before anything is stored (uploads),
and one bad artifact never makes its subdir unpublishable. A strict channel refuses uploads with
warnings. Whatever is published parses in rattler (monolithic, sparse and sharded).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
import rattler
import zstandard

from stockyard.catalog import Catalog, sqlite_url
from stockyard.cli.main import main
from stockyard.index.run import index_channel
from stockyard.index.upload import UploadResult, ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.package.create import write_artifact
from stockyard.storage import LocalStore
from stockyard.types.errors import InvalidArtifact, InvalidIdentifier
from stockyard.types.policy import ChannelPolicy
from stockyard.validate import validate_path

NOW = 1_800_000_000_000


def _clock() -> int:
    return NOW


def index_json(name: str, version: str = "1.0", build: str = "0", **extra: Any) -> dict[str, Any]:
    index: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": [],
        "license": "MIT",
        "subdir": "linux-64",
        "timestamp": 1_700_000_000_000,
    }
    index.update(extra)
    return {k: v for k, v in index.items() if v is not DROP}


DROP = object()


def artifact(
    root: Path,
    index: dict[str, Any] | bytes,
    *,
    subdir: str = "linux-64",
    fmt: str = "conda",
    about: bytes | None = None,
    stem: str | None = None,
) -> Path:
    """An artifact whose info/index.json is exactly `index` (dict: JSON-encoded; bytes: as is,
    named `stem`)."""
    if isinstance(index, bytes):
        assert stem is not None
        raw = index
    else:
        raw = json.dumps(index).encode()
        stem = f"{index['name']}-{index['version']}-{index['build']}"
    payload = f"{stem}\n".encode()
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": f"share/{stem}.txt",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
    }
    members = {
        "info/index.json": raw,
        "info/paths.json": json.dumps(paths).encode(),
        "info/about.json": about if about is not None else b'{"summary": "s"}',
        f"share/{stem}.txt": payload,
    }
    target = root / subdir / f"{stem}.{fmt}"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(target, members, fsync=False)
    return target


#: Legacy shapes real channels carry (conda's own record model reads each): published verbatim.
LEGACY: dict[str, tuple[dict[str, Any], str]] = {
    "erlang-R15B01-0": (index_json("erlang", "R15B01"), "/version"),
    "gdal-Release_2017_09-0": (index_json("gdal", "Release_2017_09"), "/version"),
    "jq-04Sep15.e78-0": (index_json("jq", "04Sep15.e78"), "/version"),
    "jar-4.1_21Jan17.6cc.jar-0": (index_json("jar", "4.1_21Jan17.6cc.jar"), "/version"),
    "esmf-ESMF_6_3_0rp1_ESMP_01-0": (index_json("esmf", "ESMF_6_3_0rp1_ESMP_01"), "/version"),
    "oldnoarch-1.0-0": (
        index_json("oldnoarch", noarch=True, subdir="noarch"),
        "/noarch",
    ),
    "tflist-1.0-0": (index_json("tflist", track_features=["mkl", "debug"]), "/track_features"),
    "seconds-1.0-0": (index_json("seconds", timestamp=1_400_000_000), "/timestamp"),
    "future-1.0-0": (index_json("future", timestamp=NOW + 86_400_000), "/timestamp"),
    "family-1.0-0": (index_json("family", license_family="GPLv3+"), "/license_family"),
    "nosubdir-1.0-0": (index_json("nosubdir", subdir=DROP), "/subdir"),
}

#: Legacy shapes that are no deviation at all: published verbatim, without a warning.
QUIET: dict[str, dict[str, Any]] = {
    "tfstring-1.0-0": index_json("tfstring", track_features="mkl debug", features="nomkl"),
    "archplat-1.0-0": index_json("archplat", arch="x86_64", platform="linux"),
    "archnull-1.0-0": index_json("archnull", arch=None, platform=None, license=None),
    "nodepends-1.0-0": index_json("nodepends", depends=DROP),
    "unknowns-1.0-0": index_json(
        "unknowns", date="2017-01-01", binstar={"channel": "main"}, app_entry="x", namespace="py"
    ),
    "apache-1.0-0": index_json("apache", license_family="Apache"),
}

#: Hostile or broken metadata: cannot be published in a form clients parse.
HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "legacymd5-1.0-0": (index_json("legacymd5", legacy_bz2_md5="not-hex"), "/legacy_bz2_md5"),
    "bigint-1.0-0": (index_json("bigint", blob=2**64 + 5), "/blob"),
    "legacysize-1.0-0": (index_json("legacysize", legacy_bz2_size="abc"), "/legacy_bz2_size"),
    "garbagere-1.0-0": (index_json("garbagere", run_exports="garbage"), "/run_exports"),
    "extradeps-1.0-0": (index_json("extradeps", extra_depends=5), "/extra_depends"),
    "purls-1.0-0": (index_json("purls", purls={"a": 1}), "/purls"),
    "floatts-1.0-0": (index_json("floatts", timestamp=1.5e12), "/timestamp"),
    "noarchcap-1.0-0": (index_json("noarchcap", noarch="Python"), "/noarch"),
    "featlist-1.0-0": (index_json("featlist", features=["mkl"]), "/features"),
    "badversion-1..2-0": (index_json("badversion", "1..2"), "/version"),
    "huge-1.0-0": (index_json("huge", notes="x" * (70 << 10)), "(root)"),
}


def _channel(root: Path) -> Path:
    for index, _ in LEGACY.values():
        artifact(root, index, subdir=index.get("subdir", "linux-64"))
    for index in QUIET.values():
        artifact(root, index, fmt="tar.bz2")
    for index, _ in HOSTILE.values():
        artifact(root, index)
    artifact(root, index_json("good"))
    (root / "noarch").mkdir(exist_ok=True)
    return root


def _rattler_reads_everything(root: Path) -> int:
    """Every published subdir parses in rattler, monolithic and sparse; shards decode and hold
    the same filenames. Returns the number of records."""
    count = 0
    for subdir_dir in sorted(p for p in root.iterdir() if (p / "repodata.json").exists()):
        subdir = subdir_dir.name
        channel = rattler.Channel("test")
        records = rattler.RepoData.from_path(subdir_dir / "repodata.json").into_repo_data(channel)
        sparse = rattler.SparseRepoData(channel, subdir, subdir_dir / "repodata.json")
        assert len(sparse.load_all_records()) == len(records)
        monolithic = json.loads((subdir_dir / "repodata.json").read_bytes())
        names = {*monolithic["packages"], *monolithic["packages.conda"]}
        in_shards: set[str] = set()
        for shard in (subdir_dir / "shards").glob("*.msgpack.zst"):
            data = msgspec.msgpack.decode(
                zstandard.ZstdDecompressor().decompress(shard.read_bytes())
            )
            in_shards |= {*data["packages"], *data["packages.conda"]}
        assert in_shards == names
        report = validate_path(subdir_dir / "repodata.json")
        assert report.valid, report.problems[:3]
        count += len(records)
    return count


def test_index_publishes_legacy_shapes_skips_hostile_ones(tmp_path: Path) -> None:
    root = _channel(tmp_path / "chan")
    result = index_channel(root)
    skipped = {
        Path(s.path).name.rsplit(".", 1)[0].removesuffix(".tar"): s.reason for s in result.skipped
    }
    assert set(skipped) == set(HOSTILE)
    for stem, (_, pointer) in HOSTILE.items():
        assert f"{pointer}: " in skipped[stem], (stem, skipped[stem])
    warned = {
        Path(w.path).name.rsplit(".", 1)[0]: [p.pointer for p in w.warnings]
        for w in result.warnings
    }
    assert warned == {stem: [pointer] for stem, (_, pointer) in LEGACY.items()}
    linux = json.loads((root / "linux-64" / "repodata.json").read_bytes())
    noarch = json.loads((root / "noarch" / "repodata.json").read_bytes())
    published = {**linux["packages"], **linux["packages.conda"], **noarch["packages.conda"]}
    assert {fn.rsplit(".", 1)[0].removesuffix(".tar") for fn in published} == {
        *LEGACY,
        *QUIET,
        "good-1.0-0",
    }
    # Verbatim, as the package says (conda-index publishes index.json as it is).
    assert noarch["packages.conda"]["oldnoarch-1.0-0.conda"]["noarch"] is True
    assert linux["packages.conda"]["erlang-R15B01-0.conda"]["version"] == "R15B01"
    assert linux["packages.conda"]["tflist-1.0-0.conda"]["track_features"] == ["mkl", "debug"]
    assert linux["packages.conda"]["seconds-1.0-0.conda"]["timestamp"] == 1_400_000_000
    assert linux["packages"]["unknowns-1.0-0.tar.bz2"]["binstar"] == {"channel": "main"}
    assert linux["packages"]["nodepends-1.0-0.tar.bz2"]["depends"] == []
    assert linux["packages.conda"]["nosubdir-1.0-0.conda"]["subdir"] == "linux-64"
    assert _rattler_reads_everything(root) == len(published)


def test_index_json_output_lists_warnings_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "chan"
    artifact(root, index_json("oldnoarch", noarch=True, subdir="noarch"), subdir="noarch")
    artifact(root, index_json("legacymd5", legacy_bz2_md5="not-hex"))
    assert main(["index", "--json", str(root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == 1
    (warned,) = out["warnings"]
    assert warned["path"].endswith("noarch/oldnoarch-1.0-0.conda")
    assert [w["pointer"] for w in warned["warnings"]] == ["/noarch"]
    assert "boolean true" in warned["warnings"][0]["message"]
    (skipped,) = out["skipped"]
    assert skipped["path"].endswith("legacymd5-1.0-0.conda")
    assert "/legacy_bz2_md5" in skipped["reason"]


def test_a_skipped_artifact_is_read_again_and_published_once_fixed(tmp_path: Path) -> None:
    root = tmp_path / "chan"
    bad = artifact(root, index_json("pkg", legacy_bz2_md5="not-hex"))
    assert len(index_channel(root).skipped) == 1
    assert len(index_channel(root).skipped) == 1  # no scan signature: reported again
    bad.unlink()
    artifact(root, index_json("pkg"))
    result = index_channel(root)
    assert (result.added, result.skipped) == (1, [])


def test_subdir_with_a_newline_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "chan"
    artifact(root, index_json("nl", subdir="linux-64\n"))
    result = index_channel(root)
    assert len(result.skipped) == 1
    assert not any("\n" in p.name for p in root.rglob("*"))


# --- uploads --------------------------------------------------------------------------------------


@pytest.fixture
def upload_setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "channel"
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    channel = catalog.create_channel("main")
    yield catalog, channel, root, tmp_path
    catalog.close()


def _spooled(tmp: Path, path: Path) -> Path:
    spool = tmp / "spool" / f"{path.name}.part"
    spool.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, spool)
    return spool


def _ingest(setup: Any, paths: list[Path]) -> list[UploadResult | Exception]:
    catalog, channel, root, tmp = setup
    uploads = [validate_upload(p.name, _spooled(tmp, p), subdir=p.parent.name) for p in paths]
    return list(
        ingest_uploads(
            catalog,
            LocalStore(root),
            channel,
            uploads,
            workspace=ChannelWorkspace(root),
            lock_timeout=5,
            clock=_clock,
        )
    )


def test_upload_result_carries_the_warnings(upload_setup: Any) -> None:
    built = upload_setup[3] / "built"
    legacy = artifact(built, index_json("oldnoarch", noarch=True, subdir="noarch"), subdir="noarch")
    upper = artifact(built, index_json("erlang", "R15B01"))
    future = artifact(built, index_json("future", timestamp=NOW + 60_000))
    plain = artifact(built, index_json("plain"))
    outcomes = _ingest(upload_setup, [legacy, upper, future, plain])
    assert all(isinstance(o, UploadResult) for o in outcomes)
    warnings = [o.warnings for o in outcomes]  # type: ignore[union-attr]
    assert [[w.pointer for w in found] for found in warnings] == [
        ["/noarch"],
        ["/version"],
        ["/timestamp"],
        [],
    ]
    assert "in the future (CEP 47)" in warnings[2][0].message
    root = upload_setup[2]
    noarch = json.loads((root / "noarch" / "repodata.json").read_bytes())
    assert noarch["packages.conda"]["oldnoarch-1.0-0.conda"]["noarch"] is True
    linux = json.loads((root / "linux-64" / "repodata.json").read_bytes())
    assert linux["packages.conda"]["future-1.0-0.conda"]["indexed_timestamp"] == NOW
    assert _rattler_reads_everything(root) == 4


def test_strict_channel_refuses_uploads_with_warnings(upload_setup: Any) -> None:
    catalog, channel, root, tmp = upload_setup
    catalog.set_channel_policy(channel.id, ChannelPolicy(strict=True))
    legacy = artifact(
        tmp / "built", index_json("oldnoarch", noarch=True, subdir="noarch"), subdir="noarch"
    )
    seconds = artifact(tmp / "built", index_json("seconds", timestamp=1_400_000_000))
    plain = artifact(tmp / "built", index_json("plain"))
    refused_noarch, refused_seconds, accepted = _ingest(upload_setup, [legacy, seconds, plain])
    assert isinstance(refused_noarch, InvalidArtifact)
    assert "strict" in refused_noarch.message and "/noarch: " in refused_noarch.message
    assert isinstance(refused_seconds, InvalidArtifact)
    assert "/timestamp: timestamp 1400000000 looks like seconds" in refused_seconds.message
    assert isinstance(accepted, UploadResult) and accepted.warnings == []
    stored = sorted(p.name for p in root.rglob("*.conda"))
    assert stored == ["plain-1.0-0.conda"]


@pytest.mark.parametrize("stem", sorted(HOSTILE))
def test_hostile_uploads_are_refused_before_anything_is_stored(
    upload_setup: Any, stem: str
) -> None:
    catalog, channel, root, tmp = upload_setup
    index, pointer = HOSTILE[stem]
    path = artifact(tmp / "built", index)
    spooled = _spooled(tmp, path)
    with pytest.raises(InvalidArtifact, match="cannot be published") as info:
        validate_upload(path.name, spooled)
    assert f"{pointer}: " in info.value.message
    assert not spooled.exists()
    assert not root.exists()
    assert catalog.file_states(channel.id, "linux-64") == {}


def test_upload_with_a_newline_in_the_subdir_is_refused(upload_setup: Any) -> None:
    tmp = upload_setup[3]
    path = artifact(tmp / "built", index_json("nl", subdir="linux-64\n"))
    with pytest.raises(InvalidIdentifier, match="subdir"):
        validate_upload(path.name, _spooled(tmp, path))
    with pytest.raises(InvalidArtifact, match="subdir"):
        validate_upload(path.name, _spooled(tmp, path), subdir="linux-64")


@pytest.mark.parametrize("member", ["index", "about"])
def test_deeply_nested_json_is_a_clear_refusal(upload_setup: Any, member: str) -> None:
    tmp = upload_setup[3]
    nested = b"[" * 1000 + b"]" * 1000
    if member == "index":
        raw = json.dumps(index_json("deep", extra="X")).encode().replace(b'"X"', nested)
        path = artifact(tmp / "built", raw, stem="deep-1.0-0")
    else:
        path = artifact(tmp / "built", index_json("deep"), about=b'{"extra": ' + nested + b"}")
    with pytest.raises(InvalidArtifact, match="nested more than 32 levels deep"):
        validate_upload(path.name, _spooled(tmp, path))
