"""Our index against the peer: records equal rattler-index's; py-rattler solves the same
environments from our monolithic repodata and from our shards, served over HTTP."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import rattler
from rattler.index import index_fs

from stockyard.index.run import index_channel

from ..index.conftest import build_artifact

pytestmark = pytest.mark.integration

#: Record keys rattler-index knows; it drops every other index.json key, we keep them all
#: (conda-index does too). See docs/specs/repodata.md, "Differences from rattler-index".
RATTLER_KEYS = {
    "arch", "build", "build_number", "constrains", "depends", "features", "license",
    "license_family", "md5", "name", "noarch", "platform", "sha256", "size", "subdir",
    "timestamp", "track_features", "version", "python_site_packages_path", "run_exports",
    "indexed_timestamp", "legacy_bz2_md5", "legacy_bz2_size", "purls", "extra_depends",
}  # fmt: skip


def _explained(filename: str, key: str, ours: object, theirs: object) -> bool:
    """Whether a difference is one of the documented ones."""
    if key == "indexed_timestamp":
        return True  # the time each tool first saw the file
    if key in {"depends", "constrains"} and isinstance(ours, list) and isinstance(theirs, list):
        # rattler rewrites specs ("python 3.4*" -> "python 3.4.*"); we publish them verbatim.
        return [str(rattler.MatchSpec(s)) for s in ours] == theirs
    if key not in RATTLER_KEYS and theirs is None:
        return True  # unknown index.json keys (e.g. `date`) are kept by us, dropped by rattler
    # rattler-index 0.28 does not read info/run_exports.json from .tar.bz2 artifacts.
    return key == "run_exports" and filename.endswith(".tar.bz2") and theirs is None


def _small_channel(root: Path) -> Path:
    build_artifact(
        root, "noarch", "app", depends=["lib >=1.1", "tool"], run_exports={"weak": ["app"]}
    )
    build_artifact(
        root, "linux-64", "lib", "1.0", fmt="tar.bz2", extra_index={"constrains": ["z <2"]}
    )
    build_artifact(root, "linux-64", "lib", "1.2", "h1_0", depends=["zlib"])
    build_artifact(root, "linux-64", "zlib", "1.3")
    build_artifact(root, "noarch", "tool", "2.0", fmt="tar.bz2")
    return root


@pytest.mark.parametrize("kind", ["small", "synthesized"])
def test_records_equal_rattler_index(tmp_path: Path, kind: str) -> None:
    ours = tmp_path / "ours"
    if kind == "small":
        _small_channel(ours)
    else:
        from stockyard.testing.corpus import synthesize_channel

        synthesize_channel(ours, 400, bz2_fraction=0.2, seed=3, processes=1)
    theirs = tmp_path / "theirs"
    shutil.copytree(ours, theirs)
    result = index_channel(ours)
    assert not result.skipped
    asyncio.run(index_fs(theirs, write_shards=True))
    compared = 0
    for subdir_dir in sorted(p for p in theirs.iterdir() if (p / "repodata.json").exists()):
        subdir = subdir_dir.name
        our_repodata = json.loads((ours / subdir / "repodata.json").read_bytes())
        their_repodata = json.loads((subdir_dir / "repodata.json").read_bytes())
        for key in ("packages", "packages.conda"):
            assert set(our_repodata[key]) == set(their_repodata[key]), (subdir, key)
            for filename, theirs_record in their_repodata[key].items():
                ours_record = our_repodata[key][filename]
                unexplained = {
                    k
                    for k in set(ours_record) | set(theirs_record)
                    if ours_record.get(k) != theirs_record.get(k)
                    and not _explained(filename, k, ours_record.get(k), theirs_record.get(k))
                }
                assert not unexplained, (filename, unexplained)
                compared += 1
    assert compared >= (5 if kind == "small" else 400)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The channel directory served as plain files over HTTP on 127.0.0.1."""
    channel = tmp_path / "channel"
    channel.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(channel))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", channel
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _solve(url: str, specs: list[str], *, sharded: bool, cache: Path) -> list[str]:
    gateway = rattler.Gateway(
        cache_dir=cache,
        default_config=rattler.SourceConfig(sharded_enabled=sharded, cache_action="no-cache"),
    )
    records = asyncio.run(
        rattler.solve(
            [rattler.Channel(url)],
            specs,
            gateway=gateway,
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
    )
    return sorted(str(r.file_name) for r in records)


def test_rattler_solves_same_from_monolithic_and_shards(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, channel = served
    _small_channel(channel)
    index_channel(channel)
    for specs in (["app"], ["lib <1.1"], ["zlib", "tool"]):
        monolithic = _solve(url, specs, sharded=False, cache=tmp_path / "c1")
        sharded = _solve(url, specs, sharded=True, cache=tmp_path / "c2")
        assert monolithic == sharded
        assert monolithic, specs
    assert _solve(url, ["app"], sharded=True, cache=tmp_path / "c3") == [
        "app-1.0-0.conda",
        "lib-1.2-h1_0.conda",
        "tool-2.0-0.tar.bz2",
        "zlib-1.3-0.conda",
    ]
